import type { KubeConfig } from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";
import { API_VERSION, VMGroupResource, type VMGroup, type VMGroupStatus, type VMInstance } from "../../api/generated/types.js";
import { findConflicts, ipToNumber, poolFor, poolUsage, type GroupConflict } from "../../allocation/index.js";
import type { Store } from "../../machinery/cache.js";
import type { Clock } from "../../machinery/clock.js";
import { setConditions, type Condition } from "../../machinery/conditions.js";
import type { EventRecorder } from "../../machinery/events.js";
import type { Logger } from "../../machinery/log.js";
import { applyStatus } from "../status-apply.js";
import { CONTROLLER_FIELD_MANAGER } from "../vminstance/vminstance-controller.js";

export interface VMGroupControllerDeps {
  kc: KubeConfig;
  groups: Store<VMGroup>;
  instances: Store<VMInstance>;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
}

/** A VMGroup's health and occupancy: overlaps with other groups, allocated and free addresses. */
export function groupStatus(group: VMGroup, allGroups: readonly VMGroup[], instances: readonly VMInstance[]): { status: Omit<VMGroupStatus, "conditions">; ready: { ok: boolean; reason: string; message: string }; conflicts: GroupConflict[] } {
  const name = group.metadata.name ?? "";
  const pool = poolFor(group.spec.addresses, group.spec.gateway.ip);
  const conflicts = findConflicts(
    allGroups.filter((g) => !g.metadata.deletionTimestamp).map((g) => ({ name: g.metadata.name ?? "", addresses: g.spec.addresses, gatewayIp: g.spec.gateway.ip, macPrefix: g.spec.macPrefix })),
  ).filter((c) => c.a === name || c.b === name);
  const held = instances.filter((i) => i.status?.network?.vmGroup === name && i.status.network.ip).map((i) => ipToNumber(i.status!.network!.ip!));
  if (!pool.ok) return { status: { observedGeneration: group.metadata.generation }, ready: { ok: false, reason: "InvalidAddresses", message: pool.error }, conflicts };
  const usage = poolUsage(pool.value, held);
  const status = { observedGeneration: group.metadata.generation, size: usage.size, allocated: usage.allocated, free: usage.free };
  if (conflicts.length > 0) {
    const c = conflicts[0]!;
    return { status, ready: { ok: false, reason: c.reason, message: `${c.message}; no address is handed out from either group until one of them changes` }, conflicts };
  }
  return { status, ready: { ok: true, reason: "Ready", message: `${usage.free} of ${usage.size} addresses free` }, conflicts };
}

export class VMGroupController {
  constructor(private readonly d: VMGroupControllerDeps) {}

  async reconcile(key: string): Promise<void> {
    // 1. Observe the group, every other group (overlaps are pairwise) and the instances holding its addresses.
    const group = this.d.groups.get(key);
    if (!group || group.metadata.deletionTimestamp) return;
    // 2. Compute its status (pure).
    const { status, ready, conflicts } = groupStatus(group, this.d.groups.list(), this.d.instances.list());
    const conditions = setConditions(group.status?.conditions as Condition[] | undefined, [{ type: "Ready", status: ready.ok ? "True" : "False", reason: ready.reason, message: ready.message, observedGeneration: group.metadata.generation }], this.d.clock.now());
    // 3. Tell an admin about a conflict once per transition (the recorder aggregates repeats).
    for (const c of conflicts) void this.d.events.warning(group, c.reason, c.message);
    // 4. One status write, and none when nothing changed.
    if (isDeepStrictEqual({ ...group.status }, { ...status, conditions })) return;
    await applyStatus(this.d.kc, { apiVersion: API_VERSION, kind: "VMGroup", plural: VMGroupResource.plural, name: key }, { ...status, conditions }, CONTROLLER_FIELD_MANAGER);
  }
}
