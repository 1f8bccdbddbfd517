import { createHash } from "node:crypto";
import { join } from "node:path";

/**
 * Where discs live under the storage root. Pure: the same inputs always name the same file, so a
 * reconcile that crashed halfway finds what it already made.
 *
 *   <storage>/templates/<template>/<disk>.qcow2
 *   <storage>/users/<owner>/<namespace>.<instance>.<disk>.qcow2   (the paper's per-user storage folder)
 */
export function templateDiskPath(storageRoot: string, template: string, disk: string): string {
  return join(storageRoot, "templates", template, `${disk}.qcow2`);
}

export function overlayPath(storageRoot: string, owner: string, namespace: string, instance: string, disk: string): string {
  return join(userFolder(storageRoot, owner), `${namespace}.${instance}.${disk}.qcow2`);
}

export function userFolder(storageRoot: string, owner: string): string {
  return join(storageRoot, "users", safeSegment(owner));
}

/**
 * A user name as one path segment. Kubernetes user names may hold ':' '/' '@' (e.g.
 * "system:serviceaccount:ns:sa", "jane@uni.edu"); those are replaced and a short hash keeps two
 * names that map to the same text apart.
 */
export function safeSegment(name: string): string {
  if (/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/.test(name)) return name;
  const cleaned = name.replace(/[^a-zA-Z0-9._-]/g, "_").replace(/^[._-]+/, "").slice(0, 48) || "user";
  return `${cleaned}-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
}
