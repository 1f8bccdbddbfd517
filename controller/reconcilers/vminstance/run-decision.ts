import { isLive, jobNameFor, type JobStatus } from "../../batch/batch-backend.js";

/** What the controller knows about an instance's runs, from its status. */
export interface RunRecord {
  /** The counter of the current (or last) run; 0 before the first. */
  run: number;
  /** The job of that run, as recorded in status. */
  job?: { id?: string; name?: string; generation?: number };
}

export type RunDecision =
  /**
   * Start a run. Fresh: record the job name in status first (a write-ahead intent), then submit.
   * Resume: an intent without a job id means we may have crashed after qsub — look the job up by
   * name and adopt it, submit only if absent (DESIGN invariant 1).
   */
  | { kind: "start"; run: number; jobName: string; resume: boolean }
  /** Keep following the current run's job. */
  | { kind: "follow"; run: number; jobName: string }
  /** Delete the live job (the VM gets a graceful powerdown first) and wait for it to finish. */
  | { kind: "stop"; run: number; jobName: string; jobId: string }
  /** Nothing runs and nothing should. */
  | { kind: "idle"; stoppedOnItsOwn: boolean };

/**
 * Whether to start, follow or stop a run — a pure function of the spec, the recorded run and the
 * job's current state. A VM that ended on its own (guest powered off, time limit, qdel) is not
 * restarted until the spec changes again (its generation moves past the one that started it),
 * so `running: true` never turns a powered-off VM into a restart loop.
 */
export function decideRun(input: {
  uid: string;
  generation: number;
  wantRunning: boolean;
  /** False when authorization, disks or network forbid a run. */
  mayRun: boolean;
  record: RunRecord;
  /** The recorded job's current state; undefined when it is not known to the backend. */
  job?: JobStatus;
}): RunDecision {
  const { record, job } = input;
  const current = record.run;
  const currentName = record.job?.name ?? (current > 0 ? jobNameFor(input.uid, current) : undefined);
  const live = job !== undefined && isLive(job.phase);

  if (live && currentName) {
    if (!input.wantRunning || !input.mayRun) return { kind: "stop", run: current, jobName: currentName, jobId: job.id };
    return { kind: "follow", run: current, jobName: currentName };
  }
  if (!input.wantRunning || !input.mayRun) return { kind: "idle", stoppedOnItsOwn: false };
  if (currentName && record.job?.name === currentName && !record.job.id) {
    return { kind: "start", run: current, jobName: currentName, resume: true };
  }

  if (endedOnItsOwn(record, input.generation, job)) return { kind: "idle", stoppedOnItsOwn: true };
  return { kind: "start", run: current + 1, jobName: jobNameFor(input.uid, current + 1), resume: false };
}

/**
 * The recorded run is over and was started for this spec (or a later one): no live job, no
 * intent still waiting to be resumed. Such a VM stays stopped until the spec changes again.
 */
export function endedOnItsOwn(record: RunRecord, generation: number, job: JobStatus | undefined): boolean {
  if (job !== undefined && isLive(job.phase)) return false;
  if (record.job?.name && !record.job.id) return false;
  const startedBy = record.job?.generation;
  return record.run > 0 && startedBy !== undefined && startedBy >= generation;
}

/**
 * How long a deleted instance's job may stay in Grid Engine's "d" state before the finalizer
 * forces it (qdel -f). Longer than the queue's notify window plus the agent's stop grace: a
 * forced delete kills the lease at once, and releasing the address then would hand it out while
 * the old qemu is still powering off. Only a job whose host died stays "d" that long.
 */
export const FORCE_DELETE_AFTER_MS = 120_000;

export type TeardownStep =
  /** Ask the batch system to end the job (force: it ignored a plain delete for too long). */
  | { kind: "delete"; jobId: string; force: boolean }
  /** The delete is under way (the VM is powering off); look again shortly. */
  | { kind: "wait" }
  /** No job holds anything any more: free the address, DHCP entry and finalizer. */
  | { kind: "release" };

/** The finalizer's step for the job of an instance being deleted. Pure. */
export function teardownStep(job: JobStatus | undefined, deletingForMs: number, forceAfterMs = FORCE_DELETE_AFTER_MS): TeardownStep {
  if (!job || job.phase === "Finished" || job.phase === "Unknown") return { kind: "release" };
  if (job.phase !== "Deleting") return { kind: "delete", jobId: job.id, force: false };
  return deletingForMs > forceAfterMs ? { kind: "delete", jobId: job.id, force: true } : { kind: "wait" };
}
