import { Watch, type KubeConfig } from "@kubernetes/client-node";
import type { EventHandlers, KubeObject, Store } from "./cache.js";
import { collectionPath, kubeRequest } from "./kube-request.js";
import type { Logger } from "./log.js";
import { Reflector, type ListFn, type ReflectorOptions, type WatchFn } from "./reflector.js";

/** Which collection an informer follows. */
export interface ResourceSelector {
  /** "v1" or "group/version", e.g. "gridvm.io/v1alpha1". */
  apiVersion: string;
  /** Lower-case plural, e.g. "vminstances". */
  plural: string;
  /** Only this namespace; all namespaces when omitted. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

interface RawList<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/**
 * The list and watch functions for a collection, as the apiserver speaks them: paged lists (so 10k
 * objects do not come back in one response) and client-node's Watch for the stream.
 */
export function kubeListWatch<T extends KubeObject>(
  kc: KubeConfig,
  sel: ResourceSelector,
  opts: { pageSize?: number; requestTimeoutMs?: number } = {},
): { list: ListFn<T>; watch: WatchFn<T> } {
  const path = collectionPath(sel.apiVersion, sel.plural, sel.namespace);
  const selectors = { labelSelector: sel.labelSelector, fieldSelector: sel.fieldSelector };
  const list: ListFn<T> = async () => {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = "";
    do {
      const page = await kubeRequest<RawList<T>>(kc, "GET", path, {
        query: { ...selectors, limit: opts.pageSize ?? 500, continue: cont },
        timeoutMs: opts.requestTimeoutMs ?? 60_000,
      });
      items.push(...(page.items ?? []));
      // Every page of one list carries the same (first page's) resourceVersion.
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  };
  const watcher = new Watch(kc);
  const watch: WatchFn<T> = async (params, onEvent, onDone) => {
    const controller = await watcher.watch(
      path,
      {
        ...selectors,
        resourceVersion: params.resourceVersion,
        timeoutSeconds: params.timeoutSeconds,
        allowWatchBookmarks: params.allowWatchBookmarks,
      },
      (type: string, obj: T) => onEvent(type, obj),
      onDone,
    );
    return { abort: () => controller.abort() };
  };
  return { list, watch };
}

export type InformerOptions<T extends KubeObject> = Omit<
  ReflectorOptions<T>,
  "list" | "watch" | "name"
> & {
  name?: string;
  log?: Logger;
};

/** A store kept in sync with one collection, plus the handlers that hear about changes. */
export class Informer<T extends KubeObject> {
  readonly reflector: Reflector<T>;

  constructor(kc: KubeConfig, sel: ResourceSelector, opts: InformerOptions<T> = {}) {
    const { list, watch } = kubeListWatch<T>(kc, sel);
    this.reflector = new Reflector<T>({
      ...opts,
      name: opts.name ?? `${sel.plural}.${sel.apiVersion}`,
      list,
      watch,
    });
  }

  get store(): Store<T> {
    return this.reflector.store;
  }

  addEventHandler(h: EventHandlers<T>): void {
    this.reflector.addHandler(h);
  }

  start(): void {
    this.reflector.start();
  }

  stop(): Promise<void> {
    return this.reflector.stop();
  }

  hasSynced(): boolean {
    return this.reflector.hasSynced();
  }

  waitForSync(timeoutMs?: number): Promise<boolean> {
    return this.reflector.waitForSync(timeoutMs);
  }
}
