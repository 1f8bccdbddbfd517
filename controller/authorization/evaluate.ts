/**
 * The one place that decides who may do what with a VMInstance — the paper's permission model
 * (section 5.1: run / modify / derive per user or group on a vm or vm group, force_isolated,
 * per-user limits). Pure: the admission webhook and the controller's re-check both call it with
 * facts they read from their caches, so the two can never disagree.
 *
 * Rules, in the order they are checked (the first that fails is the one the user is told about):
 *  1. admins (any of `adminGroups`) may do everything;
 *  2. owner: only admins may name another user as spec.owner;
 *  3. derive / modify (at creation; template and diskMode are immutable): diskMode Derive needs
 *     "derive" on the template or its VM group and a derivable template; diskMode Template needs
 *     "modify";
 *  4. run: a running instance needs "run", except for its owner — deriving (or being allowed to
 *     modify) gives the owner full rights on their instance, as in the paper;
 *  5. isolation: a running instance with isolated: false is refused when ANY applicable
 *     Permission forces isolation (an exam grant must not be undone by a broader lab grant);
 *  6. quotas: every applicable Permission's limits must hold, i.e. the strictest wins. A limit
 *     is an admin's ceiling for what that Permission grants; a second, broader grant must not
 *     silently lift an exam's ceiling, and "all must hold" does not depend on listing order.
 *     maxRunning is checked when an instance starts running, maxStorage when it is derived;
 *     usage is the owner's instances (all namespaces) inside that Permission's target.
 *
 * "Applicable" = names the requester (User) or one of their groups (Group) AND targets the
 * instance's template or the template's VM group. Permissions naming missing templates or groups
 * simply never match; they cannot break an evaluation.
 *
 * Updates that leave spec unchanged (finalizers, labels, status-free metadata) and updates of an
 * object being deleted are always allowed: the controller must be able to remove its finalizer
 * even after a user lost their rights. For a full re-check of an existing instance (the
 * controller's), pass no oldInstance: every rule is then evaluated as if it were created now.
 */
import { formatQuantity, parseQuantity } from "../api/quantity.js";
import type { Permission, VMInstance, VMTemplate } from "../api/generated/types.js";
import {
  applicablePermissions,
  describeScope,
  grants,
  isAdmin,
  targetOf,
  type Requester,
  type Target,
} from "./permissions.js";
import { chargesOwnerStorage, sameObject, templateStorage, usageWithin } from "./usage.js";

export type { Requester } from "./permissions.js";

/**
 * gridvm:admins is the paper's "admin" group. system:masters is the cluster's superuser group,
 * which RBAC never restricts; refusing it here would only break `kubectl apply` by the cluster
 * admin (and GitOps pipelines running as it).
 */
export const DEFAULT_ADMIN_GROUPS: readonly string[] = ["gridvm:admins", "system:masters"];

/** Everything the decision needs, all of it easy to take from informer caches. */
export interface ClusterFacts {
  permissions: readonly Permission[];
  templates: readonly VMTemplate[];
  /** The owner's VMInstances in every namespace; the evaluated instance itself may be among them. */
  ownerInstances: readonly VMInstance[];
}

export interface AuthorizationInput {
  requester: Requester;
  /** The instance as it would be stored (owner defaulted, see defaultOwner). */
  instance: VMInstance;
  /** The stored instance, for an UPDATE. */
  oldInstance?: VMInstance;
  facts: ClusterFacts;
}

export interface EvaluatorOptions {
  adminGroups: readonly string[];
}

export type Rule =
  "owner" | "derive" | "modify" | "run" | "isolation" | "maxRunning" | "maxStorage";

export type Decision =
  { allowed: true; reason: string } | { allowed: false; rule: Rule; message: string };

/** The owner an instance gets when it names none: whoever creates it. */
export function defaultOwner(instance: VMInstance, requester: Requester): string {
  return instance.spec.owner ?? requester.username;
}

export function evaluate(
  input: AuthorizationInput,
  opts: EvaluatorOptions = { adminGroups: DEFAULT_ADMIN_GROUPS },
): Decision {
  const early = decidedWithoutFacts(input, opts);
  if (early) return early;
  const { requester, instance: vm, oldInstance: old, facts } = input;

  const user = `user "${requester.username}"`;
  const name = instanceName(vm);
  const owner = defaultOwner(vm, requester);
  const isOwner = owner === requester.username;
  const templates = new Map(facts.templates.map((t) => [t.metadata.name ?? "", t]));
  const template = templates.get(vm.spec.template);
  const target = targetOf(vm.spec.template, template);
  const applicable = applicablePermissions(facts.permissions, requester, target);

  // 2. owner
  if (!isOwner && (!old || old.spec.owner === undefined)) {
    return deny(
      "owner",
      `${user} may not ${old ? "update" : "create"} vminstance ${name} for user "${owner}": only admins may name another owner`,
    );
  }

  // 3. derive / modify, decided once at creation
  if (!old) {
    const denial = creationDenial(user, vm, template, target, applicable);
    if (denial) return denial;
  }

  if (vm.spec.running === true) {
    // 4. run
    if (!isOwner && !grants(applicable, "run")) {
      return deny(
        "run",
        `${user} may not run vminstance ${name}: no permission grants run on its template "${vm.spec.template}"${groupTail(target)}`,
      );
    }
    // 5. isolation
    if (vm.spec.isolated !== true) {
      const forcing = applicable.find((p) => p.spec.forceIsolated === true);
      if (forcing)
        return deny(
          "isolation",
          `${user} may not run vminstance ${name} unisolated: permission "${forcing.metadata.name}" forces isolation`,
        );
    }
  }

  // 6. quotas
  const others = facts.ownerInstances.filter((o) => o.spec.owner === owner && !sameObject(o, vm));
  const startsRunning = vm.spec.running === true && old?.spec.running !== true;
  const derivesStorage = !old && template !== undefined && chargesOwnerStorage(vm);
  for (const p of applicable) {
    const limits = p.spec.limits;
    if (!limits || (!startsRunning && !derivesStorage)) continue;
    const used = usageWithin(p, others, templates);
    const scope =
      p.spec.target.template !== undefined
        ? `template "${p.spec.target.template}"`
        : `VM group "${p.spec.target.vmGroup}"`;
    if (startsRunning && limits.maxRunning !== undefined && used.running + 1 > limits.maxRunning) {
      return deny(
        "maxRunning",
        `${user} may not run vminstance ${name}: permission "${p.metadata.name}" allows at most ${limits.maxRunning} running VMs on ${scope} and ${used.running} already run`,
      );
    }
    if (derivesStorage && limits.maxStorage !== undefined) {
      const max = parseQuantity(limits.maxStorage);
      const needed = templateStorage(template);
      if (used.storage + needed > max) {
        return deny(
          "maxStorage",
          `${user} may not derive template "${vm.spec.template}" as vminstance ${name}: permission "${p.metadata.name}" allows ${limits.maxStorage} of storage on ${scope}, ${formatQuantity(used.storage)} is in use and this needs ${formatQuantity(needed)}`,
        );
      }
    }
  }

  return allow(isOwner ? "owner within their permissions" : "granted by permissions");
}

/**
 * The decisions that need no cluster facts (admins, deletions, metadata-only updates), so a
 * caller that must fetch facts can skip the fetch.
 */
export function decidedWithoutFacts(
  input: Omit<AuthorizationInput, "facts">,
  opts: EvaluatorOptions = { adminGroups: DEFAULT_ADMIN_GROUPS },
): Decision | undefined {
  const { requester, instance: vm, oldInstance: old } = input;
  if (old && vm.metadata.deletionTimestamp) return allow("the instance is being deleted");
  if (old && sameSpec(old, vm)) return allow("spec unchanged");
  if (isAdmin(requester, opts.adminGroups)) return allow("admin");
  return undefined;
}

function creationDenial(
  user: string,
  vm: VMInstance,
  template: VMTemplate | undefined,
  target: Target,
  applicable: readonly Permission[],
): Decision | undefined {
  const templateMode = vm.spec.diskMode === "Template";
  const verb = templateMode ? "modify" : "derive";
  const subject = `${user} may not ${verb} template "${vm.spec.template}"`;
  if (!template) return deny(verb, `${subject}: it does not exist`);
  if (!grants(applicable, verb))
    return deny(verb, `${subject}: no permission grants ${verb} ${describeScope(target)}`);
  if (!templateMode && template.spec.derivable !== true)
    return deny("derive", `${subject}: it is not derivable`);
  return undefined;
}

function groupTail(target: Target): string {
  return target.vmGroup === undefined ? "" : ` or its VM group "${target.vmGroup}"`;
}

function instanceName(vm: VMInstance): string {
  // The namespace is the owner's and implied; the paper's messages name the vm only.
  return `"${vm.metadata.name ?? `${vm.metadata.generateName ?? ""}*`}"`;
}

function sameSpec(a: VMInstance, b: VMInstance): boolean {
  return canonical(a.spec) === canonical(b.spec);
}

/** JSON with sorted keys, so two specs that differ only in key order compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y)),
        )
      : v,
  );
}

function allow(reason: string): Decision {
  return { allowed: true, reason };
}

function deny(rule: Rule, message: string): Decision {
  return { allowed: false, rule, message };
}
