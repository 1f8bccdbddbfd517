import type { BatchPhase } from "../batch-backend.js";

/**
 * Grid Engine's state letters (qstat(1)) -> a backend-neutral phase. A state combines letters
 * ("Eqw", "hqw", "dr", "Rr"); the most telling letter wins: deletion over error over hold over
 * suspension over transfer over running over waiting.
 */
export function phaseOfState(state: string): { phase: BatchPhase; reason?: string } {
  const has = (letter: string) => state.includes(letter);
  if (has("d")) return { phase: "Deleting" };
  if (has("E")) return { phase: "Error" };
  if (has("h")) return { phase: "Held", reason: "the job is on hold" };
  if (has("s")) return { phase: "Suspended", reason: "suspended by a user or an operator" };
  if (has("S")) return { phase: "Suspended", reason: "its queue is suspended" };
  if (has("T")) return { phase: "Suspended", reason: "suspended by a queue threshold" };
  if (has("t")) return { phase: "Starting" };
  if (has("r")) return { phase: "Running" };
  if (has("q") || has("w")) return { phase: "Pending" };
  return { phase: "Unknown", reason: `unrecognised Grid Engine state ${JSON.stringify(state)}` };
}

/** "gridvm.q@gvm-h1" -> "gvm-h1"; undefined for a pending job's empty queue name. */
export function hostOfQueueInstance(queueName: string | undefined): string | undefined {
  if (!queueName) return undefined;
  const at = queueName.lastIndexOf("@");
  return at >= 0 && at < queueName.length - 1 ? queueName.slice(at + 1) : undefined;
}
