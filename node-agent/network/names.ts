import { createHash } from "node:crypto";

/** Every tap the agent owns starts with this; anything else on a bridge is not ours. */
export const TAP_PREFIX = "gvt";
const ID_HEX = 12;

/**
 * The tap name for an instance: stable across runs and agent restarts, derived from the
 * instance UID only, and within Linux's 15-character limit (IFNAMSIZ - 1).
 */
export function tapNameFor(uid: string): string {
  return TAP_PREFIX + createHash("sha256").update(uid).digest("hex").slice(0, ID_HEX);
}

/** The id part of one of our taps, or undefined for a foreign interface. */
export function tapId(tap: string): string | undefined {
  const m = /^gvt([0-9a-f]{12})$/.exec(tap);
  return m?.[1];
}

export type ChainDirection = "from-vm" | "to-vm";

/**
 * Chain names carry the tap id and a hash of their rules, so a changed spec shows up as a
 * different name: observing the chain names alone tells whether the rules are current.
 * `GVF-<id>-<hash>` filters frames the VM sends, `GVT-<id>-<hash>` frames it receives.
 * 25 characters, below ebtables' 31.
 */
export function chainName(direction: ChainDirection, id: string, hash: string): string {
  return `${direction === "from-vm" ? "GVF" : "GVT"}-${id}-${hash}`;
}

export function parseChainName(
  name: string,
): { direction: ChainDirection; id: string; hash: string } | undefined {
  const m = /^(GVF|GVT)-([0-9a-f]{12})-([0-9a-f]{8})$/.exec(name);
  if (!m) return undefined;
  return { direction: m[1] === "GVF" ? "from-vm" : "to-vm", id: m[2]!, hash: m[3]! };
}
