import type { KubeConfig } from "@kubernetes/client-node";
import {
  API_VERSION,
  type Permission,
  type VMInstance,
  type VMTemplate,
} from "../api/generated/types.js";
import type { ClusterFacts } from "../authorization/evaluate.js";
import { collectionPath, kubeRequest } from "../machinery/kube-request.js";
import type { Store } from "../machinery/cache.js";
import { Informer } from "../machinery/informer.js";
import type { Logger } from "../machinery/log.js";

/**
 * Where the evaluator's facts come from. The standalone webhook lists from the apiserver; the
 * controller passes its informer stores (storeFacts), so admission and re-check read the same
 * kind of data through the same evaluator.
 */
export interface FactSource {
  factsFor(owner: string): Promise<ClusterFacts>;
}

interface List<T> {
  items: T[];
}

/** Direct list calls, three per review (run in parallel). Fine for a lab; the controller uses caches. */
export class ApiFactSource implements FactSource {
  constructor(
    private readonly kc: KubeConfig,
    private readonly timeoutMs = 3_000,
  ) {}

  async factsFor(owner: string): Promise<ClusterFacts> {
    const list = <T>(plural: string) =>
      kubeRequest<List<T>>(this.kc, "GET", collectionPath(API_VERSION, plural), {
        timeoutMs: this.timeoutMs,
      }).then((l) => l.items);
    const [permissions, templates, instances] = await Promise.all([
      list<Permission>("permissions"),
      list<VMTemplate>("vmtemplates"),
      list<VMInstance>("vminstances"),
    ]);
    return {
      permissions,
      templates,
      ownerInstances: instances.filter((i) => i.spec?.owner === owner),
    };
  }
}

/** Facts from informer stores (controller/machinery/cache.ts): no I/O at all. */
export function storeFacts(stores: {
  permissions: Store<Permission>;
  templates: Store<VMTemplate>;
  instances: Store<VMInstance>;
}): FactSource {
  return {
    factsFor: (owner) =>
      Promise.resolve({
        permissions: stores.permissions.list(),
        templates: stores.templates.list(),
        ownerInstances: stores.instances.list().filter((i) => i.spec?.owner === owner),
      }),
  };
}

/**
 * Informer-backed facts for the standalone server: a review costs no API call (the direct lists
 * cost 30-100 ms here). The price is a cache that lags the apiserver by a watch event; the
 * controller's re-check is what closes that race, as it closes concurrent-create races anyway.
 */
export async function informerFacts(
  kc: KubeConfig,
  log?: Logger,
  syncTimeoutMs = 30_000,
): Promise<{ source: FactSource; stop: () => Promise<void> }> {
  const permissions = new Informer<Permission>(
    kc,
    { apiVersion: API_VERSION, plural: "permissions" },
    { log },
  );
  const templates = new Informer<VMTemplate>(
    kc,
    { apiVersion: API_VERSION, plural: "vmtemplates" },
    { log },
  );
  const instances = new Informer<VMInstance>(
    kc,
    { apiVersion: API_VERSION, plural: "vminstances" },
    { log },
  );
  const all = [permissions, templates, instances];
  for (const i of all) i.start();
  const synced = await Promise.all(all.map((i) => i.waitForSync(syncTimeoutMs)));
  const stop = async () => {
    await Promise.all(all.map((i) => i.stop()));
  };
  if (synced.includes(false)) {
    await stop();
    throw new Error(
      `the Permission, VMTemplate and VMInstance caches did not sync within ${syncTimeoutMs} ms`,
    );
  }
  return {
    source: storeFacts({
      permissions: permissions.store,
      templates: templates.store,
      instances: instances.store,
    }),
    stop,
  };
}
