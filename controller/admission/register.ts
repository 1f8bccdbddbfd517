import {
  AdmissionregistrationV1Api,
  ApiException,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1ValidatingWebhookConfiguration,
} from "@kubernetes/client-node";

/** Creates or replaces both configurations (what `kubectl apply` does for the up script). */
export async function registerWebhooks(
  kc: KubeConfig,
  [mutating, validating]: [V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration],
): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const name = mutating.metadata!.name!;
  await upsert(
    () => api.createMutatingWebhookConfiguration({ body: mutating }),
    async () => {
      const current = await api.readMutatingWebhookConfiguration({ name });
      await api.replaceMutatingWebhookConfiguration({
        name,
        body: {
          ...mutating,
          metadata: { ...mutating.metadata, resourceVersion: current.metadata?.resourceVersion },
        },
      });
    },
  );
  await upsert(
    () => api.createValidatingWebhookConfiguration({ body: validating }),
    async () => {
      const current = await api.readValidatingWebhookConfiguration({ name });
      await api.replaceValidatingWebhookConfiguration({
        name,
        body: {
          ...validating,
          metadata: { ...validating.metadata, resourceVersion: current.metadata?.resourceVersion },
        },
      });
    },
  );
}

/** Removes both configurations; absent ones are fine (idempotent, safe in afterAll). */
export async function unregisterWebhooks(kc: KubeConfig, name: string): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  await ignoreNotFound(api.deleteMutatingWebhookConfiguration({ name }));
  await ignoreNotFound(api.deleteValidatingWebhookConfiguration({ name }));
}

async function upsert(create: () => Promise<unknown>, replace: () => Promise<void>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
    await replace();
  }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
  }
}
