import { describe, expect, it } from "vitest";
import { controllerStatusUnchanged } from "../../../controller/reconcilers/vminstance/vminstance-status.js";
import type { VMInstanceStatus } from "../../../controller/api/generated/types.js";

const cond = (type: string, status: "True" | "False" = "True") => ({ type, status, reason: type, message: type, lastTransitionTime: "2026-11-22T04:00:00Z" });
const running: VMInstanceStatus = {
  observedGeneration: 2,
  phase: "Running",
  host: "gvm-h1",
  run: 1,
  job: { id: "7", name: "gvm-u-r1", generation: 2 },
  network: { vmGroup: "lab1", ip: "192.168.100.2", mac: "de:af:de:af:64:02", isolated: true },
  disks: [{ name: "root", path: "/s/u.qcow2", backingPath: "/s/t.qcow2" }],
  conditions: [cond("Authorized"), cond("Scheduled")],
};

describe("controllerStatusUnchanged: a steady state makes no write", () => {
  it("ignores what the node agent owns (vnc, tap, startedAt, Ready)", () => {
    const stored = { ...running, vnc: { endpoint: "10.213.7.11:5901", display: 1 }, startedAt: "2026-11-22T04:01:00Z", network: { ...running.network, tap: "gvt0123" }, conditions: [...running.conditions!, cond("Ready")] };
    expect(controllerStatusUnchanged(stored, running)).toBe(true);
  });

  it.each([
    ["the phase moved", { phase: "Stopping" }],
    ["the host went away", { host: undefined }],
    ["the address was freed", { network: undefined }],
    ["a condition flipped", { conditions: [cond("Authorized", "False"), cond("Scheduled")] }],
    ["a new run started", { run: 2 }],
  ] as const)("writes when %s", (_why, change) => {
    expect(controllerStatusUnchanged(running, { ...running, ...change } as VMInstanceStatus)).toBe(false);
  });

  it("writes the first status", () => expect(controllerStatusUnchanged(undefined, running)).toBe(false));
});
