import type { VMInstance } from "../api/generated/types.js";
import { OWNER_GROUPS_ANNOTATION } from "../authorization/owner-identity.js";
import { isAdmin, type Requester } from "../authorization/permissions.js";
import { pointerSegment, type JsonPatchOp } from "./review.js";

export interface MutationInput {
  operation: "CREATE" | "UPDATE";
  requester: Requester;
  instance: VMInstance;
  oldInstance?: VMInstance;
  adminGroups: readonly string[];
}

/**
 * The JSONPatch that defaults spec.owner (CREATE: the requester; UPDATE: the stored owner, so a
 * `kubectl replace` of a manifest without owner keeps it) and maintains the owner-groups
 * annotation. Pure; an empty list means nothing to change.
 */
export function ownerPatch(input: MutationInput): JsonPatchOp[] {
  const { operation, requester, instance, oldInstance, adminGroups } = input;
  const patch: JsonPatchOp[] = [];
  let owner = instance.spec.owner;
  if (owner === undefined) {
    owner = operation === "CREATE" ? requester.username : oldInstance?.spec.owner;
    if (owner !== undefined) patch.push({ op: "add", path: "/spec/owner", value: owner });
  }

  const annotations = instance.metadata.annotations;
  const current = annotations?.[OWNER_GROUPS_ANNOTATION];
  let wanted: string | undefined = current;
  if (owner === requester.username) wanted = JSON.stringify([...requester.groups].sort());
  else if (!isAdmin(requester, adminGroups))
    wanted = oldInstance?.metadata.annotations?.[OWNER_GROUPS_ANNOTATION];
  if (wanted === current) return patch;

  const path = `/metadata/annotations/${pointerSegment(OWNER_GROUPS_ANNOTATION)}`;
  if (wanted === undefined) patch.push({ op: "remove", path });
  else if (!annotations)
    patch.push({
      op: "add",
      path: "/metadata/annotations",
      value: { [OWNER_GROUPS_ANNOTATION]: wanted },
    });
  else patch.push({ op: "add", path, value: wanted });
  return patch;
}
