import type { Permission, VMInstance, VMTemplate } from "../../api/generated/types.js";
import { DEFAULT_ADMIN_GROUPS, evaluate } from "../../authorization/evaluate.js";
import { ownerIdentity } from "../../authorization/owner-identity.js";
import type { InstanceAuthorizer } from "./vminstance-controller.js";

/**
 * The controller's re-check: the webhook's own evaluator, fed from the informer caches and asked
 * about the instance as if it were created now, on behalf of its owner. Admission can race (two
 * creates filling one quota, a permission revoked after admission); this cannot.
 */
export function cacheAuthorizer(
  caches: { permissions: () => Permission[]; templates: () => VMTemplate[]; instances: () => VMInstance[] },
  adminGroups: readonly string[] = DEFAULT_ADMIN_GROUPS,
): InstanceAuthorizer {
  return (instance) => {
    const requester = ownerIdentity(instance);
    if (!requester) {
      return { allowed: false, reason: "NoOwner", message: "spec.owner is not set (the admission webhook sets it; is it installed?)" };
    }
    const decision = evaluate(
      {
        requester,
        instance,
        facts: {
          permissions: caches.permissions(),
          templates: caches.templates(),
          ownerInstances: caches.instances().filter((i) => i.spec.owner === requester.username),
        },
      },
      { adminGroups },
    );
    return decision.allowed ? { allowed: true } : { allowed: false, reason: `Denied${decision.rule[0]!.toUpperCase()}${decision.rule.slice(1)}`, message: decision.message };
  };
}
