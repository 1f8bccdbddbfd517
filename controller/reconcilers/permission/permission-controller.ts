import type { KubeConfig } from "@kubernetes/client-node";
import { API_VERSION, type Permission, type VMGroup, type VMTemplate } from "../../api/generated/types.js";
import { permissionTargetCondition } from "../../authorization/permission-condition.js";
import type { Store } from "../../machinery/cache.js";
import type { Clock } from "../../machinery/clock.js";
import { conditionsEqual, setCondition, type Condition } from "../../machinery/conditions.js";
import { applyStatus } from "../status-apply.js";
import { CONTROLLER_FIELD_MANAGER } from "../vminstance/vminstance-controller.js";

export interface PermissionControllerDeps {
  kc: KubeConfig;
  permissions: Store<Permission>;
  templates: Store<VMTemplate>;
  groups: Store<VMGroup>;
  clock: Clock;
}

/** Makes a Permission whose target does not exist visible: TargetFound=False says it grants nothing. */
export class PermissionController {
  constructor(private readonly d: PermissionControllerDeps) {}

  async reconcile(key: string): Promise<void> {
    // 1. Observe the permission and the catalogue it points into.
    const permission = this.d.permissions.get(key);
    if (!permission || permission.metadata.deletionTimestamp) return;
    // 2. Decide (pure) and write only when something changed: a steady state makes no writes.
    const update = permissionTargetCondition(permission, this.d.templates.list(), this.d.groups.list());
    const before = (permission.status?.conditions ?? []) as Condition[];
    const conditions = setCondition(before, update, this.d.clock.now());
    if (conditionsEqual(before, conditions) && permission.status?.observedGeneration === permission.metadata.generation) return;
    await applyStatus(this.d.kc, { apiVersion: API_VERSION, kind: "Permission", plural: "permissions", name: key }, { observedGeneration: permission.metadata.generation, conditions }, CONTROLLER_FIELD_MANAGER);
  }
}
