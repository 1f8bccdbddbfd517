/**
 * What the controller needs from a batch system, whatever it is (Grid Engine today). A VM's
 * placement and resource lease is one batch job running `gridvm-job` on the execution host.
 */

/** Backend-neutral life of a job. Every backend maps its own states onto these. */
export type BatchPhase =
  | "Pending" // waiting for resources; `reason` says why when the backend knows
  | "Held" // held by a user, an operator or a dependency; will not start by itself
  | "Starting" // dispatched to a host, being started there
  | "Running"
  | "Suspended"
  | "Error" // the backend parked the job in an error state; `reason` says why
  | "Deleting" // a delete was requested and is being carried out
  | "Finished" // gone from the queue, recorded by accounting
  | "Unknown"; // neither queued nor accounted (yet)

export interface JobSpec {
  /** Unique per VM run: use jobNameFor(). */
  name: string;
  /** argv of the program the job runs on the host; argv[0] absolute. No shell is involved. */
  command: readonly string[];
  /** VM memory charged against the host's capacity, in bytes. */
  memoryBytes?: number;
  /** Cpus the VM gets: slots on one host. Default 1. */
  cpus?: number;
  /** Wall-clock limit; the VM gets a graceful-stop signal before the kill. */
  timeLimitSeconds?: number;
  /** Environment for the job (names: letters, digits, _; values without commas). */
  env?: Readonly<Record<string, string>>;
  /** Where the job's stdout+stderr go on the host (absolute). Default: discarded. */
  outputPath?: string;
  /** Working directory on the host (absolute). Default: "/". */
  workingDirectory?: string;
}

export interface JobStatus {
  id: string;
  name: string;
  phase: BatchPhase;
  /** Execution host once dispatched. */
  host?: string;
  /** Human-readable why, for Pending/Held/Error/Suspended/Finished; shown in conditions. */
  reason?: string;
  /** The backend's own state text (e.g. "Eqw"), for logs. */
  rawState?: string;
}

export interface JobAccounting {
  id: string;
  name: string;
  host?: string;
  exitStatus: number;
  /** Non-zero when the batch system itself failed or killed the job. */
  failedCode: number;
  failedReason?: string;
  startedAt?: Date;
  endedAt?: Date;
  wallclockSeconds?: number;
}

export interface DeleteOptions {
  /** Remove the job even if its host does not answer. */
  force?: boolean;
}

export interface BatchBackend {
  readonly kind: string;
  /** Submits a job and returns its id. Callers look up by name first (invariant 1). */
  submit(spec: JobSpec): Promise<string>;
  /** The job with this name: a live one first, else the last finished one; undefined if none. */
  findByName(name: string): Promise<JobStatus | undefined>;
  /** All jobs the backend currently holds (not finished ones). No reasons: they cost a call each. */
  list(): Promise<JobStatus[]>;
  /** One job, with a reason where there is one. Finished/Unknown when it left the queue. */
  get(id: string): Promise<JobStatus>;
  /** Deletes a job; deleting a job that no longer exists is not an error. */
  delete(id: string, opts?: DeleteOptions): Promise<void>;
  /** The accounting record of a finished job; undefined when there is none (yet). */
  accounting(id: string): Promise<JobAccounting | undefined>;
}

const JOB_NAME = /^gvm-([0-9a-f-]{1,64})-r(\d+)$/;

/**
 * The name of run `run` of the VMInstance with UID `uid` (DESIGN invariant 1): deterministic, so
 * after a crash between submit and status write a lookup by name finds the job already submitted.
 * Safe for every batch system: starts with a letter, only [a-z0-9-].
 */
export function jobNameFor(uid: string, run: number): string {
  const u = uid.toLowerCase();
  if (!/^[0-9a-f-]{1,64}$/.test(u))
    throw new Error(`jobNameFor: not a UID: ${JSON.stringify(uid)}`);
  if (!Number.isSafeInteger(run) || run < 0)
    throw new Error(`jobNameFor: run must be a counter >= 0, got ${run}`);
  return `gvm-${u}-r${run}`;
}

/** Inverse of jobNameFor; undefined for names gridvm did not make. */
export function parseJobName(name: string): { uid: string; run: number } | undefined {
  const m = JOB_NAME.exec(name);
  return m ? { uid: m[1]!, run: Number(m[2]) } : undefined;
}

/** Phases in which the job still holds (or will hold) its host: the VM's lease is alive. */
export function isLive(phase: BatchPhase): boolean {
  return !["Finished", "Unknown"].includes(phase);
}
