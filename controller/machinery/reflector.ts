import { realClock, sleep, type Clock, type TimerHandle } from "./clock.js";
import { objectKey, Store, type EventHandlers, type KubeObject } from "./cache.js";
import { errorCode, KubeRequestError, type KubeStatus } from "./kube-request.js";
import type { Logger } from "./log.js";

/**
 * Keeps a Store in step with the apiserver: client-go `tools/cache/reflector.go` in TypeScript.
 *
 * Loop: list (remember the list's resourceVersion) -> replace the store -> watch from that version
 * (timeoutSeconds randomised so replicas do not reconnect in lockstep, bookmarks on so the version
 * we resume from stays fresh) -> when the server ends the watch normally, watch again from the last
 * version seen. A 410 Gone (HTTP or an in-stream ERROR event) means our version fell out of the
 * watch cache: relist at once. Any other failure, or a watch on which nothing at all (not even a
 * bookmark) arrives for too long, backs off and relists. The loop never gives up: client-node's own
 * informer stops for good on the first non-410 error, which is why this exists.
 */

export interface ListResult<T> {
  items: T[];
  /** The collection's resourceVersion: the point the watch resumes from. */
  resourceVersion: string;
}

export type ListFn<T> = () => Promise<ListResult<T>>;

export interface WatchParams {
  resourceVersion: string;
  timeoutSeconds: number;
  allowWatchBookmarks: boolean;
}

export interface WatchHandle {
  abort(): void;
}

/** Starts a watch; events and the end of the stream arrive through the callbacks. */
export type WatchFn<T> = (
  params: WatchParams,
  onEvent: (type: string, obj: T | KubeStatus) => void,
  onDone: (err: unknown) => void,
) => Promise<WatchHandle>;

export interface ReflectorOptions<T extends KubeObject> {
  name: string;
  list: ListFn<T>;
  watch: WatchFn<T>;
  store?: Store<T>;
  handlers?: EventHandlers<T>[];
  clock?: Clock;
  /** Injected for deterministic tests; returns [0, 1). */
  random?: () => number;
  log?: Logger;
  /** Server-side watch timeout range (client-go: 5..10 min). */
  minWatchTimeoutSeconds?: number;
  maxWatchTimeoutSeconds?: number;
  /**
   * Force a reconnect when nothing arrives for this long. Default: the watch's own timeout plus
   * 30 s, i.e. the server should have closed it by then; a silent half-open TCP connection won't.
   */
  idleTimeoutMs?: number;
  /** Backoff between failed attempts: doubles from initial to max; resets after a quiet period. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  backoffResetAfterMs?: number;
  /** A watch that ends normally sooner than this with no events counts as a failure. */
  minWatchDurationMs?: number;
}

type WatchOutcome =
  { kind: "closed"; resourceVersion: string } | { kind: "expired" } | { kind: "stopped" };

export class WatchStalledError extends Error {
  constructor(idleMs: number) {
    super(`watch stalled: nothing received for ${idleMs} ms`);
    this.name = "WatchStalledError";
  }
}

export class Reflector<T extends KubeObject> {
  readonly store: Store<T>;
  private readonly opts: Required<
    Omit<ReflectorOptions<T>, "store" | "handlers" | "log" | "idleTimeoutMs">
  > & { idleTimeoutMs?: number };
  private readonly handlers: EventHandlers<T>[];
  private readonly log: Logger | undefined;
  private readonly clock: Clock;

  private stopped = false;
  private readonly stopSignal = new AbortController();
  private running: Promise<void> | undefined;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private abortCurrentWatch: (() => void) | undefined;
  private lastResourceVersion = "";
  private backoffMs = 0;
  private lastFailureAt = -Infinity;

  /** Counters for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, expired: 0, failures: 0, stalls: 0, events: 0 };
  lastError: unknown;

  constructor(opts: ReflectorOptions<T>) {
    this.store = opts.store ?? new Store<T>();
    this.handlers = opts.handlers ?? [];
    this.log = opts.log;
    this.clock = opts.clock ?? realClock;
    this.opts = {
      name: opts.name,
      list: opts.list,
      watch: opts.watch,
      clock: this.clock,
      random: opts.random ?? Math.random,
      minWatchTimeoutSeconds: opts.minWatchTimeoutSeconds ?? 300,
      maxWatchTimeoutSeconds: opts.maxWatchTimeoutSeconds ?? 600,
      idleTimeoutMs: opts.idleTimeoutMs,
      backoffInitialMs: opts.backoffInitialMs ?? 800,
      backoffMaxMs: opts.backoffMaxMs ?? 30_000,
      backoffResetAfterMs: opts.backoffResetAfterMs ?? 120_000,
      minWatchDurationMs: opts.minWatchDurationMs ?? 1_000,
    };
  }

  addHandler(h: EventHandlers<T>): void {
    this.handlers.push(h);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once the first list has landed in the store, false on timeout or stop. */
  waitForSync(timeoutMs = 60_000): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve(this.synced), timeoutMs);
      this.syncWaiters.push(() => {
        timer.cancel();
        resolve(this.synced);
      });
    });
  }

  /** The resourceVersion the next watch would resume from. */
  resourceVersion(): string {
    return this.lastResourceVersion;
  }

  start(): void {
    if (this.running) return;
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.abort();
    this.abortCurrentWatch?.();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    waiters.forEach((w) => w());
    await this.running;
  }

  /** Drops the current watch connection as if the network had failed (for tests and debugging). */
  dropWatch(): void {
    this.abortCurrentWatch?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let relistAtOnce = false;
      try {
        relistAtOnce = await this.listAndWatch();
      } catch (err) {
        if (this.stopped) break;
        this.stats.failures++;
        this.lastError = err;
        if (err instanceof WatchStalledError) this.stats.stalls++;
        const delay = this.nextBackoff();
        this.log?.warn(
          { reflector: this.opts.name, err: String(err), retryInMs: delay },
          "list/watch failed",
        );
        await sleep(this.clock, delay, this.stopSignal.signal);
        continue;
      }
      if (!relistAtOnce) break;
    }
  }

  /** Returns true when the caller should relist immediately (410), false when stopped. */
  private async listAndWatch(): Promise<boolean> {
    this.stats.lists++;
    const listed = await this.opts.list();
    if (this.stopped) return false;
    this.applyList(listed);
    let rv = listed.resourceVersion;
    for (;;) {
      const outcome = await this.watchOnce(rv);
      if (outcome.kind === "stopped") return false;
      if (outcome.kind === "expired") {
        this.stats.expired++;
        this.log?.info(
          { reflector: this.opts.name, resourceVersion: rv },
          "watch expired (410), relisting",
        );
        return true;
      }
      rv = outcome.resourceVersion;
    }
  }

  private applyList(listed: ListResult<T>): void {
    const { added, updated, deleted } = this.store.replace(listed.items);
    this.lastResourceVersion = listed.resourceVersion;
    for (const obj of added) this.dispatch((h) => h.onAdd?.(obj));
    for (const [oldObj, newObj] of updated) this.dispatch((h) => h.onUpdate?.(oldObj, newObj));
    for (const obj of deleted) this.dispatch((h) => h.onDelete?.(obj));
    if (!this.synced) {
      this.synced = true;
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      waiters.forEach((w) => w());
    }
  }

  private watchTimeoutSeconds(): number {
    const { minWatchTimeoutSeconds: min, maxWatchTimeoutSeconds: max } = this.opts;
    return Math.floor(min + this.opts.random() * (max - min + 1));
  }

  private nextBackoff(): number {
    const now = this.clock.now();
    const { backoffInitialMs, backoffMaxMs, backoffResetAfterMs } = this.opts;
    this.backoffMs =
      now - this.lastFailureAt > backoffResetAfterMs
        ? backoffInitialMs
        : Math.min(backoffMaxMs, Math.max(backoffInitialMs, this.backoffMs * 2));
    this.lastFailureAt = now;
    // Jitter up to +50% so many reflectors (or replicas) spread out after an outage.
    return Math.round(this.backoffMs * (1 + 0.5 * this.opts.random()));
  }

  private watchOnce(fromResourceVersion: string): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve, reject) => {
      const timeoutSeconds = this.watchTimeoutSeconds();
      const idleMs = this.opts.idleTimeoutMs ?? timeoutSeconds * 1000 + 30_000;
      const startedAt = this.clock.now();
      let lastActivity = startedAt;
      let events = 0;
      let rv = fromResourceVersion;
      let finished = false;
      let handle: WatchHandle | undefined;
      let idleTimer: TimerHandle | undefined;

      const finish = (settle: () => void): void => {
        if (finished) return;
        finished = true;
        idleTimer?.cancel();
        this.abortCurrentWatch = undefined;
        handle?.abort();
        settle();
      };
      const checkIdle = (): void => {
        const idleFor = this.clock.now() - lastActivity;
        if (idleFor >= idleMs) return finish(() => reject(new WatchStalledError(idleFor)));
        idleTimer = this.clock.setTimeout(checkIdle, idleMs - idleFor);
      };
      idleTimer = this.clock.setTimeout(checkIdle, idleMs);
      // stop() resolves; dropWatch() (a test's simulated network failure) rejects like a real drop.
      this.abortCurrentWatch = () =>
        finish(() =>
          this.stopped
            ? resolve({ kind: "stopped" })
            : reject(new Error("watch connection dropped")),
        );

      const onEvent = (type: string, obj: T | KubeStatus): void => {
        if (finished) return;
        lastActivity = this.clock.now();
        events++;
        this.stats.events++;
        if (type === "ERROR") {
          const status = obj as KubeStatus;
          if (status.code === 410) return finish(() => resolve({ kind: "expired" }));
          const msg = `watch ERROR event: ${status.code ?? "?"} ${status.reason ?? ""} ${status.message ?? ""}`;
          return finish(() => reject(new KubeRequestError(status.code ?? 0, status, msg.trim())));
        }
        const o = obj as T;
        const objRv = o.metadata?.resourceVersion;
        if (objRv) rv = objRv;
        this.lastResourceVersion = rv;
        if (type === "BOOKMARK") return;
        this.applyEvent(type, o);
      };

      const onDone = (err: unknown): void => {
        if (finished) return;
        if (err) {
          if (errorCode(err) === 410) return finish(() => resolve({ kind: "expired" }));
          return finish(() => reject(err));
        }
        const lasted = this.clock.now() - startedAt;
        if (events === 0 && lasted < this.opts.minWatchDurationMs) {
          return finish(() => reject(new Error(`watch closed after ${lasted} ms without events`)));
        }
        finish(() => resolve({ kind: "closed", resourceVersion: rv }));
      };

      this.stats.watches++;
      this.opts
        .watch(
          { resourceVersion: fromResourceVersion, timeoutSeconds, allowWatchBookmarks: true },
          onEvent,
          onDone,
        )
        .then(
          (h) => {
            // A watch abandoned (stall, stop) before it even connected is closed as soon as we can.
            if (finished) h.abort();
            else handle = h;
          },
          (err: unknown) => finish(() => reject(err)),
        );
    });
  }

  private applyEvent(type: string, obj: T): void {
    const key = objectKey(obj);
    switch (type) {
      case "ADDED":
      case "MODIFIED": {
        const old = this.store.upsert(obj);
        if (old) this.dispatch((h) => h.onUpdate?.(old, obj));
        else this.dispatch((h) => h.onAdd?.(obj));
        return;
      }
      case "DELETED": {
        const old = this.store.remove(key);
        if (old) this.dispatch((h) => h.onDelete?.(obj));
        return;
      }
      default:
        this.log?.warn({ reflector: this.opts.name, type }, "unknown watch event type");
    }
  }

  private dispatch(call: (h: EventHandlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        call(h);
      } catch (err) {
        // A broken handler must not break the watch (client-node's Watch would swallow it anyway).
        this.log?.error({ reflector: this.opts.name, err: String(err) }, "event handler threw");
      }
    }
  }
}
