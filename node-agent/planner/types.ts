import type { DhcpHostEntry, DnsmasqConfig } from "../dhcp/dnsmasq-config.js";
import type { ObservedDnsmasq } from "../dhcp/dnsmasq.js";
import type { DesiredFilter, ObservedFilter } from "../network/ebtables-rules.js";
import type { ObservedBridge, ObservedTap } from "../network/host-network.js";
import type { ObservedVm } from "../qemu/runtime-dir.js";

/**
 * One VM this host must run, as plain data: the agent's API side (reflector over VMInstances
 * placed here) fills it later; tests fill it by hand.
 */
export interface DesiredVm {
  /** Unique per run (e.g. the job name): names the runtime directory. A new run = a new key. */
  key: string;
  namespace: string;
  name: string;
  uid: string;
  tap: string;
  mac: string;
  ip: string;
  bridge: string;
  /** The VMGroup's network, e.g. 10.9.0.0/24. */
  subnet: string;
  isolated: boolean;
  gateway: { ip: string; mac: string };
  /** Dnsmasq: this agent serves the lease; External: someone else does (OMAPI dhcpd, or none). */
  dhcp: "Dnsmasq" | "External";
  /** The DHCP server's MACs in External mode (isolated VMs may reach only these and the gateway). */
  externalDhcpServerMacs?: string[];
  disks: { name: string; path: string; format: "qcow2" | "raw" }[];
  memoryMiB: number;
  cpus: number;
  cdrom?: string;
  boot?: { kernel: string; initrd?: string; cmdline?: string };
  /** A fixed display; otherwise the lowest free one is taken. */
  vncDisplay?: number;
}

/** What the agent found on its host; gathered by observeHost(). */
export interface ObservedHost {
  bridges: ObservedBridge[];
  taps: ObservedTap[];
  filters: ObservedFilter[];
  dhcpServers: ObservedDnsmasq[];
  dhcpHosts: DhcpHostEntry[];
  vms: ObservedVm[];
}

export type Action =
  | { kind: "stopQemu"; key: string; pid: number }
  | { kind: "markExited"; key: string }
  | { kind: "removeVmDir"; key: string }
  | { kind: "removeDhcpHost"; bridge: string; file: string; dnsmasqPid: number | undefined }
  | { kind: "removeFilter"; observed: ObservedFilter }
  | { kind: "removeTap"; tap: string }
  | { kind: "stopDnsmasq"; bridge: string; pid: number }
  | { kind: "startDnsmasq"; config: DnsmasqConfig }
  | { kind: "createTap"; tap: string; bridge: string }
  | { kind: "attachTap"; tap: string; bridge: string }
  | {
      kind: "applyFilter";
      tap: string;
      desired: DesiredFilter;
      observed: ObservedFilter | undefined;
    }
  | { kind: "writeDhcpHost"; entry: DhcpHostEntry }
  | { kind: "startQemu"; vm: DesiredVm; vncDisplay: number };

/** A desired VM the planner cannot realize now, and why (reported, retried next pass). */
export interface Blocked {
  key: string;
  reason: string;
}

export interface Plan {
  actions: Action[];
  blocked: Blocked[];
}
