import type { Permission, VMTemplate } from "../api/generated/types.js";

/** Who asks: the identity the apiserver authenticated (AdmissionReview userInfo). */
export interface Requester {
  username: string;
  groups: readonly string[];
}

export type Right = "run" | "modify" | "derive";

/** What a Permission can be aimed at: a template by name, and the template's VM group. */
export interface Target {
  template: string;
  /** Undefined when the template does not exist (yet): only template-targeted grants can match. */
  vmGroup?: string;
}

export function isAdmin(requester: Requester, adminGroups: readonly string[]): boolean {
  return requester.groups.some((g) => adminGroups.includes(g));
}

/** The Permission names the requester, as a User or through one of their groups. */
export function namesRequester(permission: Permission, requester: Requester): boolean {
  return permission.spec.subjects.some((s) =>
    s.kind === "User" ? s.name === requester.username : requester.groups.includes(s.name),
  );
}

/** The Permission is aimed at the template itself or at its VM group. */
export function aimsAt(permission: Permission, target: Target): boolean {
  const t = permission.spec.target;
  if (t.template !== undefined) return t.template === target.template;
  return t.vmGroup !== undefined && t.vmGroup === target.vmGroup;
}

/**
 * The Permissions that apply to this requester on this target, sorted by name so that the one a
 * message names is stable whatever order the cache lists them in.
 */
export function applicablePermissions(
  permissions: readonly Permission[],
  requester: Requester,
  target: Target,
): Permission[] {
  return permissions
    .filter(
      (p) => p.spec?.subjects && p.spec.target && namesRequester(p, requester) && aimsAt(p, target),
    )
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
}

export function grants(applicable: readonly Permission[], right: Right): Permission | undefined {
  return applicable.find((p) => (p.spec.allow ?? []).includes(right));
}

export function targetOf(templateName: string, template: VMTemplate | undefined): Target {
  return template
    ? { template: templateName, vmGroup: template.spec.vmGroup }
    : { template: templateName };
}

/** "on it or its VM group "lab1"", the tail of a "no permission grants X ..." sentence. */
export function describeScope(target: Target): string {
  return target.vmGroup === undefined ? "on it" : `on it or its VM group "${target.vmGroup}"`;
}
