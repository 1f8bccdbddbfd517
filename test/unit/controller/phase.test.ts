import { describe, expect, it } from "vitest";
import { phaseOf } from "../../../controller/reconcilers/vminstance/phase.js";
import type { JobAccounting, JobStatus } from "../../../controller/batch/batch-backend.js";

const job = (phase: JobStatus["phase"], extra: Partial<JobStatus> = {}): JobStatus => ({ id: "7", name: "gvm-x-r1", phase, ...extra });
const acct = (extra: Partial<JobAccounting> = {}): JobAccounting => ({ id: "7", name: "gvm-x-r1", exitStatus: 0, failedCode: 0, ...extra });
const base = { agentReady: false, stopping: false, stoppedOnItsOwn: false };

describe("phaseOf: Queued -> Scheduled (host) -> Running once the agent reports", () => {
  it.each([
    ["a pending job is Queued with the scheduler's reason", { job: job("Pending", { reason: "not enough gvm_mem" }) }, "Queued", /waits for a host: not enough gvm_mem/],
    ["a held job is Queued and says how to release it", { job: job("Held") }, "Queued", /qrls 7/],
    ["a job being started is Scheduled", { job: job("Starting", { host: "gvm-h1" }) }, "Scheduled", /starting on gvm-h1/],
    ["a running job without the agent's report is Scheduled", { job: job("Running", { host: "gvm-h1" }) }, "Scheduled", /waiting for the node agent/],
    ["a running job with the agent's Ready is Running", { job: job("Running", { host: "gvm-h1" }), agentReady: true }, "Running", /runs on gvm-h1/],
    ["a running job being deleted is Stopping", { job: job("Running", { host: "gvm-h1" }), stopping: true }, "Stopping", /powered off/],
    ["an Eqw job is Failed with Grid Engine's reason", { job: job("Error", { reason: "can't chdir" }) }, "Failed", /error state: can't chdir/],
    ["a job that finished cleanly leaves the VM Stopped", { job: job("Finished"), accounting: acct() }, "Stopped", /finished/],
    ["a job killed by h_rt leaves the VM Failed with the reason", { job: job("Finished"), accounting: acct({ failedCode: 37, failedReason: "qmaster enforced h_rt limit" }) }, "Failed", /h_rt limit/],
    ["no job and not wanted: Stopped", {}, "Stopped", /spec.running is false/],
    ["ended on its own: Stopped, and says how to start again", { stoppedOnItsOwn: true, accounting: acct() }, "Stopped", /false and back to true/],
    ["blocked before any job: Pending with the blocker's words", { blocked: { reason: "VMGroupExhausted", message: "vmgroup \"lab1\" has no free address" } }, "Pending", /no free address/],
  ] as const)("%s", (_name, input, phase, message) => {
    const verdict = phaseOf({ ...base, ...input });
    expect(verdict.phase).toBe(phase);
    expect(verdict.message).toMatch(message);
  });
});
