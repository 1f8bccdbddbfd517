import { afterEach, describe, expect, it } from "vitest";
import { FakeClock, flushMicrotasks } from "../../../controller/machinery/clock.js";
import type { KubeObject } from "../../../controller/machinery/cache.js";
import type { KubeStatus } from "../../../controller/machinery/kube-request.js";
import { Reflector, type WatchParams } from "../../../controller/machinery/reflector.js";

interface Obj extends KubeObject {
  data?: string;
}

interface FakeStream {
  params: WatchParams;
  onEvent: (type: string, obj: Obj | KubeStatus) => void;
  onDone: (err: unknown) => void;
  aborted: boolean;
}

/** An apiserver in miniature: objects with resourceVersions, lists, and controllable watch streams. */
class FakeServer {
  rv = 100;
  objects = new Map<string, Obj>();
  streams: FakeStream[] = [];
  listCalls = 0;
  failLists = 0;
  /** When true, a watch request never gets an answer (a hung connect). */
  hangWatches = false;

  put(name: string, data: string): Obj {
    const obj: Obj = {
      metadata: { namespace: "ns", name, resourceVersion: String(++this.rv) },
      data,
    };
    const existed = this.objects.has(name);
    this.objects.set(name, obj);
    this.current()?.onEvent(existed ? "MODIFIED" : "ADDED", obj);
    return obj;
  }

  del(name: string, notify = true): void {
    const obj = this.objects.get(name);
    this.objects.delete(name);
    this.rv++;
    if (obj && notify)
      this.current()?.onEvent("DELETED", {
        ...obj,
        metadata: { ...obj.metadata, resourceVersion: String(this.rv) },
      });
  }

  current(): FakeStream | undefined {
    const s = this.streams.at(-1);
    return s && !s.aborted ? s : undefined;
  }

  reflector(
    clock: FakeClock,
    extra: Partial<ConstructorParameters<typeof Reflector<Obj>>[0]> = {},
  ) {
    return new Reflector<Obj>({
      name: "test",
      clock,
      random: () => 0,
      list: async () => {
        this.listCalls++;
        if (this.failLists > 0) {
          this.failLists--;
          throw new Error("connection refused");
        }
        return { items: [...this.objects.values()], resourceVersion: String(this.rv) };
      },
      watch: (params, onEvent, onDone) => {
        const stream: FakeStream = { params, onEvent, onDone, aborted: false };
        this.streams.push(stream);
        const handle = { abort: () => void (stream.aborted = true) };
        return this.hangWatches ? new Promise(() => {}) : Promise.resolve(handle);
      },
      ...extra,
    });
  }
}

function recorder() {
  const seen: string[] = [];
  return {
    seen,
    handlers: {
      onAdd: (o: Obj) => seen.push(`add ${o.metadata?.name}=${o.data}`),
      onUpdate: (_old: Obj, o: Obj) => seen.push(`update ${o.metadata?.name}=${o.data}`),
      onDelete: (o: Obj) => seen.push(`delete ${o.metadata?.name}`),
    },
  };
}

let toStop: Reflector<Obj>[] = [];
afterEach(async () => {
  await Promise.all(toStop.map((r) => r.stop()));
  toStop = [];
});

async function started(server: FakeServer, clock: FakeClock, extra = {}) {
  const rec = recorder();
  const r = server.reflector(clock, { handlers: [rec.handlers], ...extra });
  toStop.push(r);
  r.start();
  await flushMicrotasks();
  return { r, seen: rec.seen };
}

describe("Reflector", () => {
  it("lists, syncs, then follows watch events from the list's resourceVersion", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    server.put("a", "1");
    server.put("b", "1");
    const { r, seen } = await started(server, clock);
    expect(r.hasSynced()).toBe(true);
    expect(r.store.keys().sort()).toEqual(["ns/a", "ns/b"]);
    const params = server.streams[0]?.params;
    expect(params).toEqual({
      resourceVersion: "102",
      timeoutSeconds: 300,
      allowWatchBookmarks: true,
    });
    server.put("a", "2");
    server.put("c", "1");
    server.del("b");
    expect(r.store.get("ns/a")?.data).toBe("2");
    expect(r.store.keys().sort()).toEqual(["ns/a", "ns/c"]);
    expect(seen).toEqual(["add a=1", "add b=1", "update a=2", "add c=1", "delete b"]);
    expect(r.resourceVersion()).toBe(String(server.rv));
  });

  it("randomises the watch timeout within 5..10 minutes", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    const r = server.reflector(clock, { random: () => 0.999 });
    toStop.push(r);
    r.start();
    await flushMicrotasks();
    expect(server.streams[0]?.params.timeoutSeconds).toBe(600);
  });

  it("re-watches from the last seen version (bookmarks included) when the server ends a watch", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    const { r } = await started(server, clock);
    server.put("a", "1");
    server.current()?.onEvent("BOOKMARK", { metadata: { resourceVersion: "555" } });
    clock.advance(300_000);
    server.current()?.onDone(null);
    await flushMicrotasks();
    expect(server.streams).toHaveLength(2);
    expect(server.streams[1]?.params.resourceVersion).toBe("555");
    expect(server.listCalls).toBe(1);
    expect(r.stats.failures).toBe(0);
  });

  it.each([
    {
      how: "in-stream ERROR event",
      expire: (s: FakeStream) =>
        s.onEvent("ERROR", { kind: "Status", code: 410, reason: "Expired" }),
    },
    {
      how: "HTTP 410 on the watch request",
      expire: (s: FakeStream) => s.onDone(Object.assign(new Error("Gone"), { statusCode: 410 })),
    },
  ])(
    "relists at once on 410 Gone ($how) and reports what changed meanwhile",
    async ({ expire }) => {
      const clock = new FakeClock();
      const server = new FakeServer();
      server.put("a", "1");
      server.put("b", "1");
      const { r, seen } = await started(server, clock);
      const first = server.current() as FakeStream;
      // Changes the reflector misses because its watch is "behind".
      server.streams.push({ ...first, aborted: true });
      server.put("a", "2");
      server.del("b", false);
      server.put("c", "1");
      expire(first);
      await flushMicrotasks();
      expect(server.listCalls).toBe(2);
      expect(first.aborted).toBe(true);
      expect(r.stats.expired).toBe(1);
      expect(r.stats.failures).toBe(0);
      expect(r.store.keys().sort()).toEqual(["ns/a", "ns/c"]);
      expect(seen.slice(2).sort()).toEqual(["add c=1", "delete b", "update a=2"]);
    },
  );

  it("never gives up on errors: exponential backoff 800 ms .. 30 s, then recovers", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    server.failLists = 8;
    server.put("a", "1");
    const { r } = await started(server, clock);
    expect(r.hasSynced()).toBe(false);
    const gaps: number[] = [];
    let calls = server.listCalls;
    let since = 0;
    while (!r.hasSynced() && since < 200_000) {
      await clock.advanceAsync(100);
      since += 100;
      if (server.listCalls !== calls) {
        gaps.push(since);
        since = 0;
        calls = server.listCalls;
      }
    }
    expect(gaps).toEqual([800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
    expect(r.hasSynced()).toBe(true);
    expect(r.store.keys()).toEqual(["ns/a"]);
    expect(r.stats.failures).toBe(8);
  });

  it("treats a non-410 ERROR event as a failure: backs off, relists", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    const { r } = await started(server, clock);
    server
      .current()
      ?.onEvent("ERROR", { kind: "Status", code: 500, reason: "InternalError", message: "boom" });
    await flushMicrotasks();
    expect(String(r.lastError)).toContain("500 InternalError boom");
    expect(server.listCalls).toBe(1);
    await clock.advanceAsync(800);
    expect(server.listCalls).toBe(2);
  });

  it("forces a reconnect when nothing, not even a bookmark, arrives for too long", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    const { r } = await started(server, clock, { idleTimeoutMs: 60_000 });
    await clock.advanceAsync(50_000, 1000);
    server.current()?.onEvent("BOOKMARK", { metadata: { resourceVersion: "101" } }); // activity resets the idle clock
    await clock.advanceAsync(59_000, 1000);
    expect(r.stats.stalls).toBe(0);
    const stalled = server.current() as FakeStream;
    await clock.advanceAsync(1000);
    expect(r.stats.stalls).toBe(1);
    expect(stalled.aborted).toBe(true);
    await clock.advanceAsync(800);
    expect(server.listCalls).toBe(2);
    expect(server.current()).toBeDefined();
    server.put("late", "1");
    expect(r.store.get("ns/late")?.data).toBe("1");
  });

  it("recovers from a watch request that never connects", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    server.hangWatches = true;
    const { r } = await started(server, clock, { idleTimeoutMs: 10_000 });
    await clock.advanceAsync(10_000, 1000);
    expect(r.stats.stalls).toBe(1);
    server.hangWatches = false;
    await clock.advanceAsync(800);
    expect(server.streams).toHaveLength(2);
    server.put("x", "1");
    expect(r.store.get("ns/x")).toBeDefined();
  });

  it("a watch that closes instantly without events is a failure, not a hot loop", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    const { r } = await started(server, clock);
    for (let i = 0; i < 3; i++) {
      server.current()?.onDone(null);
      await flushMicrotasks();
    }
    expect(server.streams).toHaveLength(1);
    expect(r.stats.failures).toBe(1);
  });

  it("a throwing handler does not break the watch", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    const { r } = await started(server, clock, {
      handlers: [
        {
          onAdd: () => {
            throw new Error("bad");
          },
        },
      ],
    });
    server.put("a", "1");
    server.put("b", "1");
    expect(r.store.size()).toBe(2);
  });

  it("stop() aborts the watch, wakes sync waiters and ends the loop", async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    server.failLists = 1;
    const { r } = await started(server, clock);
    const sync = r.waitForSync(1_000_000);
    await r.stop();
    expect(await sync).toBe(false);
    const server2 = new FakeServer();
    const { r: r2 } = await started(server2, clock);
    const stream = server2.current() as FakeStream;
    await r2.stop();
    expect(stream.aborted).toBe(true);
    expect(clock.pending()).toBe(0);
  });
});
