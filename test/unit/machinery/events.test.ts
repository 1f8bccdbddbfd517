import { describe, expect, it } from "vitest";
import { FakeClock } from "../../../controller/machinery/clock.js";
import {
  buildEvent,
  EventRecorder,
  type CoreEvent,
  type EventSink,
} from "../../../controller/machinery/events.js";
import { KubeRequestError } from "../../../controller/machinery/kube-request.js";

const group = {
  apiVersion: "gridvm.io/v1alpha1",
  kind: "VMGroup",
  metadata: { name: "lab1", uid: "u-1", resourceVersion: "5" },
};
const inst = {
  apiVersion: "gridvm.io/v1alpha1",
  kind: "VMInstance",
  metadata: { name: "myvm", namespace: "doraz", uid: "u-2" },
};

describe("buildEvent", () => {
  it("describes the object, puts cluster-scoped ones in default, names it like client-go", () => {
    const ev = buildEvent(
      group,
      "Warning",
      "Overlap",
      "overlaps lab2",
      Date.UTC(2025, 0, 1),
      "gridvm-controller",
      "pod-1",
    );
    expect(ev.metadata).toEqual({
      name: `lab1.${(BigInt(Date.UTC(2025, 0, 1)) * 1_000_000n).toString(16)}`,
      namespace: "default",
    });
    expect(ev.involvedObject).toEqual({
      apiVersion: "gridvm.io/v1alpha1",
      kind: "VMGroup",
      name: "lab1",
      namespace: undefined,
      uid: "u-1",
      resourceVersion: "5",
    });
    expect([ev.type, ev.reason, ev.message, ev.count]).toEqual([
      "Warning",
      "Overlap",
      "overlaps lab2",
      1,
    ]);
    expect(ev.firstTimestamp).toBe("2025-01-01T00:00:00Z");
    expect(buildEvent(inst, "Normal", "R", "m", 0, "c", "i").metadata.namespace).toBe("doraz");
  });

  it("truncates messages to the apiserver's 1 KiB", () => {
    expect(buildEvent(inst, "Normal", "R", "x".repeat(5000), 0, "c", "i").message).toHaveLength(
      1024,
    );
  });
});

class FakeSink implements EventSink {
  created: CoreEvent[] = [];
  bumps: [string, number][] = [];
  failCreate = false;
  goneOnBump = false;
  async create(ev: CoreEvent) {
    if (this.failCreate) throw new Error("apiserver down");
    this.created.push(ev);
    return ev;
  }
  async bump(_ns: string, name: string, count: number) {
    if (this.goneOnBump) throw new KubeRequestError(404, undefined, "gone");
    this.bumps.push([name, count]);
    return this.created.find((e) => e.metadata.name === name) as CoreEvent;
  }
}

describe("EventRecorder", () => {
  it("aggregates repeats within the window into a count, and starts afresh after it", async () => {
    const clock = new FakeClock();
    const sink = new FakeSink();
    const rec = new EventRecorder({ component: "c", sink, clock, aggregateWindowMs: 60_000 });
    await rec.warning(group, "Overlap", "overlaps lab2");
    clock.advance(1000);
    await rec.warning(group, "Overlap", "overlaps lab2");
    await rec.warning(group, "Overlap", "overlaps lab3"); // different message: its own event
    expect(sink.created).toHaveLength(2);
    expect(sink.bumps).toEqual([[sink.created[0]?.metadata.name, 2]]);
    clock.advance(61_000);
    await rec.warning(group, "Overlap", "overlaps lab2");
    expect(sink.created).toHaveLength(3);
  });

  it("re-creates an aggregated event the apiserver has already expired", async () => {
    const sink = new FakeSink();
    const rec = new EventRecorder({ component: "c", sink, clock: new FakeClock() });
    await rec.normal(inst, "Started", "job 42");
    sink.goneOnBump = true;
    await rec.normal(inst, "Started", "job 42");
    expect(sink.created).toHaveLength(2);
  });

  it("never throws when the apiserver refuses", async () => {
    const sink = new FakeSink();
    sink.failCreate = true;
    const rec = new EventRecorder({ component: "c", sink, clock: new FakeClock() });
    await expect(rec.normal(inst, "R", "m")).resolves.toBeUndefined();
  });
});
