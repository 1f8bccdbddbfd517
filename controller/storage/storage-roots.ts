import { realpath } from "node:fs/promises";
import { isAbsolute, resolve, sep } from "node:path";

/** The folders gridvm reads from and writes to; every user-named path must resolve inside one. */
export interface StorageRoots {
  /** Template discs and users' overlays (shared with every execution host). */
  storage: string;
  /** Images an admin may copy or adopt as template discs. */
  import: string;
  /** Install media (cdrom). */
  iso: string;
  /** Kernels and initrds for direct kernel boot. */
  images: string;
}

export const defaultStorageRoots = (base = "/var/lib/gridvm"): StorageRoots => ({
  storage: `${base}/storage`,
  import: `${base}/import`,
  iso: `${base}/iso`,
  images: `${base}/images`,
});

export class PathOutsideRootError extends Error {
  constructor(
    readonly path: string,
    readonly root: string,
    why: string,
  ) {
    super(`${path}: ${why} (allowed: files under ${root})`);
    this.name = "PathOutsideRootError";
  }
}

/**
 * The real path of an existing file, checked to lie inside `root` after every symlink is resolved
 * (DESIGN invariant 5): a symlink under the import root pointing at /etc/shadow is refused.
 */
export async function resolveInsideRoot(path: string, root: string): Promise<string> {
  if (!isAbsolute(path)) throw new PathOutsideRootError(path, root, "not an absolute path");
  let real: string;
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    throw new PathOutsideRootError(path, root, `the root ${root} does not exist`);
  }
  try {
    real = await realpath(path);
  } catch {
    throw new PathOutsideRootError(path, root, "no such file");
  }
  if (!isInside(real, realRoot)) {
    throw new PathOutsideRootError(path, root, real === resolve(path) ? "outside the allowed root" : `resolves to ${real}, outside the allowed root`);
  }
  return real;
}

export function isInside(path: string, root: string): boolean {
  const r = root.endsWith(sep) ? root : root + sep;
  return path.startsWith(r);
}
