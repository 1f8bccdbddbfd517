import { describe, expect, it } from "vitest";
import type { EventHandlers, KubeObject } from "../../../controller/machinery/cache.js";
import { Controller } from "../../../controller/machinery/controller.js";
import { FakeClock, flushMicrotasks } from "../../../controller/machinery/clock.js";
import { ControllerMetrics } from "../../../controller/machinery/metrics.js";

/** A hand-driven informer. */
class FakeSource<T extends KubeObject> {
  handlers: EventHandlers<T>[] = [];
  synced = false;
  private waiters: (() => void)[] = [];
  hasSynced() {
    return this.synced;
  }
  waitForSync() {
    return this.synced
      ? Promise.resolve(true)
      : new Promise<boolean>((r) => this.waiters.push(() => r(true)));
  }
  addEventHandler(h: EventHandlers<T>) {
    this.handlers.push(h);
  }
  sync() {
    this.synced = true;
    this.waiters.splice(0).forEach((w) => w());
  }
  add(o: T) {
    this.handlers.forEach((h) => h.onAdd?.(o));
  }
  update(a: T, b: T) {
    this.handlers.forEach((h) => h.onUpdate?.(a, b));
  }
}

const obj = (ns: string, name: string, group?: string): KubeObject & { group?: string } => ({
  metadata: { namespace: ns, name },
  group,
});

describe("Controller", () => {
  it("reconciles nothing before the caches sync, then every key; maps related objects to keys", async () => {
    const clock = new FakeClock();
    const metrics = new ControllerMetrics();
    const seen: string[] = [];
    let failOnce = true;
    const c = new Controller({
      kind: "VMInstance",
      clock,
      metrics,
      workers: 2,
      reconcile: async (key) => {
        seen.push(key);
        if (key === "doraz/flaky" && failOnce) {
          failOnce = false;
          throw new Error("transient");
        }
      },
    });
    const instances = new FakeSource<KubeObject>();
    const groups = new FakeSource<KubeObject & { group?: string }>();
    c.watch(instances).watch(groups, (g) =>
      g.metadata?.name === "lab1" ? ["doraz/a", "alex/b"] : [],
    );
    const running = c.run();
    instances.add(obj("doraz", "a"));
    instances.add(obj("doraz", "flaky"));
    await flushMicrotasks();
    expect(seen).toEqual([]);
    expect(c.hasSynced()).toBe(false);
    instances.sync();
    groups.sync();
    await flushMicrotasks();
    expect(c.hasSynced()).toBe(true);
    expect(seen.sort()).toEqual(["doraz/a", "doraz/flaky"]);
    groups.update(obj("", "lab1"), obj("", "lab1"));
    await clock.advanceAsync(10, 5); // the flaky key's 5 ms backoff
    expect(seen.filter((k) => k === "doraz/flaky")).toHaveLength(2);
    expect(seen).toContain("alex/b");
    const text = await metrics.registry.metrics();
    expect(text).toContain('gridvm_reconcile_errors_total{kind="VMInstance"} 1');
    await c.stop();
    await running;
  });

  it("stop() before the caches sync does not hang", async () => {
    const c = new Controller({ kind: "VMGroup", reconcile: async () => {} });
    const src = new FakeSource<KubeObject>();
    c.watch(src);
    src.add(obj("", "lab1"));
    await c.stop();
    expect(c.queue.isShuttingDown()).toBe(true);
  });
});
