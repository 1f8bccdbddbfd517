import type { KubeConfig } from "@kubernetes/client-node";
import { collectionPath, kubeRequest } from "../machinery/kube-request.js";

export interface ObjectCoordinates {
  apiVersion: string;
  kind: string;
  plural: string;
  name: string;
  namespace?: string;
}

/**
 * Writes a status with server-side apply under the caller's own field manager: the controller and
 * the node agent each own their fields (and their condition types — conditions are a map keyed by
 * type), so neither clobbers the other. Fields this manager set before and leaves out now are
 * removed, which is how a stopped VM loses its host.
 */
export async function applyStatus(kc: KubeConfig, at: ObjectCoordinates, status: object, fieldManager: string): Promise<void> {
  const path = statusPath(at);
  await kubeRequest(kc, "PATCH", path, {
    query: { fieldManager, force: true },
    contentType: "application/apply-patch+yaml",
    body: { apiVersion: at.apiVersion, kind: at.kind, metadata: { name: at.name, ...(at.namespace ? { namespace: at.namespace } : {}) }, status },
    timeoutMs: 30_000,
  });
}

/** A JSON merge patch of the status, to clear fields another manager left behind (null removes). */
export async function mergeStatus(kc: KubeConfig, at: ObjectCoordinates, status: object): Promise<void> {
  const path = statusPath(at);
  await kubeRequest(kc, "PATCH", path, { contentType: "application/merge-patch+json", body: { status }, timeoutMs: 30_000 });
}

function statusPath(at: ObjectCoordinates): string {
  return `${collectionPath(at.apiVersion, at.plural, at.namespace)}/${encodeURIComponent(at.name)}/status`;
}
