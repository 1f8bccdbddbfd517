import { join } from "node:path";
import { ApiException, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { runCommand, type RunResult } from "../../controller/machinery/command.js";
import { GROUP, VERSION } from "../../controller/api/generated/types.js";
import { loadCrds } from "../../controller/api/crd-schemas.js";
import { ADMIN_KUBECONFIG, KUBE_BIN, userKubeconfig } from "./paths.js";

/** A KubeConfig for the local cluster's admin, or for one of its static-token users. */
export function kubeConfigFor(user?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(user ? userKubeconfig(user) : ADMIN_KUBECONFIG);
  return kc;
}

export function customObjects(user?: string): CustomObjectsApi {
  return kubeConfigFor(user).makeApiClient(CustomObjectsApi);
}

/** Runs the kubectl built for the local cluster as the admin, or as `user`. */
export function kubectl(args: readonly string[], opts: { user?: string; input?: string; okExitCodes?: number[] } = {}): Promise<RunResult> {
  return runCommand(join(KUBE_BIN, "kubectl"), [`--kubeconfig=${opts.user ? userKubeconfig(opts.user) : ADMIN_KUBECONFIG}`, ...args], {
    timeoutMs: 60_000,
    input: opts.input,
    okExitCodes: opts.okExitCodes,
  });
}

const plurals = new Map(loadCrds().map((c) => [c.kind, { plural: c.plural, namespaced: c.scope === "Namespaced" }]));

interface Manifest {
  kind: string;
  metadata: { name?: string; namespace?: string };
}

/** Creates a gridvm object with strict field validation, as `kubectl apply` would. */
export async function createObject(obj: Manifest, user?: string): Promise<unknown> {
  const info = plurals.get(obj.kind);
  if (!info) throw new Error(`not a gridvm kind: ${obj.kind}`);
  const api = customObjects(user);
  const common = { group: GROUP, version: VERSION, plural: info.plural, body: obj, fieldValidation: "Strict" };
  return info.namespaced
    ? api.createNamespacedCustomObject({ ...common, namespace: obj.metadata.namespace ?? "default" })
    : api.createClusterCustomObject(common);
}

export async function deleteObject(obj: Manifest): Promise<void> {
  const info = plurals.get(obj.kind);
  if (!info || !obj.metadata.name) return;
  const api = customObjects();
  const common = { group: GROUP, version: VERSION, plural: info.plural, name: obj.metadata.name };
  try {
    await (info.namespaced
      ? api.deleteNamespacedCustomObject({ ...common, namespace: obj.metadata.namespace ?? "default" })
      : api.deleteClusterCustomObject(common));
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
  }
}

/** The apiserver's refusal of a request: HTTP code and the Status message. */
export async function refusal(request: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await request;
  } catch (err) {
    if (err instanceof ApiException) {
      const body: unknown = typeof err.body === "string" ? safeJson(err.body) : err.body;
      const message = (body as { message?: string } | undefined)?.message ?? String(err.body);
      return { code: err.code, message };
    }
    throw err;
  }
  throw new Error("the apiserver accepted a request that should have been refused");
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
