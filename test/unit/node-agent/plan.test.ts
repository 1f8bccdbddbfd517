import { describe, expect, it } from "vitest";
import { dhcpHostEntry, dnsmasqArgs } from "../../../node-agent/dhcp/dnsmasq-config.js";
import { desiredFilter, type ObservedFilter } from "../../../node-agent/network/ebtables-rules.js";
import { tapNameFor } from "../../../node-agent/network/names.js";
import { plan } from "../../../node-agent/planner/plan.js";
import type { DesiredVm, ObservedHost } from "../../../node-agent/planner/types.js";

const DHCP_DIR = "/run/gridvm/dhcp";
const BRIDGE_MAC = "aa:bb:cc:00:00:01";

/** A desired VM named `name`; everything else defaulted. */
function vm(name: string, over: Partial<DesiredVm> = {}): DesiredVm {
  const n = Number(name.replace(/\D/g, "")) || 2;
  return {
    key: `run-${name}`,
    namespace: "doraz",
    name,
    uid: `uid-${name}`,
    tap: tapNameFor(`uid-${name}`),
    mac: `de:af:de:af:00:${n.toString(16).padStart(2, "0")}`,
    ip: `10.9.0.${n}`,
    bridge: "vbr0",
    subnet: "10.9.0.0/24",
    isolated: true,
    gateway: { ip: "10.9.0.1", mac: "00:15:5d:07:07:8b" },
    dhcp: "Dnsmasq",
    disks: [{ name: "root", path: `/srv/${name}.qcow2`, format: "qcow2" }],
    memoryMiB: 128,
    cpus: 1,
    ...over,
  };
}

function emptyHost(): ObservedHost {
  return {
    bridges: [{ name: "vbr0", mac: BRIDGE_MAC }],
    taps: [],
    filters: [],
    dhcpServers: [],
    dhcpHosts: [],
    vms: [],
  };
}

/** The host as it looks once `vms` run, with pids 1000, 1001, ... and displays 1, 2, ... */
function hostRunning(vms: DesiredVm[]): ObservedHost {
  const h = emptyHost();
  vms.forEach((v, i) => {
    h.taps.push({ name: v.tap, master: v.bridge, up: true });
    h.filters.push(observedFilterOf(v));
    h.dhcpHosts.push(dhcpHostEntry(v));
    h.vms.push({ key: v.key, pid: 1000 + i, vncDisplay: i + 1, tap: v.tap, exited: undefined });
  });
  if (vms.length) {
    h.dhcpServers.push({
      bridge: "vbr0",
      pid: 500,
      args: dnsmasqArgs(DHCP_DIR, {
        bridge: "vbr0",
        networks: [{ subnet: "10.9.0.0/24", gateway: "10.9.0.1" }],
      }),
    });
  }
  return h;
}

function observedFilterOf(v: DesiredVm): ObservedFilter {
  const d = desiredFilter({ ...v, dhcpServerMacs: [BRIDGE_MAC] });
  return {
    id: d.id,
    chains: d.chains.map((c) => ({ name: c.name, ruleCount: c.rules.length })),
    jumps: d.jumps,
  };
}

const kinds = (desired: DesiredVm[], host: ObservedHost) =>
  plan(desired, host, { dhcpStateDir: DHCP_DIR }).actions.map((a) => a.kind);

describe("planner", () => {
  it("builds everything for a new VM, qemu last", () => {
    expect(kinds([vm("vm2")], emptyHost())).toEqual([
      "startDnsmasq",
      "createTap",
      "applyFilter",
      "writeDhcpHost",
      "startQemu",
    ]);
  });

  it("does nothing at all in steady state (a restarted agent adopts, never restarts)", () => {
    const vms = [vm("vm2"), vm("vm3"), vm("vm4", { isolated: false })];
    expect(kinds(vms, hostRunning(vms))).toEqual([]);
  });

  it("stops and removes everything of a VM nobody wants any more", () => {
    const host = hostRunning([vm("vm2")]);
    expect(kinds([], host)).toEqual([
      "stopQemu",
      "removeVmDir",
      "removeDhcpHost",
      "removeFilter",
      "removeTap",
      "stopDnsmasq",
    ]);
  });

  it("marks a VM whose qemu died as exited and frees its network, without restarting it", () => {
    const v = vm("vm2");
    const host = hostRunning([v]);
    host.vms[0]!.pid = undefined;
    expect(kinds([v], host)).toEqual([
      "markExited",
      "removeDhcpHost",
      "removeFilter",
      "removeTap",
      "stopDnsmasq",
    ]);
    host.vms[0]!.exited = { reason: "exited", at: "now" };
    host.dhcpHosts = [];
    host.filters = [];
    host.taps = [];
    host.dhcpServers = [];
    expect(kinds([v], host)).toEqual([]);
  });

  it("removes orphan taps and chains left by hand, keeps foreign ones out of it", () => {
    const v = vm("vm2");
    const host = hostRunning([v]);
    const orphan = vm("vm9");
    host.taps.push({ name: orphan.tap, master: "vbr0", up: true });
    host.filters.push(observedFilterOf(orphan));
    const p = plan([v], host, { dhcpStateDir: DHCP_DIR });
    expect(p.actions).toEqual([
      { kind: "removeFilter", observed: observedFilterOf(orphan) },
      { kind: "removeTap", tap: orphan.tap },
    ]);
  });

  it("replaces the filter when isolation changes, without touching qemu", () => {
    const v = vm("vm2");
    const host = hostRunning([v]);
    const p = plan([{ ...v, isolated: false }], host, { dhcpStateDir: DHCP_DIR });
    expect(p.actions.map((a) => a.kind)).toEqual(["applyFilter"]);
    const a = p.actions[0]!;
    expect(a.kind === "applyFilter" && a.observed?.chains.length).toBe(2);
  });

  it("re-applies a filter that lost a jump", () => {
    const v = vm("vm2");
    const host = hostRunning([v]);
    host.filters[0]!.jumps.pop();
    expect(kinds([v], host)).toEqual(["applyFilter"]);
  });

  it("re-attaches a tap that left its bridge or went down", () => {
    const v = vm("vm2");
    const host = hostRunning([v]);
    host.taps[0]!.up = false;
    expect(kinds([v], host)).toEqual(["attachTap"]);
  });

  it("rewrites a DHCP entry whose content changed and restarts a dnsmasq with a stale config", () => {
    const v = vm("vm2");
    const host = hostRunning([v]);
    host.dhcpHosts[0]!.content = "de:af:de:af:00:02,10.9.0.99,vm2\n";
    host.dhcpServers[0]!.args = ["--old"];
    expect(kinds([v], host)).toEqual(["stopDnsmasq", "startDnsmasq", "writeDhcpHost"]);
  });

  it("writes no DHCP entry and runs no dnsmasq in External mode", () => {
    expect(
      kinds(
        [vm("vm2", { dhcp: "External", externalDhcpServerMacs: ["00:04:23:c1:ec:52"] })],
        emptyHost(),
      ),
    ).toEqual(["createTap", "applyFilter", "startQemu"]);
  });

  it("gives new VMs the lowest free VNC displays", () => {
    const running = [vm("vm2")];
    const p = plan([...running, vm("vm3"), vm("vm4")], hostRunning(running), {
      dhcpStateDir: DHCP_DIR,
    });
    const displays = p.actions.flatMap((a) => (a.kind === "startQemu" ? [a.vncDisplay] : []));
    expect(displays).toEqual([2, 3]);
  });

  it("serves two VMGroups sharing a bridge from one dnsmasq, and keeps it while both stay", () => {
    const lab = vm("vm2");
    const exam = vm("vm3", {
      subnet: "10.8.0.0/24",
      ip: "10.8.0.3",
      gateway: { ip: "10.8.0.1", mac: "00:15:5d:07:07:8c" },
    });
    const p = plan([lab, exam], emptyHost(), { dhcpStateDir: DHCP_DIR });
    const starts = p.actions.flatMap((a) => (a.kind === "startDnsmasq" ? [a.config] : []));
    expect(starts).toEqual([
      {
        bridge: "vbr0",
        networks: [
          { subnet: "10.9.0.0/24", gateway: "10.9.0.1" },
          { subnet: "10.8.0.0/24", gateway: "10.8.0.1" },
        ],
      },
    ]);
    const host = hostRunning([lab, exam]);
    host.dhcpServers[0]!.args = dnsmasqArgs(DHCP_DIR, starts[0]!);
    expect(kinds([exam, lab], host)).toEqual([]);
  });

  it("blocks a VM whose bridge is missing instead of half-building it", () => {
    const p = plan([vm("vm2", { bridge: "nope" })], emptyHost(), { dhcpStateDir: DHCP_DIR });
    expect(p.actions).toEqual([]);
    expect(p.blocked).toEqual([
      { key: "run-vm2", reason: "bridge nope does not exist on this host" },
    ]);
  });
});
