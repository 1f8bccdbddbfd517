import { describe, expect, it } from "vitest";
import { dhcpHostEntry, dnsmasqArgs, splitCidr } from "../../../node-agent/dhcp/dnsmasq-config.js";
import { qemuArgs, type QemuSpec } from "../../../node-agent/qemu/qemu-args.js";

const base: QemuSpec = {
  name: "doraz/myvm",
  accel: "tcg",
  memoryMiB: 256,
  cpus: 2,
  disks: [{ name: "root", path: "/srv/a,b.qcow2", format: "qcow2" }],
  net: { tap: "gvt0123456789ab", mac: "de:af:de:af:00:05" },
  vnc: { listen: "10.0.0.5", display: 3 },
  files: {
    pidFile: "/run/x/qemu.pid",
    qmpSocket: "/run/x/qmp.sock",
    serialLog: "/run/x/console.log",
  },
};

const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe("qemu argv", () => {
  it("sandboxes, writes a pidfile, serves QMP and password-only VNC", () => {
    const a = qemuArgs(base);
    expect(after(a, "-sandbox")).toBe(
      "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    );
    expect(after(a, "-pidfile")).toBe("/run/x/qemu.pid");
    expect(after(a, "-qmp")).toBe("unix:/run/x/qmp.sock,server=on,wait=off");
    expect(after(a, "-vnc")).toBe("10.0.0.5:3,password=on");
    expect(a).not.toContain("-daemonize");
  });

  it("uses TCG with a small translation cache, or KVM", () => {
    expect(after(qemuArgs(base), "-accel")).toBe("tcg,tb-size=32");
    expect(after(qemuArgs({ ...base, accel: "kvm" }), "-accel")).toBe("kvm");
  });

  it("attaches the tap with the VM's MAC and virtio discs (commas in paths escaped)", () => {
    const a = qemuArgs(base);
    expect(after(a, "-netdev")).toBe("tap,id=net0,ifname=gvt0123456789ab,script=no,downscript=no");
    expect(a).toContain("virtio-net-pci,netdev=net0,mac=de:af:de:af:00:05");
    expect(a).toContain("driver=file,filename=/srv/a,,b.qcow2,node-name=file0");
    expect(a).toContain("virtio-blk-pci,drive=disk0,id=root,bootindex=1");
  });

  it("adds cdrom, direct kernel boot and the command serial only when asked", () => {
    const plain = qemuArgs(base);
    expect(plain).not.toContain("-kernel");
    expect(plain.filter((x) => x === "-serial")).toHaveLength(1);
    const full = qemuArgs({
      ...base,
      cdrom: "/iso/x.iso",
      boot: { kernel: "/k", initrd: "/i", cmdline: "console=ttyS0" },
      serialSocket: "/run/x/s.sock",
    });
    expect(after(full, "-kernel")).toBe("/k");
    expect(after(full, "-append")).toBe("console=ttyS0");
    expect(full).toContain("file=/iso/x.iso,media=cdrom,readonly=on,if=ide");
    expect(full).toContain("unix:/run/x/s.sock,server=on,wait=off");
  });
});

describe("dnsmasq", () => {
  it("serves static leases only, on the bridge only, without DNS", () => {
    const a = dnsmasqArgs("/run/d", {
      bridge: "vbr0",
      networks: [{ subnet: "192.168.100.0/24", gateway: "192.168.100.1" }],
    });
    expect(a).toContain("--dhcp-range=set:gvn0,192.168.100.0,static,255.255.255.0");
    expect(a).toContain("--interface=vbr0");
    // The subnet is served even when the bridge's own address lies outside it.
    expect(a).toContain("--shared-network=vbr0,192.168.100.0");
    expect(a).toContain("--bind-interfaces");
    expect(a).toContain("--port=0");
    expect(a).toContain("--dhcp-hostsdir=/run/d/vbr0/hosts");
    expect(a).toContain("--dhcp-option=tag:gvn0,option:router,192.168.100.1");
  });

  it("serves every VMGroup network on a shared bridge, each with its own router, in a fixed order", () => {
    const lab = { subnet: "192.168.100.0/24", gateway: "192.168.100.1" };
    const exam = { subnet: "192.168.101.0/24", gateway: "192.168.101.1" };
    const a = dnsmasqArgs("/run/d", { bridge: "vbr0", networks: [exam, lab] });
    expect(a.filter((x) => /^--(dhcp-range|dhcp-option|shared-network)/.test(x))).toEqual([
      "--dhcp-range=set:gvn0,192.168.100.0,static,255.255.255.0",
      "--shared-network=vbr0,192.168.100.0",
      "--dhcp-option=tag:gvn0,option:router,192.168.100.1",
      "--dhcp-range=set:gvn1,192.168.101.0,static,255.255.255.0",
      "--shared-network=vbr0,192.168.101.0",
      "--dhcp-option=tag:gvn1,option:router,192.168.101.1",
    ]);
    expect(dnsmasqArgs("/run/d", { bridge: "vbr0", networks: [lab, exam] })).toEqual(a);
  });

  it("names host files after the tap and writes MAC,IP,hostname", () => {
    expect(
      dhcpHostEntry({
        bridge: "vbr0",
        tap: "gvtabc",
        mac: "DE:AF:DE:AF:00:05",
        ip: "10.9.0.5",
        name: "My_VM",
      }),
    ).toEqual({
      bridge: "vbr0",
      file: "gvtabc",
      content: "de:af:de:af:00:05,10.9.0.5,my-vm\n",
    });
  });

  it("splits CIDRs", () => {
    expect(splitCidr("10.9.3.7/20")).toEqual({
      network: "10.9.0.0",
      mask: "255.255.240.0",
      prefix: 20,
    });
    expect(() => splitCidr("10.9.0.0")).toThrow();
  });
});
