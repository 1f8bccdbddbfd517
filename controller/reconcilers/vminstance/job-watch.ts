import type { BatchBackend, JobStatus } from "../../batch/batch-backend.js";
import { parseJobName } from "../../batch/batch-backend.js";
import type { Logger } from "../../machinery/log.js";

/**
 * One `qstat` for all VMs instead of one per VM: polls the backend's job list on an interval,
 * keeps it, and reports the UIDs whose job appeared, changed state or host, or left the queue —
 * the batch system has no watch, so this is its informer.
 */
export class JobWatch {
  private jobs = new Map<string, JobStatus>();
  private timer: NodeJS.Timeout | undefined;
  private synced = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly backend: BatchBackend,
    private readonly onChange: (uid: string) => void,
    private readonly log: Logger,
    private readonly intervalMs = 2_000,
  ) {}

  start(): void {
    const tick = (): void => {
      this.running = this.poll().finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** The live job of this name, from the last poll. */
  byName(name: string): JobStatus | undefined {
    return this.jobs.get(name);
  }

  all(): JobStatus[] {
    return [...this.jobs.values()];
  }

  /** Polls now (also used right after a submit or delete, so the next reconcile sees it). */
  async poll(): Promise<void> {
    let list: JobStatus[];
    try {
      list = await this.backend.list();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "listing batch jobs failed; keeping the last view");
      return;
    }
    const next = new Map(list.filter((j) => parseJobName(j.name)).map((j) => [j.name, j]));
    const changed = new Set<string>();
    for (const [name, job] of next) {
      const before = this.jobs.get(name);
      if (!before || before.phase !== job.phase || before.host !== job.host || before.id !== job.id) changed.add(name);
    }
    for (const name of this.jobs.keys()) if (!next.has(name)) changed.add(name);
    this.jobs = next;
    this.synced = true;
    for (const name of changed) {
      const parsed = parseJobName(name);
      if (parsed) this.onChange(parsed.uid);
    }
  }
}
