import { createHash } from "node:crypto";
import { chainName, parseChainName, tapId } from "./names.js";

/** What one VM's traffic filter must enforce. */
export interface VmFilterSpec {
  tap: string;
  mac: string;
  ip: string;
  isolated: boolean;
  gateway: { ip: string; mac: string };
  /** MACs a DHCP server answers from (the bridge itself in Dnsmasq mode, the dhcpd host otherwise). */
  dhcpServerMacs: readonly string[];
}

/** A rule in a built-in chain that sends a VM's frames into one of its chains. */
export interface Jump {
  chain: "FORWARD" | "INPUT";
  /** The rule as `ebtables -L --Lx` prints it after `-A <chain> `, e.g. `-i gvt… -j GVF-…`. */
  rule: string;
}

export interface DesiredFilter {
  id: string;
  hash: string;
  chains: { name: string; rules: string[] }[];
  jumps: Jump[];
}

/** One VM's filter as found in the kernel: its chains (with rule counts) and the jumps to them. */
export interface ObservedFilter {
  id: string;
  chains: { name: string; ruleCount: number }[];
  jumps: Jump[];
}

const BROADCAST = "ff:ff:ff:ff:ff:ff";

/**
 * Frames leaving the VM (after libvirt's clean-traffic and FACTS.md): right source MAC, no DHCP
 * server, DHCP client allowed (its source IP is still 0.0.0.0), right source IP, ARP that does
 * not lie about MAC or IP; IPv6 and every other L2 protocol dropped. When isolated the VM may
 * reach only the gateway, the DHCP server and broadcast, which puts guests out of each other's
 * reach on this host and on every other.
 */
export function fromVmRules(spec: VmFilterSpec): string[] {
  const mac = normalizeMac(spec.mac);
  const rules = [`-s ! ${mac} -j DROP`, "-p IPv4 --ip-proto udp --ip-sport 67 -j DROP"];
  if (spec.isolated) rules.push(`--among-dst ! ${reachable(spec).join(",")} -j DROP`);
  // Allowed frames RETURN, never ACCEPT: an ACCEPT here would end FORWARD before the receiving
  // VM's own to-vm chain (`-o <its tap>`) is consulted, and a broadcast or a frame from an
  // unisolated neighbour on this host would reach an isolated guest (the packet test caught it).
  rules.push(
    "-p IPv4 --ip-proto udp --ip-sport 68 --ip-dport 67 -j RETURN",
    `-p IPv4 --ip-src ! ${spec.ip} -j DROP`,
    `-p ARP --arp-mac-src ! ${mac} -j DROP`,
    `-p ARP --arp-ip-src ! ${spec.ip} -j DROP`,
    "-p IPv4 -j RETURN",
    "-p ARP -j RETURN",
    "-j DROP",
  );
  return rules;
}

/**
 * Frames bridged to an isolated VM must come from the gateway or the DHCP server: even a
 * broadcast from another guest does not reach it. (Frames the host itself sends, such as a
 * local dnsmasq's answers, take OUTPUT, not FORWARD.)
 */
export function toVmRules(spec: VmFilterSpec): string[] {
  const senders = unique([spec.gateway.mac, ...spec.dhcpServerMacs].map(normalizeMac));
  return [`--among-src ! ${senders.join(",")} -j DROP`];
}

function reachable(spec: VmFilterSpec): string[] {
  return unique([spec.gateway.mac, ...spec.dhcpServerMacs, BROADCAST].map(normalizeMac));
}

/** The complete filter one VM should have. Pure. */
export function desiredFilter(spec: VmFilterSpec): DesiredFilter {
  const id = tapId(spec.tap);
  if (!id) throw new Error(`${spec.tap} is not a gridvm tap name`);
  const from = fromVmRules(spec);
  const to = spec.isolated ? toVmRules(spec) : [];
  const hash = createHash("sha256").update(JSON.stringify({ from, to })).digest("hex").slice(0, 8);
  const fromName = chainName("from-vm", id, hash);
  const chains = [{ name: fromName, rules: from }];
  // INPUT too: frames to the host itself (its dnsmasq, its address) must not be spoofed either.
  const jumps: Jump[] = [
    { chain: "FORWARD", rule: `-i ${spec.tap} -j ${fromName}` },
    { chain: "INPUT", rule: `-i ${spec.tap} -j ${fromName}` },
  ];
  if (to.length) {
    const toName = chainName("to-vm", id, hash);
    chains.push({ name: toName, rules: to });
    jumps.push({ chain: "FORWARD", rule: `-o ${spec.tap} -j ${toName}` });
  }
  return { id, hash, chains, jumps };
}

/** True when the kernel already holds exactly this filter (same chains, same jumps, once each). */
export function filterInSync(
  desired: DesiredFilter,
  observed: ObservedFilter | undefined,
): boolean {
  if (!observed) return false;
  const want = desired.chains.map((c) => `${c.name}/${c.rules.length}`).sort();
  const have = observed.chains.map((c) => `${c.name}/${c.ruleCount}`).sort();
  const jumpKey = (j: Jump) => `${j.chain} ${j.rule}`;
  return (
    JSON.stringify(want) === JSON.stringify(have) &&
    JSON.stringify(desired.jumps.map(jumpKey).sort()) ===
      JSON.stringify(observed.jumps.map(jumpKey).sort())
  );
}

/**
 * One `ebtables-restore --noflush` script that replaces whatever the VM had with `desired`,
 * all-or-nothing: declaring a chain flushes it, every observed jump is deleted once (so a
 * duplicate left by a crash goes too), then old chains are flushed and removed (a chain must be
 * un-jumped, flushed, then -X).
 */
export function applyFilterScript(
  desired: DesiredFilter,
  observed: ObservedFilter | undefined,
): string {
  const lines = ["*filter"];
  for (const c of desired.chains) {
    lines.push(`:${c.name} RETURN`);
    for (const r of c.rules) lines.push(`-A ${c.name} ${r}`);
  }
  for (const j of observed?.jumps ?? []) lines.push(`-D ${j.chain} ${j.rule}`);
  for (const j of desired.jumps) lines.push(`-A ${j.chain} ${j.rule}`);
  const keep = new Set(desired.chains.map((c) => c.name));
  for (const c of observed?.chains ?? []) {
    if (!keep.has(c.name)) lines.push(`-F ${c.name}`, `-X ${c.name}`);
  }
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/** One restore script that removes a VM's filter entirely: un-jump, flush, delete. */
export function removeFilterScript(observed: ObservedFilter): string {
  const lines = ["*filter"];
  for (const j of observed.jumps) lines.push(`-D ${j.chain} ${j.rule}`);
  for (const c of observed.chains) lines.push(`-F ${c.name}`, `-X ${c.name}`);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/** `ebtables -L --Lx` output as chain name -> rule lines (without the `-A <chain> ` prefix). */
export function parseEbtablesListing(text: string): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const header = /^Bridge chain: ([^,]+),/.exec(line);
    if (header) {
      current = [];
      chains.set(header[1]!, current);
    } else if (line.startsWith("-") && current) {
      // --Lx prints `-A CHAIN rule` on some versions and just `rule` on others.
      current.push(line.replace(/^-A \S+ /, ""));
    }
  }
  return chains;
}

/** Our filters, grouped per VM (tap id), from a parsed listing; foreign chains are ignored. */
export function gridvmFilters(listing: Map<string, string[]>): Map<string, ObservedFilter> {
  const out = new Map<string, ObservedFilter>();
  const get = (id: string) => {
    let f = out.get(id);
    if (!f) out.set(id, (f = { id, chains: [], jumps: [] }));
    return f;
  };
  for (const [name, rules] of listing) {
    const parsed = parseChainName(name);
    if (parsed) get(parsed.id).chains.push({ name, ruleCount: rules.length });
  }
  for (const chain of ["FORWARD", "INPUT"] as const) {
    for (const rule of listing.get(chain) ?? []) {
      const target = /-j (\S+)$/.exec(rule)?.[1];
      const parsed = target ? parseChainName(target) : undefined;
      if (parsed) get(parsed.id).jumps.push({ chain, rule });
    }
  }
  return out;
}

export function normalizeMac(mac: string): string {
  return mac.toLowerCase();
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
