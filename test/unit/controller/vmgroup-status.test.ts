import { describe, expect, it } from "vitest";
import { groupStatus } from "../../../controller/reconcilers/vmgroup/vmgroup-controller.js";
import { group, instance } from "./fixtures.js";

describe("groupStatus: occupancy and overlaps", () => {
  it("counts the addresses VMs hold, gateway excluded", () => {
    const lab1 = group("lab1", "192.168.100.2-192.168.100.254");
    const held = [instance("doraz", "myvm", {}, { network: { vmGroup: "lab1", ip: "192.168.100.2" } }), instance("alex", "vm", {}, { network: { vmGroup: "other", ip: "10.0.0.2" } })];
    const { status, ready } = groupStatus(lab1, [lab1], held);
    expect(status).toMatchObject({ size: 253, allocated: 1, free: 252 });
    expect(ready.ok).toBe(true);
  });

  it("marks both overlapping groups not ready and names the other", () => {
    const lab1 = group("lab1", "192.168.100.2-192.168.100.254");
    const lab2 = group("lab2", "192.168.100.0/24");
    for (const [me, other] of [[lab1, "lab2"], [lab2, "lab1"]] as const) {
      const { ready } = groupStatus(me, [lab1, lab2], []);
      expect(ready.ok).toBe(false);
      expect(ready.message).toContain(other);
    }
  });
});
