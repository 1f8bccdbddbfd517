import type { EventHandlers, KubeObject } from "./cache.js";
import { objectKey } from "./cache.js";
import { realClock, type Clock } from "./clock.js";
import type { Logger } from "./log.js";
import type { ControllerMetrics } from "./metrics.js";
import { WorkQueue, runWorkers, type RateLimiter, type ReconcileResult } from "./workqueue.js";

/**
 * The glue every reconciler repeats: informers feed keys into one work queue, N workers call
 * reconcile(key), failures back off per key, successes forget, everything is timed and counted.
 * Reconcilers stay level-triggered: they get a key, never an event, and read the current state
 * from the informer stores.
 */
/** Anything with an addEventHandler and a sync state: an Informer<T>. */
export interface Watched<T extends KubeObject> {
  hasSynced(): boolean;
  waitForSync(timeoutMs?: number): Promise<boolean>;
  addEventHandler(h: EventHandlers<T>): void;
}

export interface ControllerOptions {
  /** The kind it reconciles, e.g. "VMInstance": names the queue and labels metrics. */
  kind: string;
  reconcile: (key: string) => Promise<ReconcileResult | void>;
  workers?: number;
  metrics?: ControllerMetrics;
  log?: Logger;
  clock?: Clock;
  rateLimiter?: RateLimiter<string>;
}

export class Controller {
  readonly queue: WorkQueue<string>;
  private readonly sources: Watched<KubeObject>[] = [];
  private running: Promise<void> | undefined;
  private workersStarted = false;

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue<string>({
      name: o.kind.toLowerCase(),
      clock: o.clock ?? realClock,
      rateLimiter: o.rateLimiter,
      metrics: o.metrics?.workqueueSink(),
    });
  }

  /**
   * Enqueue keys on every change of `source`. `toKeys` maps an object to the keys to reconcile:
   * the object's own key by default; e.g. a VMGroup change maps to the VMInstances in it.
   */
  watch<T extends KubeObject>(
    source: Watched<T>,
    toKeys: (obj: T) => string[] = (o) => [objectKey(o)],
  ): this {
    const enqueue = (obj: T): void => {
      for (const k of toKeys(obj)) this.queue.add(k);
    };
    source.addEventHandler({
      onAdd: enqueue,
      onUpdate: (oldObj, newObj) => {
        enqueue(oldObj);
        enqueue(newObj);
      },
      onDelete: enqueue,
    });
    this.sources.push(source as unknown as Watched<KubeObject>);
    return this;
  }

  /** True once every watched source has synced (a /readyz check). */
  hasSynced(): boolean {
    return this.sources.every((s) => s.hasSynced());
  }

  /**
   * Waits for the caches, then runs the workers until stop(). Reconciling before the caches are
   * full would, e.g., hand out an IP that the cache simply had not seen yet (invariant 2).
   */
  run(syncTimeoutMs = 120_000): Promise<void> {
    this.running ??= (async () => {
      const synced = await Promise.all(this.sources.map((s) => s.waitForSync(syncTimeoutMs)));
      if (!synced.every(Boolean)) {
        if (this.queue.isShuttingDown()) return;
        throw new Error(
          `${this.o.kind} controller: caches did not sync within ${syncTimeoutMs} ms`,
        );
      }
      this.o.log?.info(
        { kind: this.o.kind, workers: this.o.workers ?? 2 },
        "caches synced, starting workers",
      );
      const metrics = this.o.metrics;
      this.workersStarted = true;
      await runWorkers(
        this.queue,
        this.o.workers ?? 2,
        (key) =>
          metrics
            ? metrics.timeReconcile(this.o.kind, () => this.o.reconcile(key))
            : this.o.reconcile(key),
        (key, err) =>
          this.o.log?.warn(
            { kind: this.o.kind, key, err: String(err) },
            "reconcile failed, retrying with backoff",
          ),
      );
    })();
    return this.running;
  }

  /** Stops taking keys and waits for in-flight reconciles to finish. */
  async stop(): Promise<void> {
    // Draining needs workers; before they start there is nothing in flight to wait for.
    if (this.workersStarted) await this.queue.shutDownWithDrain();
    else this.queue.shutDown();
    await this.running?.catch(() => undefined);
  }
}
