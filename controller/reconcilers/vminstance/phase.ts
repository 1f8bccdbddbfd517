import type { JobAccounting, JobStatus } from "../../batch/batch-backend.js";
import type { VMInstanceStatus } from "../../api/generated/types.js";

export type Phase = NonNullable<VMInstanceStatus["phase"]>;

export interface PhaseVerdict {
  phase: Phase;
  /** Why, in a sentence a student or an operator can act on. */
  message: string;
  reason: string;
}

/**
 * The instance's phase from its job and from the node agent's report — Queued -> Scheduled (with
 * host) -> Running once the agent says the VM is up. Pure; table-tested.
 */
export function phaseOf(input: {
  job?: JobStatus;
  accounting?: JobAccounting;
  agentReady: boolean;
  stopping: boolean;
  stoppedOnItsOwn: boolean;
  blocked?: { reason: string; message: string };
}): PhaseVerdict {
  const { job } = input;
  if (input.blocked && !job) return { phase: "Pending", ...input.blocked };
  if (!job) {
    if (input.stoppedOnItsOwn) {
      return {
        phase: input.accounting && failedRun(input.accounting) ? "Failed" : "Stopped",
        reason: "VMEnded",
        message: `${endedMessage(input.accounting)}; set spec.running to false and back to true to start it again`,
      };
    }
    return { phase: "Stopped", reason: "NotRunning", message: "the VM is not running (spec.running is false)" };
  }
  switch (job.phase) {
    case "Pending":
      return { phase: "Queued", reason: "WaitingForHost", message: `job ${job.id} waits for a host${job.reason ? `: ${job.reason}` : ""}` };
    case "Held":
      return { phase: "Queued", reason: "JobHeld", message: `job ${job.id} is held${job.reason ? `: ${job.reason}` : ""}; an operator must release it (qrls ${job.id})` };
    case "Starting":
      return { phase: "Scheduled", reason: "Starting", message: `job ${job.id} is starting on ${job.host ?? "its host"}` };
    case "Running":
    case "Suspended":
      if (input.stopping) return { phase: "Stopping", reason: "Stopping", message: `the VM on ${job.host ?? "its host"} is being powered off` };
      if (input.agentReady) return { phase: "Running", reason: "Running", message: `the VM runs on ${job.host ?? "its host"}` };
      return { phase: "Scheduled", reason: "WaitingForAgent", message: `job ${job.id} runs on ${job.host ?? "its host"}; waiting for the node agent to start the VM` };
    case "Deleting":
      return { phase: "Stopping", reason: "Stopping", message: `job ${job.id} is being deleted` };
    case "Error":
      return { phase: "Failed", reason: "JobError", message: `Grid Engine parked job ${job.id} in an error state${job.reason ? `: ${job.reason}` : ""}` };
    case "Finished":
    case "Unknown":
      return {
        phase: input.accounting && failedRun(input.accounting) ? "Failed" : "Stopped",
        reason: "VMEnded",
        message: endedMessage(input.accounting),
      };
  }
}

function failedRun(acct: JobAccounting): boolean {
  return acct.failedCode !== 0 || acct.exitStatus !== 0;
}

function endedMessage(acct: JobAccounting | undefined): string {
  if (!acct) return "the VM stopped";
  if (acct.failedCode !== 0) return `the VM's job ${acct.id} was ended by Grid Engine (${acct.failedReason ?? `failed ${acct.failedCode}`})`;
  if (acct.exitStatus !== 0) return `the VM's job ${acct.id} ended with exit status ${acct.exitStatus}`;
  return `the VM stopped (job ${acct.id} finished)`;
}
