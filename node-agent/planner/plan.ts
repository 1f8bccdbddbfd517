import { dhcpHostEntry, dnsmasqArgs, type DnsmasqConfig } from "../dhcp/dnsmasq-config.js";
import { desiredFilter, filterInSync } from "../network/ebtables-rules.js";
import { tapId } from "../network/names.js";
import type { Action, Blocked, DesiredVm, ObservedHost, Plan } from "./types.js";

export interface PlanOptions {
  /** The DHCP state directory, to compare running dnsmasqs' argv with the desired one. */
  dhcpStateDir: string;
}

/** Actions run in this order: stop and remove what nobody wants, then build up what is missing. */
const ORDER: Action["kind"][] = [
  "stopQemu",
  "markExited",
  "removeVmDir",
  "removeDhcpHost",
  "removeFilter",
  "removeTap",
  "stopDnsmasq",
  "startDnsmasq",
  "createTap",
  "attachTap",
  "applyFilter",
  "writeDhcpHost",
  "startQemu",
];

/**
 * The node agent's whole decision, as a pure function: what to do so that this host runs exactly
 * the desired VMs, each with its tap, filter and DHCP entry, and nothing else. Running VMs are
 * adopted, never restarted (DESIGN invariant 3); a VM whose qemu is gone is not restarted under
 * the same key but marked exited and its resources freed. Steady state yields no actions.
 */
export function plan(
  desired: readonly DesiredVm[],
  observed: ObservedHost,
  opts: PlanOptions,
): Plan {
  const actions: Action[] = [];
  const blocked: Blocked[] = [];
  const observedVms = new Map(observed.vms.map((v) => [v.key, v]));
  const desiredKeys = new Set(desired.map((d) => d.key));
  const bridges = new Map(observed.bridges.map((b) => [b.name, b]));

  // 1. qemu processes: adopt, notice exits, start, and stop what nobody wants.
  const active: DesiredVm[] = [];
  const toStart: DesiredVm[] = [];
  for (const vm of [...desired].sort(byKey)) {
    const o = observedVms.get(vm.key);
    if (o?.pid !== undefined) {
      active.push(vm);
    } else if (o?.exited) {
      // This run is over; the API side decides about another one.
    } else if (o) {
      actions.push({ kind: "markExited", key: vm.key });
    } else if (!bridges.has(vm.bridge)) {
      blocked.push({ key: vm.key, reason: `bridge ${vm.bridge} does not exist on this host` });
    } else {
      active.push(vm);
      toStart.push(vm);
    }
  }
  for (const o of observed.vms) {
    if (desiredKeys.has(o.key)) continue;
    if (o.pid !== undefined) actions.push({ kind: "stopQemu", key: o.key, pid: o.pid });
    actions.push({ kind: "removeVmDir", key: o.key });
  }

  // 2. Taps and filters for the active VMs whose bridge exists; everything else of ours goes.
  const wantedTaps = new Map<string, DesiredVm>();
  for (const vm of active) if (bridges.has(vm.bridge)) wantedTaps.set(vm.tap, vm);
  const taps = new Map(observed.taps.map((t) => [t.name, t]));
  const filters = new Map(observed.filters.map((f) => [f.id, f]));
  for (const [tap, vm] of wantedTaps) {
    const t = taps.get(tap);
    if (!t) actions.push({ kind: "createTap", tap, bridge: vm.bridge });
    else if (t.master !== vm.bridge || !t.up)
      actions.push({ kind: "attachTap", tap, bridge: vm.bridge });
    const bridgeMac = bridges.get(vm.bridge)!.mac;
    const want = desiredFilter({
      tap,
      mac: vm.mac,
      ip: vm.ip,
      isolated: vm.isolated,
      gateway: vm.gateway,
      dhcpServerMacs: vm.dhcp === "Dnsmasq" ? [bridgeMac] : (vm.externalDhcpServerMacs ?? []),
    });
    const have = filters.get(want.id);
    if (!filterInSync(want, have))
      actions.push({ kind: "applyFilter", tap, desired: want, observed: have });
  }
  const wantedIds = new Set([...wantedTaps.keys()].map((t) => tapId(t)));
  for (const f of observed.filters)
    if (!wantedIds.has(f.id)) actions.push({ kind: "removeFilter", observed: f });
  for (const t of observed.taps)
    if (!wantedTaps.has(t.name)) actions.push({ kind: "removeTap", tap: t.name });

  // 3. DHCP: one dnsmasq per bridge with Dnsmasq VMs, one host file per such VM.
  const dnsmasqVms = [...wantedTaps.values()].filter((vm) => vm.dhcp === "Dnsmasq");
  const servers = new Map(observed.dhcpServers.map((s) => [s.bridge, s]));
  const configs = new Map<string, DnsmasqConfig>();
  for (const vm of dnsmasqVms) {
    const config = configs.get(vm.bridge) ?? { bridge: vm.bridge, networks: [] };
    // Several VMGroups may share a bridge: one dnsmasq serves all their networks.
    if (!config.networks.some((n) => n.subnet === vm.subnet))
      config.networks.push({ subnet: vm.subnet, gateway: vm.gateway.ip });
    configs.set(vm.bridge, config);
  }
  for (const [bridge, config] of configs) {
    const running = servers.get(bridge);
    if (running && sameArgs(running.args, dnsmasqArgs(opts.dhcpStateDir, config))) continue;
    if (running) actions.push({ kind: "stopDnsmasq", bridge, pid: running.pid });
    actions.push({ kind: "startDnsmasq", config });
  }
  for (const s of observed.dhcpServers) {
    if (!configs.has(s.bridge)) actions.push({ kind: "stopDnsmasq", bridge: s.bridge, pid: s.pid });
  }
  const entryId = (e: { bridge: string; file: string }): string => `${e.bridge}/${e.file}`;
  const wantedEntries = new Map(
    dnsmasqVms.map((vm) => dhcpHostEntry(vm)).map((e) => [entryId(e), e]),
  );
  const haveEntries = new Map(observed.dhcpHosts.map((e) => [entryId(e), e]));
  for (const [id, e] of wantedEntries) {
    if (haveEntries.get(id)?.content !== e.content)
      actions.push({ kind: "writeDhcpHost", entry: e });
  }
  for (const [id, e] of haveEntries) {
    if (!wantedEntries.has(id)) {
      actions.push({
        kind: "removeDhcpHost",
        bridge: e.bridge,
        file: e.file,
        dnsmasqPid: servers.get(e.bridge)?.pid,
      });
    }
  }

  // 4. Start the missing VMs last, each on a free VNC display.
  const usedDisplays = new Set(
    observed.vms.filter((v) => v.pid !== undefined).map((v) => v.vncDisplay),
  );
  for (const vm of toStart) {
    let display = vm.vncDisplay;
    if (display === undefined) for (display = 1; usedDisplays.has(display); display++);
    usedDisplays.add(display);
    actions.push({ kind: "startQemu", vm, vncDisplay: display });
  }

  return { actions: sortActions(actions), blocked };
}

function sortActions(actions: Action[]): Action[] {
  // Stable: within one kind, the order above (sorted by key) is kept.
  return actions
    .map((a, i) => ({ a, i }))
    .sort((x, y) => ORDER.indexOf(x.a.kind) - ORDER.indexOf(y.a.kind) || x.i - y.i)
    .map((x) => x.a);
}

function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function byKey(a: DesiredVm, b: DesiredVm): number {
  return a.key.localeCompare(b.key);
}
