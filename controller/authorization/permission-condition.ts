import type { ConditionUpdate } from "../machinery/conditions.js";
import type { Permission, VMGroup, VMTemplate } from "../api/generated/types.js";

/**
 * The TargetFound condition the controller writes on a Permission: a grant on a template or VM
 * group that does not exist (a typo, or applied before its target) matches nothing, which would
 * otherwise be invisible. Pure; the caller supplies the cache contents and writes the result with
 * setCondition.
 */
export function permissionTargetCondition(
  permission: Permission,
  templates: readonly VMTemplate[],
  groups: readonly VMGroup[],
): ConditionUpdate {
  const { template, vmGroup } = permission.spec.target;
  const observedGeneration = permission.metadata.generation;
  const [kind, name, exists] =
    template !== undefined
      ? (["VMTemplate", template, templates.some((t) => t.metadata.name === template)] as const)
      : (["VMGroup", vmGroup ?? "", groups.some((g) => g.metadata.name === vmGroup)] as const);
  return exists
    ? {
        type: "TargetFound",
        status: "True",
        reason: "Found",
        message: `${kind} "${name}" exists`,
        observedGeneration,
      }
    : {
        type: "TargetFound",
        status: "False",
        reason: `${kind}NotFound`,
        message: `${kind} "${name}" does not exist: this permission grants nothing until it does`,
        observedGeneration,
      };
}
