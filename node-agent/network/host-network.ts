import { HOST_COMMAND_TIMEOUT_MS, type HostRunner } from "../exec/host-runner.js";
import { TAP_PREFIX } from "./names.js";
import {
  applyFilterScript,
  gridvmFilters,
  parseEbtablesListing,
  removeFilterScript,
} from "./ebtables-rules.js";
import type { DesiredFilter, ObservedFilter } from "./ebtables-rules.js";

/** The nft variant: the legacy one has no kernel support on current kernels (FACTS.md). */
export interface EbtablesTools {
  ebtables: string;
  restore: string;
}
export const defaultEbtables: EbtablesTools = {
  ebtables: "ebtables-nft",
  restore: "ebtables-nft-restore",
};

export interface ObservedTap {
  name: string;
  master: string | undefined;
  up: boolean;
}

export interface ObservedBridge {
  name: string;
  mac: string;
}

interface IpLink {
  ifname: string;
  address?: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

/** Bridges and our taps, from one `ip -d -j link show`. */
export async function observeLinks(
  host: HostRunner,
): Promise<{ bridges: ObservedBridge[]; taps: ObservedTap[] }> {
  const { stdout } = await host.run("ip", ["-d", "-j", "link", "show"], {
    timeoutMs: HOST_COMMAND_TIMEOUT_MS,
  });
  const links = JSON.parse(stdout || "[]") as IpLink[];
  const bridges: ObservedBridge[] = [];
  const taps: ObservedTap[] = [];
  for (const l of links) {
    if (l.linkinfo?.info_kind === "bridge") bridges.push({ name: l.ifname, mac: l.address ?? "" });
    else if (l.ifname.startsWith(TAP_PREFIX) && l.linkinfo?.info_kind === "tun") {
      taps.push({ name: l.ifname, master: l.master, up: (l.flags ?? []).includes("UP") });
    }
  }
  return { bridges, taps };
}

/** A persistent tap (it outlives qemu, so a qemu restart finds it), enslaved and up. */
export async function createTap(host: HostRunner, tap: string, bridge: string): Promise<void> {
  await host.run("ip", ["tuntap", "add", "dev", tap, "mode", "tap"], {
    timeoutMs: HOST_COMMAND_TIMEOUT_MS,
  });
  await attachTap(host, tap, bridge);
}

export async function attachTap(host: HostRunner, tap: string, bridge: string): Promise<void> {
  await host.run("ip", ["link", "set", "dev", tap, "master", bridge, "up"], {
    timeoutMs: HOST_COMMAND_TIMEOUT_MS,
  });
}

export async function removeTap(host: HostRunner, tap: string): Promise<void> {
  await host.run("ip", ["link", "del", "dev", tap], { timeoutMs: HOST_COMMAND_TIMEOUT_MS });
}

/** Our per-VM filters, keyed by tap id. */
export async function observeFilters(
  host: HostRunner,
  tools: EbtablesTools = defaultEbtables,
): Promise<Map<string, ObservedFilter>> {
  const { stdout } = await host.run(tools.ebtables, ["-t", "filter", "-L", "--Lx"], {
    timeoutMs: HOST_COMMAND_TIMEOUT_MS,
  });
  return gridvmFilters(parseEbtablesListing(stdout));
}

export async function applyFilter(
  host: HostRunner,
  desired: DesiredFilter,
  observed: ObservedFilter | undefined,
  tools: EbtablesTools = defaultEbtables,
): Promise<void> {
  await restore(host, applyFilterScript(desired, observed), tools);
}

export async function removeFilter(
  host: HostRunner,
  observed: ObservedFilter,
  tools: EbtablesTools = defaultEbtables,
): Promise<void> {
  await restore(host, removeFilterScript(observed), tools);
}

async function restore(host: HostRunner, script: string, tools: EbtablesTools): Promise<void> {
  await host.run(tools.restore, ["--noflush"], {
    timeoutMs: HOST_COMMAND_TIMEOUT_MS,
    input: script,
  });
}
