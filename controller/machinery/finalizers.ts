import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject } from "./cache.js";
import { kubeRequest } from "./kube-request.js";

/** The controller's finalizer: everything it allocated is freed before an object may go. */
export const GRIDVM_FINALIZER = "gridvm.io/cleanup";

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return (obj.metadata?.finalizers ?? []).includes(finalizer);
}

export function withFinalizer(
  finalizers: readonly string[] | undefined,
  finalizer: string,
): string[] {
  const list = [...(finalizers ?? [])];
  return list.includes(finalizer) ? list : [...list, finalizer];
}

export function withoutFinalizer(
  finalizers: readonly string[] | undefined,
  finalizer: string,
): string[] {
  return (finalizers ?? []).filter((f) => f !== finalizer);
}

export type JsonPatchOp =
  | { op: "test"; path: string; value: unknown }
  | { op: "add" | "replace"; path: string; value: unknown }
  | { op: "remove"; path: string };

/**
 * A JSON patch that sets metadata.finalizers only if nobody changed them since we read `obj`:
 * the `test` op makes the apiserver reject the patch (422) instead of silently dropping another
 * controller's finalizer. With no finalizers yet, the guard is the resourceVersion instead (a
 * `test` on a missing path would always fail).
 */
export function finalizerPatch(obj: KubeObject, finalizers: readonly string[]): JsonPatchOp[] {
  const current = obj.metadata?.finalizers;
  if (current === undefined) {
    const rv = obj.metadata?.resourceVersion;
    if (!rv) throw new Error("finalizerPatch: object has neither finalizers nor a resourceVersion");
    return [
      { op: "test", path: "/metadata/resourceVersion", value: rv },
      { op: "add", path: "/metadata/finalizers", value: [...finalizers] },
    ];
  }
  return [
    { op: "test", path: "/metadata/finalizers", value: current },
    { op: "replace", path: "/metadata/finalizers", value: [...finalizers] },
  ];
}

/**
 * Adds or removes `finalizer` on the object at `path` (its REST path). Returns the patched object,
 * or `obj` untouched when there is nothing to do. A concurrent change surfaces as an error
 * (422/409): requeue and retry with a fresh read.
 */
export async function patchFinalizer<T extends KubeObject>(
  kc: KubeConfig,
  path: string,
  obj: T,
  finalizer: string,
  want: "present" | "absent",
): Promise<T> {
  const has = hasFinalizer(obj, finalizer);
  if ((want === "present") === has) return obj;
  const next =
    want === "present"
      ? withFinalizer(obj.metadata?.finalizers, finalizer)
      : withoutFinalizer(obj.metadata?.finalizers, finalizer);
  return kubeRequest<T>(kc, "PATCH", path, {
    body: finalizerPatch(obj, next),
    contentType: "application/json-patch+json",
  });
}
