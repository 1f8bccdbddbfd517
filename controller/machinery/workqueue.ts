import { realClock, type Clock, type TimerHandle } from "./clock.js";

/**
 * A rate-limited, delaying work queue: client-go `util/workqueue` in TypeScript.
 *
 * - A key added many times before a worker takes it is processed once (the `dirty` set).
 * - A key is never handed to two workers at once: adding a key that is being processed only marks
 *   it dirty, and `done()` puts it back in line (the `processing` set). Reconcilers can therefore
 *   run N workers without per-key locks.
 * - `addAfter` schedules a key for later (one timer for the earliest of a min-heap, like client-go's
 *   delaying queue); `addRateLimited` asks the rate limiter how long (per-key exponential backoff),
 *   and `forget` resets that key's backoff after a success.
 * - `shutDown` stops accepting keys; workers still get what is queued, then `get()` answers
 *   undefined. `shutDownWithDrain` additionally waits until every handed-out key is `done`.
 */

export interface RateLimiter<K> {
  /** How long to wait before the key may be processed again (ms); counts a failure. */
  when(key: K): number;
  /** The key succeeded: reset its history. */
  forget(key: K): void;
  numRequeues(key: K): number;
}

/** Per-key exponential backoff: base * 2^failures, capped (client-go: 5 ms .. 1000 s). */
export class ItemExponentialFailureRateLimiter<K> implements RateLimiter<K> {
  private failures = new Map<K, number>();

  constructor(
    readonly baseMs = 5,
    readonly maxMs = 1_000_000,
  ) {}

  when(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity long after the cap is reached; Math.min keeps it finite.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * Overall token bucket (client-go's BucketRateLimiter, 10 qps / burst 100 by default): caps the
 * retry rate across all keys so a mass failure does not hammer the apiserver.
 */
export class BucketRateLimiter<K> implements RateLimiter<K> {
  private tokens: number;
  private last: number;

  constructor(
    readonly qps = 10,
    readonly burst = 100,
    private readonly clock: Clock = realClock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_key: K): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1; // reserve a token, possibly in the future (like rate.Limiter.Reserve)
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }

  forget(_key: K): void {}

  numRequeues(_key: K): number {
    return 0;
  }
}

/** The strictest of several limiters (client-go MaxOfRateLimiter). */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  private readonly limiters: RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    this.limiters = limiters;
  }

  when(key: K): number {
    return Math.max(0, ...this.limiters.map((l) => l.when(key)));
  }

  forget(key: K): void {
    for (const l of this.limiters) l.forget(key);
  }

  numRequeues(key: K): number {
    return Math.max(0, ...this.limiters.map((l) => l.numRequeues(key)));
  }
}

/** client-go DefaultControllerRateLimiter: per-key 5 ms..1000 s, overall 10 qps burst 100. */
export function defaultControllerRateLimiter<K>(clock: Clock = realClock): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(
    new ItemExponentialFailureRateLimiter<K>(5, 1_000_000),
    new BucketRateLimiter<K>(10, 100, clock),
  );
}

/** Hooks for Prometheus (see metrics.ts); every method is optional. */
export interface WorkQueueMetricsSink {
  add?(queue: string): void;
  depth?(queue: string, depth: number): void;
  /** Seconds a key waited in the queue before a worker took it. */
  queueLatency?(queue: string, seconds: number): void;
  /** Seconds between get() and done(). */
  workDuration?(queue: string, seconds: number): void;
  retry?(queue: string): void;
}

export interface WorkQueueOptions<K> {
  name?: string;
  clock?: Clock;
  rateLimiter?: RateLimiter<K>;
  metrics?: WorkQueueMetricsSink;
}

interface Delayed<K> {
  key: K;
  readyAt: number;
}

export class WorkQueue<K = string> {
  readonly name: string;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter<K>;
  private readonly metrics: WorkQueueMetricsSink;

  // FIFO as an array with a moving head: shift() is O(n), this is O(1) amortised.
  private queue: K[] = [];
  private head = 0;
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly addedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private waiters: ((key: K | undefined) => void)[] = [];
  private shuttingDown = false;
  private drainWaiters: (() => void)[] = [];

  // Delaying part: earliest ready time per key, and a heap that may hold stale entries
  // (skipped on pop when they no longer match `delayedAt`).
  private readonly delayedAt = new Map<K, number>();
  private heap: Delayed<K>[] = [];
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.name = opts.name ?? "default";
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? defaultControllerRateLimiter<K>(this.clock);
    this.metrics = opts.metrics ?? {};
  }

  /** Keys waiting for a worker (not counting delayed or in-flight ones). */
  len(): number {
    return this.queue.length - this.head;
  }

  /** Keys scheduled by addAfter that are not yet due. */
  delayedLen(): number {
    return this.delayedAt.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics.add?.(this.name);
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() re-queues it
    this.enqueue(key);
  }

  /**
   * Next key, or undefined once the queue is shut down and empty. The caller must call
   * done(key) when finished, whatever the outcome.
   */
  get(): Promise<K | undefined> {
    if (this.len() > 0) return Promise.resolve(this.take());
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: K): void {
    const started = this.startedAt.get(key);
    if (started !== undefined) {
      this.metrics.workDuration?.(this.name, (this.clock.now() - started) / 1000);
      this.startedAt.delete(key);
    }
    this.processing.delete(key);
    if (this.dirty.has(key)) this.enqueue(key);
    else this.maybeDrained();
  }

  /** Adds key after ms (at once when ms <= 0). A key already waiting keeps the earlier time. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const readyAt = this.clock.now() + ms;
    const existing = this.delayedAt.get(key);
    if (existing !== undefined && existing <= readyAt) return;
    this.delayedAt.set(key, readyAt);
    heapPush(this.heap, { key, readyAt });
    this.armTimer();
  }

  /** Re-adds key after its rate limiter's backoff (call after a failed reconcile). */
  addRateLimited(key: K): void {
    this.metrics.retry?.(this.name);
    this.addAfter(key, this.limiter.when(key));
  }

  /** Clears key's backoff history (call after a successful reconcile). */
  forget(key: K): void {
    this.limiter.forget(key);
  }

  numRequeues(key: K): number {
    return this.limiter.numRequeues(key);
  }

  /** Stop accepting keys; waiting get() calls answer undefined once the queue is empty. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.delayedAt.clear();
    this.heap = [];
    // Waiters only wait when the queue is empty, so all of them are told to stop.
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(undefined);
    this.maybeDrained();
  }

  /** shutDown, then resolve when every queued and in-flight key has been processed. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private enqueue(key: K): void {
    this.addedAt.set(key, this.clock.now());
    const waiter = this.waiters.shift();
    if (waiter) {
      // Hand it over directly: the key never sits in the FIFO.
      this.queue.push(key);
      waiter(this.take());
      return;
    }
    this.queue.push(key);
    this.metrics.depth?.(this.name, this.len());
  }

  private take(): K {
    const key = this.queue[this.head] as K;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    const now = this.clock.now();
    const added = this.addedAt.get(key);
    if (added !== undefined) this.metrics.queueLatency?.(this.name, (now - added) / 1000);
    this.addedAt.delete(key);
    this.startedAt.set(key, now);
    this.metrics.depth?.(this.name, this.len());
    return key;
  }

  private isDrained(): boolean {
    return this.processing.size === 0 && this.len() === 0;
  }

  private maybeDrained(): void {
    if (!this.shuttingDown || !this.isDrained()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private armTimer(): void {
    const next = this.nextDelayed();
    if (!next) {
      this.timer?.cancel();
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    if (this.timer && this.timerAt <= next.readyAt) return;
    this.timer?.cancel();
    this.timerAt = next.readyAt;
    this.timer = this.clock.setTimeout(() => this.fireDue(), next.readyAt - this.clock.now());
  }

  private fireDue(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    for (let next = this.nextDelayed(); next && next.readyAt <= now; next = this.nextDelayed()) {
      heapPop(this.heap);
      this.delayedAt.delete(next.key);
      this.add(next.key);
    }
    this.armTimer();
  }

  /** Top of the heap after discarding stale entries. */
  private nextDelayed(): Delayed<K> | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top) return undefined;
      if (this.delayedAt.get(top.key) === top.readyAt) return top;
      heapPop(this.heap);
    }
  }
}

function heapPush<K>(heap: Delayed<K>[], item: Delayed<K>): void {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if ((heap[parent] as Delayed<K>).readyAt <= item.readyAt) break;
    heap[i] = heap[parent] as Delayed<K>;
    i = parent;
  }
  heap[i] = item;
}

function heapPop<K>(heap: Delayed<K>[]): Delayed<K> | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length === 0 || last === undefined) return top;
  // Sift `last` down from the root.
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let child = l;
    if (r < heap.length && (heap[r] as Delayed<K>).readyAt < (heap[l] as Delayed<K>).readyAt)
      child = r;
    if (child >= heap.length || (heap[child] as Delayed<K>).readyAt >= last.readyAt) break;
    heap[i] = heap[child] as Delayed<K>;
    i = child;
  }
  heap[i] = last;
  return top;
}

/** What a reconcile may ask for besides success: run again later (e.g. poll a batch job). */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/**
 * Runs `workers` loops that take keys and call reconcile. A thrown error re-adds the key with
 * backoff; `{ requeueAfterMs }` schedules it again; otherwise its backoff is forgotten. Resolves when
 * the queue is shut down and the workers have finished.
 */
export async function runWorkers<K>(
  queue: WorkQueue<K>,
  workers: number,
  reconcile: (key: K) => Promise<ReconcileResult | void>,
  onError: (key: K, err: unknown) => void = () => {},
): Promise<void> {
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await reconcile(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        onError(key, err);
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
