import { describe, expect, it } from "vitest";
import type { VMGroup, VMInstance, VMTemplate } from "../../../controller/api/generated/types.js";
import { desiredVms, runKey } from "../../../node-agent/agent/desired.js";
import { subnetOf } from "../../../node-agent/agent/subnet.js";
import { tapNameFor } from "../../../node-agent/network/names.js";

const group: VMGroup = {
  apiVersion: "gridvm.io/v1alpha1",
  kind: "VMGroup",
  metadata: { name: "lab1" },
  spec: {
    addresses: "192.168.100.2-192.168.100.254",
    gateway: { ip: "192.168.100.1", mac: "00:15:5d:07:07:8b" },
    bridge: "vbr0",
    dhcp: { mode: "Dnsmasq" },
  },
};
const template: VMTemplate = {
  apiVersion: "gridvm.io/v1alpha1",
  kind: "VMTemplate",
  metadata: { name: "gsr-vm" },
  spec: {
    vmGroup: "lab1",
    resources: { memory: "2Gi", cpus: 1 },
    disks: [{ name: "root", size: "5Gi" }],
    boot: { kernel: "/img/vmlinuz", initrd: "/img/initramfs.gz", cmdline: "console=ttyS0" },
  },
};

/** An instance placed on gvm-h1 by job "gvm-u1-r1", with its address; `over` changes it. */
function placed(
  over: { status?: Partial<NonNullable<VMInstance["status"]>>; memory?: string } = {},
): VMInstance {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMInstance",
    metadata: { name: "myvm", namespace: "doraz", uid: "u1", generation: 1 },
    spec: {
      template: "gsr-vm",
      running: true,
      isolated: true,
      ...(over.memory ? { resources: { memory: over.memory } } : {}),
    },
    status: {
      host: "gvm-h1",
      job: { id: "7", name: "gvm-u1-r1" },
      network: { vmGroup: "lab1", ip: "192.168.100.2", mac: "de:af:de:af:64:02", isolated: true },
      disks: [{ name: "root", path: "/s/doraz.myvm.root.qcow2", backingPath: "/s/t/root.qcow2" }],
      ...over.status,
    },
  };
}

const run = (
  instances: VMInstance[],
  leaseAlive: (uid: string, job: string) => boolean = () => true,
) =>
  desiredVms({
    host: "gvm-h1",
    instances,
    templates: new Map([["gsr-vm", template]]),
    groups: new Map([["lab1", group]]),
    leaseAlive,
  });

describe("desired VMs on a host", () => {
  it("a placed instance with a live lease is one VM keyed by its job name", () => {
    const { vms, unrealizable } = run([placed({ memory: "128Mi" })]);
    expect(unrealizable).toEqual([]);
    expect(vms).toEqual([
      {
        key: "gvm-u1-r1",
        namespace: "doraz",
        name: "myvm",
        uid: "u1",
        tap: tapNameFor("u1"),
        mac: "de:af:de:af:64:02",
        ip: "192.168.100.2",
        bridge: "vbr0",
        subnet: "192.168.100.0/24",
        isolated: true,
        gateway: { ip: "192.168.100.1", mac: "00:15:5d:07:07:8b" },
        dhcp: "Dnsmasq",
        disks: [{ name: "root", path: "/s/doraz.myvm.root.qcow2", format: "qcow2" }],
        memoryMiB: 128,
        cpus: 1,
        boot: { kernel: "/img/vmlinuz", initrd: "/img/initramfs.gz", cmdline: "console=ttyS0" },
      },
    ]);
  });

  it.each([
    ["placed on another host", placed({ status: { host: "gvm-h2" } }), () => true],
    ["without a job", placed({ status: { job: undefined } }), () => true],
    ["whose lease is gone", placed(), () => false],
  ])("an instance %s is not wanted", (_what, inst, lease) => {
    expect(run([inst], lease)).toEqual({ vms: [], unrealizable: [] });
  });

  it("asks the lease about this very run", () => {
    const asked: string[] = [];
    run([placed()], (uid, job) => (asked.push(`${uid} ${job}`), true));
    expect(asked).toEqual(["u1 gvm-u1-r1"]);
  });

  it("says why a wanted VM cannot run: no address yet, unknown template", () => {
    const noAddr = placed({ status: { network: undefined } });
    expect(run([noAddr]).unrealizable.map((u) => u.reason)).toEqual(["NoAddress"]);
    const orphan = { ...placed(), spec: { ...placed().spec, template: "gone" } };
    expect(run([orphan]).unrealizable.map((u) => u.reason)).toEqual(["TemplateNotFound"]);
  });

  it("template memory applies unless the instance overrides it", () => {
    expect(run([placed()]).vms[0]?.memoryMiB).toBe(2048);
  });

  it("run keys are safe directory names", () => {
    expect(runKey("gvm-abc_1.r2")).toBe("gvm-abc_1.r2");
    expect(runKey("../x y")).toBe(".._x_y");
  });
});

describe("a VMGroup's subnet", () => {
  it.each([
    [
      { addresses: "192.168.100.2-192.168.100.254", gateway: { ip: "192.168.100.1" } },
      "192.168.100.0/24",
    ],
    [{ addresses: "192.168.101.0/24", gateway: { ip: "192.168.101.1" } }, "192.168.101.0/24"],
    [{ addresses: "10.0.0.10-10.0.0.20", gateway: { ip: "10.0.1.1" } }, "10.0.0.0/23"],
    [
      { addresses: "10.0.0.10-10.0.0.20", prefixLength: 16, gateway: { ip: "10.0.0.1" } },
      "10.0.0.0/16",
    ],
  ])("%j -> %s", (spec, want) => {
    expect(subnetOf(spec)).toBe(want);
  });
});
