/** The object shape the cache needs: just enough metadata to key and version it. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
}

/** "namespace/name" for namespaced objects, "name" for cluster-scoped ones (client-go's key). */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name ?? "";
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf("/");
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export interface EventHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

/**
 * The informer's in-memory view of one resource, keyed by objectKey. Reconcilers read it instead
 * of the apiserver; it is filled only by the reflector.
 */
export class Store<T extends KubeObject> {
  private readonly items = new Map<string, T>();

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  size(): number {
    return this.items.size;
  }

  /** Inserts or replaces; returns the previous object, if any. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.items.set(key, obj);
    return old;
  }

  remove(key: string): T | undefined {
    const old = this.items.get(key);
    this.items.delete(key);
    return old;
  }

  /**
   * Swaps the whole content for a fresh list and reports what changed, so handlers see adds,
   * updates (resourceVersion changed) and deletes that happened while the watch was down.
   */
  replace(objs: readonly T[]): { added: T[]; updated: [T, T][]; deleted: T[] } {
    const added: T[] = [];
    const updated: [T, T][] = [];
    const fresh = new Map<string, T>();
    for (const obj of objs) fresh.set(objectKey(obj), obj);
    const deleted: T[] = [];
    for (const [key, old] of this.items) if (!fresh.has(key)) deleted.push(old);
    for (const [key, obj] of fresh) {
      const old = this.items.get(key);
      if (!old) added.push(obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
        updated.push([old, obj]);
    }
    this.items.clear();
    for (const [key, obj] of fresh) this.items.set(key, obj);
    return { added, updated, deleted };
  }
}
