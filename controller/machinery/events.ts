import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject } from "./cache.js";
import { realClock, type Clock } from "./clock.js";
import { kubeTime } from "./conditions.js";
import { isNotFound, kubeRequest } from "./kube-request.js";
import type { Logger } from "./log.js";

/**
 * Kubernetes Events (core/v1), so `kubectl describe` tells an admin why something happened
 * ("VMGroup lab1 overlaps lab2") without anyone reading logs. Repeats of the same event on the
 * same object within the aggregation window bump `count` instead of creating new objects, like
 * client-go's EventCorrelator, so a flapping reconcile cannot flood etcd.
 */
export type EventType = "Normal" | "Warning";

export interface CoreEvent {
  apiVersion: "v1";
  kind: "Event";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  involvedObject: {
    apiVersion?: string;
    kind?: string;
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
  };
  reason: string;
  message: string;
  type: EventType;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component: string; host?: string };
  reportingComponent: string;
  reportingInstance: string;
}

/** Events of cluster-scoped objects (VMGroup, VMTemplate) live in "default", as kubectl expects. */
export function eventNamespace(obj: KubeObject): string {
  return obj.metadata?.namespace || "default";
}

/** The Event object for one occurrence; pure so its shape is table-tested. */
export function buildEvent(
  obj: KubeObject,
  type: EventType,
  reason: string,
  message: string,
  nowMs: number,
  component: string,
  instance: string,
): CoreEvent {
  const name = obj.metadata?.name ?? "unknown";
  const ts = kubeTime(nowMs);
  return {
    apiVersion: "v1",
    kind: "Event",
    // client-go names events <object>.<unix nanos in hex>: unique and sortable.
    metadata: {
      name: `${name}.${(BigInt(nowMs) * 1_000_000n).toString(16)}`,
      namespace: eventNamespace(obj),
    },
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata?.name,
      namespace: obj.metadata?.namespace,
      uid: obj.metadata?.uid,
      resourceVersion: obj.metadata?.resourceVersion,
    },
    reason,
    // The apiserver caps messages at 1 KiB.
    message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
    type,
    count: 1,
    firstTimestamp: ts,
    lastTimestamp: ts,
    source: { component },
    reportingComponent: component,
    reportingInstance: instance,
  };
}

export interface EventSink {
  create(ev: CoreEvent): Promise<CoreEvent>;
  /** Bumps count and lastTimestamp of an existing event. */
  bump(namespace: string, name: string, count: number, lastTimestamp: string): Promise<CoreEvent>;
}

export function kubeEventSink(kc: KubeConfig): EventSink {
  return {
    create: (ev) =>
      kubeRequest<CoreEvent>(kc, "POST", `/api/v1/namespaces/${ev.metadata.namespace}/events`, {
        body: ev,
      }),
    bump: (ns, name, count, lastTimestamp) =>
      kubeRequest<CoreEvent>(kc, "PATCH", `/api/v1/namespaces/${ns}/events/${name}`, {
        body: { count, lastTimestamp },
        contentType: "application/merge-patch+json",
      }),
  };
}

export interface EventRecorderOptions {
  component: string;
  instance?: string;
  sink: EventSink;
  clock?: Clock;
  log?: Logger;
  /** Same object+type+reason+message within this window is counted, not re-created. */
  aggregateWindowMs?: number;
}

export class EventRecorder {
  private readonly recent = new Map<
    string,
    { ns: string; name: string; count: number; at: number }
  >();
  private readonly clock: Clock;
  private readonly window: number;

  constructor(private readonly o: EventRecorderOptions) {
    this.clock = o.clock ?? realClock;
    this.window = o.aggregateWindowMs ?? 10 * 60_000;
  }

  /**
   * Records an event. Never throws: an event is a courtesy, a failure to write one must not fail
   * the reconcile. Resolves when written (tests await it; reconcilers need not).
   */
  async event(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.clock.now();
    const key = [obj.metadata?.uid ?? obj.metadata?.name, type, reason, message].join("\u0000");
    const seen = this.recent.get(key);
    try {
      if (seen && now - seen.at < this.window) {
        seen.count++;
        seen.at = now;
        try {
          await this.o.sink.bump(seen.ns, seen.name, seen.count, kubeTime(now));
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err; // expired by the apiserver's TTL: create afresh below
        }
      }
      const ev = buildEvent(
        obj,
        type,
        reason,
        message,
        now,
        this.o.component,
        this.o.instance ?? this.o.component,
      );
      await this.o.sink.create(ev);
      this.recent.set(key, {
        ns: ev.metadata.namespace,
        name: ev.metadata.name,
        count: 1,
        at: now,
      });
      this.prune(now);
    } catch (err) {
      this.o.log?.warn({ reason, err: String(err) }, "could not record event");
    }
  }

  normal(obj: KubeObject, reason: string, message: string): Promise<void> {
    return this.event(obj, "Normal", reason, message);
  }

  warning(obj: KubeObject, reason: string, message: string): Promise<void> {
    return this.event(obj, "Warning", reason, message);
  }

  private prune(now: number): void {
    if (this.recent.size < 4096) return;
    for (const [k, v] of this.recent) if (now - v.at >= this.window) this.recent.delete(k);
  }
}
