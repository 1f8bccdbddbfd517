import { isDeepStrictEqual } from "node:util";
import type { VMInstanceStatus } from "../../api/generated/types.js";

/** The status fields the controller owns; the node agent owns vnc, network.tap, startedAt and Ready. */
const OWNED_KEYS = ["observedGeneration", "phase", "host", "run", "job", "disks"] as const;
const OWNED_NETWORK_KEYS = ["vmGroup", "ip", "mac", "isolated"] as const;
export const AGENT_CONDITION_TYPES: readonly string[] = ["Ready"];

/**
 * True when applying `desired` would change nothing the controller owns in `current` — so a steady
 * state costs no API write (a resync of 300 running VMs every 30 s would otherwise be 10 writes/s).
 */
export function controllerStatusUnchanged(current: VMInstanceStatus | undefined, desired: VMInstanceStatus): boolean {
  const cur = current ?? {};
  for (const key of OWNED_KEYS) if (!isDeepStrictEqual(cur[key], desired[key])) return false;
  const pickNetwork = (n: VMInstanceStatus["network"]) => (n ? Object.fromEntries(OWNED_NETWORK_KEYS.filter((k) => n[k] !== undefined).map((k) => [k, n[k]])) : undefined);
  const curNet = pickNetwork(cur.network);
  if (!isDeepStrictEqual(curNet && Object.keys(curNet).length ? curNet : undefined, pickNetwork(desired.network))) return false;
  const ours = (cs: VMInstanceStatus["conditions"]) => (cs ?? []).filter((c) => !AGENT_CONDITION_TYPES.includes(c.type));
  return isDeepStrictEqual(ours(cur.conditions), ours(desired.conditions));
}
