import type { VMInstance } from "../api/generated/types.js";
import type { Requester } from "./permissions.js";

/**
 * The owner's groups as the apiserver authenticated them at the owner's last write (a JSON array).
 * The controller's re-check has no requester, and group-based Permissions (the paper's "studs")
 * need the owner's groups: only the admission webhook sees them, so it stamps them here and keeps
 * anyone but the owner and admins from changing them.
 */
export const OWNER_GROUPS_ANNOTATION = "gridvm.io/owner-groups";

/** The owner as a Requester, for a re-check without a request (the controller's). */
export function ownerIdentity(instance: VMInstance): Requester | undefined {
  const owner = instance.spec.owner;
  if (owner === undefined) return undefined;
  let groups: string[] = [];
  try {
    const parsed: unknown = JSON.parse(
      instance.metadata.annotations?.[OWNER_GROUPS_ANNOTATION] ?? "[]",
    );
    if (Array.isArray(parsed)) groups = parsed.filter((g): g is string => typeof g === "string");
  } catch {
    // A malformed annotation (only an admin can write one) means: no groups.
  }
  return { username: owner, groups };
}
