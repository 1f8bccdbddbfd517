import { describe, expect, it } from "vitest";
import { FakeClock, flushMicrotasks } from "../../../controller/machinery/clock.js";
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  WorkQueue,
  runWorkers,
} from "../../../controller/machinery/workqueue.js";

function newQueue(clock = new FakeClock()): WorkQueue<string> {
  return new WorkQueue<string>({
    clock,
    rateLimiter: new ItemExponentialFailureRateLimiter(5, 1_000_000),
  });
}

/** Takes everything currently queued, without marking anything done. */
async function drainNow(q: WorkQueue<string>): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) out.push((await q.get()) as string);
  return out;
}

describe("WorkQueue: dedup and exclusivity", () => {
  it("processes a key added many times before a worker takes it once", async () => {
    const q = newQueue();
    for (const k of ["a", "b", "a", "c", "b", "a"]) q.add(k);
    expect(await drainNow(q)).toEqual(["a", "b", "c"]);
  });

  it("never hands the same key to two workers at once; re-adds it after done", async () => {
    const q = newQueue();
    q.add("a");
    const first = await q.get();
    expect(first).toBe("a");
    q.add("a"); // while processing: only marked dirty
    expect(q.len()).toBe(0);
    q.add("a"); // still one pending re-run
    q.done("a");
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
    q.done("a");
    expect(q.len()).toBe(0);
  });

  it("wakes a waiting worker when a key arrives", async () => {
    const q = newQueue();
    const pending = q.get();
    q.add("x");
    expect(await pending).toBe("x");
  });

  it("keeps FIFO order across many keys", async () => {
    const q = newQueue();
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i}`);
    keys.forEach((k) => q.add(k));
    expect(await drainNow(q)).toEqual(keys);
  });
});

describe("WorkQueue: delays", () => {
  it("addAfter makes a key visible only when due; the earlier of two times wins", async () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    q.addAfter("late", 1000);
    q.addAfter("soon", 100);
    q.addAfter("late", 5000); // later than the existing 1000 -> ignored
    q.addAfter("soon", 50); // earlier -> wins
    expect(q.len()).toBe(0);
    clock.advance(49);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(await drainNow(q)).toEqual(["soon"]);
    clock.advance(949);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(await drainNow(q)).toEqual(["late"]);
    expect(q.delayedLen()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it("addAfter with 0 adds at once", () => {
    const q = newQueue();
    q.addAfter("now", 0);
    expect(q.len()).toBe(1);
  });

  it("releases many delayed keys in due order", async () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    const delays = [70, 10, 50, 30, 90, 20, 80, 40, 60, 0];
    delays.forEach((d, i) => q.addAfter(`k${d}-${i}`, d));
    clock.advance(100);
    const got = await drainNow(q);
    expect(got).toEqual([...delays].sort((a, b) => a - b).map((d) => `k${d}-${delays.indexOf(d)}`));
  });
});

describe("rate limiters", () => {
  it.each([
    { failures: 1, want: 5 },
    { failures: 2, want: 10 },
    { failures: 3, want: 20 },
    { failures: 10, want: 2560 },
    { failures: 18, want: 655_360 },
    { failures: 19, want: 1_000_000 },
    { failures: 2000, want: 1_000_000 },
  ])("exponential backoff after $failures failures is $want ms", ({ failures, want }) => {
    const l = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
    let last = 0;
    for (let i = 0; i < failures; i++) last = l.when("k");
    expect(last).toBe(want);
    expect(l.numRequeues("k")).toBe(failures);
    expect(l.when("other")).toBe(5); // per key
    l.forget("k");
    expect(l.numRequeues("k")).toBe(0);
    expect(l.when("k")).toBe(5);
  });

  it("bucket: burst is free, then one token per 1/qps", () => {
    const clock = new FakeClock();
    const l = new BucketRateLimiter<string>(10, 3, clock);
    expect([l.when("a"), l.when("b"), l.when("c")]).toEqual([0, 0, 0]);
    expect(l.when("d")).toBe(100);
    expect(l.when("e")).toBe(200);
    clock.advance(1000); // refills, capped at burst
    expect(l.when("f")).toBe(0);
  });

  it("max-of takes the strictest", () => {
    const clock = new FakeClock();
    const l = new MaxOfRateLimiter<string>(
      new ItemExponentialFailureRateLimiter(5, 1000),
      new BucketRateLimiter(1, 1, clock),
    );
    expect(l.when("a")).toBe(5);
    expect(l.when("a")).toBe(1000);
  });

  it("addRateLimited backs off per key and forget resets", async () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    q.addRateLimited("k"); // 5 ms
    clock.advance(4);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("k");
    q.done("k");
    q.addRateLimited("k"); // 10 ms
    clock.advance(9);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    expect(q.numRequeues("k")).toBe(2);
    q.forget("k");
    expect(q.numRequeues("k")).toBe(0);
  });
});

describe("WorkQueue: shutdown", () => {
  it("hands out queued keys, then undefined; ignores adds after shutdown", async () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    q.add("a");
    q.addAfter("delayed", 10);
    q.shutDown();
    q.add("b");
    clock.advance(100);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBeUndefined();
    expect(clock.pending()).toBe(0);
  });

  it("wakes blocked workers with undefined", async () => {
    const q = newQueue();
    const waiting = [q.get(), q.get()];
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
  });

  it("shutDownWithDrain waits for in-flight keys to be done", async () => {
    const q = newQueue();
    q.add("a");
    const key = (await q.get()) as string;
    let drained = false;
    const drain = q.shutDownWithDrain().then(() => (drained = true));
    await flushMicrotasks();
    expect(drained).toBe(false);
    q.done(key);
    await drain;
    expect(drained).toBe(true);
  });
});

describe("runWorkers", () => {
  it("runs keys concurrently but never one key twice at once; retries failures with backoff", async () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    const active = new Set<string>();
    let maxConcurrentSameKey = 0;
    let maxConcurrent = 0;
    const attempts = new Map<string, number>();
    const release: (() => void)[] = [];
    const reconcile = async (key: string): Promise<void> => {
      if (active.has(key)) maxConcurrentSameKey = 2;
      active.add(key);
      maxConcurrent = Math.max(maxConcurrent, active.size);
      attempts.set(key, (attempts.get(key) ?? 0) + 1);
      await new Promise<void>((r) => release.push(r));
      active.delete(key);
      if (key === "flaky" && (attempts.get(key) ?? 0) < 3) throw new Error("transient");
    };
    const errors: string[] = [];
    const done = runWorkers(q, 4, reconcile, (k) => errors.push(k));
    q.add("a");
    q.add("b");
    q.add("flaky");
    await flushMicrotasks();
    q.add("a"); // while a is in flight
    expect(maxConcurrent).toBe(3);
    // Release everything repeatedly and let the clock run the backoff timers.
    for (let i = 0; i < 10; i++) {
      release.splice(0).forEach((r) => r());
      await clock.advanceAsync(50, 5);
    }
    expect(maxConcurrentSameKey).toBe(0);
    expect(attempts.get("a")).toBe(2);
    expect(attempts.get("b")).toBe(1);
    expect(attempts.get("flaky")).toBe(3);
    expect(errors).toEqual(["flaky", "flaky"]);
    expect(q.numRequeues("flaky")).toBe(0); // forgotten after success
    q.shutDown();
    await done;
  });
});
