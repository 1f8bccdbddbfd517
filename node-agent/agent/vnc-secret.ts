import type { KubeConfig } from "@kubernetes/client-node";
import { API_VERSION, type VMInstance } from "../../controller/api/generated/types.js";
import { isNotFound, kubeRequest } from "../../controller/machinery/kube-request.js";

/** The Secret that holds a VM's VNC password: `<instance>-vnc`, key `password`. */
export function vncSecretName(instanceName: string): string {
  return `${instanceName}-vnc`;
}

interface Secret {
  apiVersion: "v1";
  kind: "Secret";
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
    }[];
  };
  type: string;
  data?: Record<string, string>;
}

/** The Secret as it should be: owned by the instance, so deleting the instance deletes it. Pure. */
export function vncSecret(instance: VMInstance, password: string): Secret {
  const name = instance.metadata.name ?? "";
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: vncSecretName(name),
      namespace: instance.metadata.namespace ?? "",
      labels: { "gridvm.io/vminstance": name },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: "VMInstance",
          name,
          uid: instance.metadata.uid ?? "",
          controller: true,
        },
      ],
    },
    type: "Opaque",
    data: { password: Buffer.from(password).toString("base64") },
  };
}

const path = (ns: string, name?: string) =>
  `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets${name ? `/${encodeURIComponent(name)}` : ""}`;

/**
 * Makes the instance's VNC Secret hold `password`: one GET when it is already right, a create or
 * an update otherwise. Returns whether it wrote.
 */
export async function ensureVncSecret(
  kc: KubeConfig,
  instance: VMInstance,
  password: string,
): Promise<boolean> {
  const want = vncSecret(instance, password);
  const { namespace, name } = want.metadata;
  let have: Secret | undefined;
  try {
    have = await kubeRequest<Secret>(kc, "GET", path(namespace, name));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!have) {
    await kubeRequest(kc, "POST", path(namespace), { body: want });
    return true;
  }
  const owned = have.metadata.ownerReferences?.some((r) => r.uid === instance.metadata.uid);
  if (owned && have.data?.password === want.data?.password) return false;
  await kubeRequest(kc, "PUT", path(namespace, name), {
    body: {
      ...want,
      metadata: { ...want.metadata, resourceVersion: have.metadata.resourceVersion },
    },
  });
  return true;
}

/** The password dies with the VM; so does its Secret. Returns whether it deleted one. */
export async function deleteVncSecret(
  kc: KubeConfig,
  namespace: string,
  instanceName: string,
): Promise<boolean> {
  try {
    await kubeRequest(kc, "DELETE", path(namespace, vncSecretName(instanceName)));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
