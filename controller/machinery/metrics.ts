import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { WorkQueueMetricsSink } from "./workqueue.js";

/**
 * The controller's Prometheus metrics on a registry of its own (tests make as many as they like).
 * Names follow controller-runtime's where one exists, under the gridvm_ prefix.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly queueDepth: Gauge<"name">;
  readonly queueAdds: Counter<"name">;
  readonly queueRetries: Counter<"name">;
  readonly queueLatency: Histogram<"name">;
  readonly workDuration: Histogram<"name">;
  readonly reconcileDuration: Histogram<"kind">;
  readonly reconcileTotal: Counter<"kind" | "result">;
  readonly reconcileErrors: Counter<"kind">;
  readonly jobs: Gauge<"phase">;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    this.queueDepth = new Gauge({
      name: "gridvm_workqueue_depth",
      help: "Keys waiting in a work queue",
      labelNames: ["name"],
      registers,
    });
    this.queueAdds = new Counter({
      name: "gridvm_workqueue_adds_total",
      help: "Keys added to a work queue",
      labelNames: ["name"],
      registers,
    });
    this.queueRetries = new Counter({
      name: "gridvm_workqueue_retries_total",
      help: "Rate-limited re-adds",
      labelNames: ["name"],
      registers,
    });
    this.queueLatency = new Histogram({
      name: "gridvm_workqueue_queue_duration_seconds",
      help: "Time a key waited before a worker took it",
      labelNames: ["name"],
      buckets,
      registers,
    });
    this.workDuration = new Histogram({
      name: "gridvm_workqueue_work_duration_seconds",
      help: "Time a worker spent on a key",
      labelNames: ["name"],
      buckets,
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "gridvm_reconcile_duration_seconds",
      help: "Duration of one reconcile, by kind",
      labelNames: ["kind"],
      buckets,
      registers,
    });
    this.reconcileTotal = new Counter({
      name: "gridvm_reconcile_total",
      help: "Reconciles by kind and result (success, error, requeue)",
      labelNames: ["kind", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "gridvm_reconcile_errors_total",
      help: "Failed reconciles, by kind",
      labelNames: ["kind"],
      registers,
    });
    this.jobs = new Gauge({
      name: "gridvm_jobs",
      help: "VMInstances by phase",
      labelNames: ["phase"],
      registers,
    });
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: "gridvm_" });
  }

  /** Plug into WorkQueue({ metrics }). */
  workqueueSink(): WorkQueueMetricsSink {
    return {
      add: (name) => this.queueAdds.inc({ name }),
      depth: (name, depth) => this.queueDepth.set({ name }, depth),
      queueLatency: (name, s) => this.queueLatency.observe({ name }, s),
      workDuration: (name, s) => this.workDuration.observe({ name }, s),
      retry: (name) => this.queueRetries.inc({ name }),
    };
  }

  /** Times one reconcile and counts its outcome; rethrows its error. */
  async timeReconcile<R>(kind: string, reconcile: () => Promise<R>): Promise<R> {
    const end = this.reconcileDuration.startTimer({ kind });
    try {
      const result = await reconcile();
      this.reconcileTotal.inc({ kind, result: "success" });
      return result;
    } catch (err) {
      this.reconcileTotal.inc({ kind, result: "error" });
      this.reconcileErrors.inc({ kind });
      throw err;
    } finally {
      end();
    }
  }

  /** Sets the jobs-by-phase gauge from a full count (phases absent from `counts` drop to 0). */
  setJobsByPhase(counts: Record<string, number>, allPhases: readonly string[] = []): void {
    for (const phase of allPhases) this.jobs.set({ phase }, counts[phase] ?? 0);
    for (const [phase, n] of Object.entries(counts)) this.jobs.set({ phase }, n);
  }
}
