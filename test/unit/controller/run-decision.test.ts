import { describe, expect, it } from "vitest";
import { decideRun, FORCE_DELETE_AFTER_MS, teardownStep } from "../../../controller/reconcilers/vminstance/run-decision.js";
import type { JobStatus } from "../../../controller/batch/batch-backend.js";

const uid = "0b1c2d3e-0000-4000-8000-00000000abcd";
const job = (phase: JobStatus["phase"], id = "42"): JobStatus => ({ id, name: `gvm-${uid}-r1`, phase });

describe("decideRun: start, follow or stop a VM's batch job", () => {
  it.each([
    ["a new instance that should run starts run 1", { wantRunning: true, record: { run: 0 } }, { kind: "start", run: 1, jobName: `gvm-${uid}-r1`, resume: false }],
    ["a new instance that should not run stays idle", { wantRunning: false, record: { run: 0 } }, { kind: "idle", stoppedOnItsOwn: false }],
    ["a queued job is followed", { wantRunning: true, record: { run: 1, job: { id: "42", name: `gvm-${uid}-r1`, generation: 1 } }, job: job("Pending") }, { kind: "follow", run: 1, jobName: `gvm-${uid}-r1` }],
    ["a running job is stopped when running turns false", { wantRunning: false, generation: 2, record: { run: 1, job: { id: "42", name: `gvm-${uid}-r1`, generation: 1 } }, job: job("Running") }, { kind: "stop", run: 1, jobName: `gvm-${uid}-r1`, jobId: "42" }],
    ["a running job is stopped when it may no longer run (permission revoked)", { wantRunning: true, mayRun: false, record: { run: 1, job: { id: "42", name: `gvm-${uid}-r1`, generation: 1 } }, job: job("Running") }, { kind: "stop", run: 1, jobName: `gvm-${uid}-r1`, jobId: "42" }],
    ["a VM that ended on its own is not restarted for the same spec", { wantRunning: true, record: { run: 1, job: { id: "42", name: `gvm-${uid}-r1`, generation: 1 } } }, { kind: "idle", stoppedOnItsOwn: true }],
    ["after the spec changed (running toggled), run 2 starts", { wantRunning: true, generation: 3, record: { run: 1, job: { id: "42", name: `gvm-${uid}-r1`, generation: 1 } } }, { kind: "start", run: 2, jobName: `gvm-${uid}-r2`, resume: false }],
    ["an intent without a job id resumes the same run (we may have died after qsub)", { wantRunning: true, record: { run: 1, job: { name: `gvm-${uid}-r1`, generation: 1 } } }, { kind: "start", run: 1, jobName: `gvm-${uid}-r1`, resume: true }],
    ["nothing starts while authorization, discs or network forbid it", { wantRunning: true, mayRun: false, record: { run: 0 } }, { kind: "idle", stoppedOnItsOwn: false }],
    ["a finished job counts as not live", { wantRunning: false, record: { run: 1, job: { id: "42", name: `gvm-${uid}-r1`, generation: 1 } }, job: job("Finished") }, { kind: "idle", stoppedOnItsOwn: false }],
  ] as const)("%s", (_name, input, expected) => {
    expect(decideRun({ uid, generation: 1, mayRun: true, ...input })).toEqual(expected);
  });

  it("names the same job again after a crash between submit and status write (invariant 1)", () => {
    const before = decideRun({ uid, generation: 1, wantRunning: true, mayRun: true, record: { run: 0 } });
    const afterCrash = decideRun({ uid, generation: 1, wantRunning: true, mayRun: true, record: { run: 0 } });
    expect(afterCrash).toEqual(before);
  });
});

describe("teardownStep: what the finalizer does with a deleted instance's job", () => {
  it.each([
    ["no job: release at once", undefined, 0, { kind: "release" }],
    ["a finished job: release", job("Finished"), 5_000, { kind: "release" }],
    ["a job the batch system no longer knows: release", job("Unknown"), 5_000, { kind: "release" }],
    ["a running job: ask for a graceful delete", job("Running"), 0, { kind: "delete", jobId: "42", force: false }],
    ["a pending job: delete it", job("Pending"), 0, { kind: "delete", jobId: "42", force: false }],
    // The bug the packet test found: forcing here killed the lease while qemu was still powering
    // off, so the address was freed under a running VM.
    ["a job being deleted (the VM is powering off): wait, do not force", job("Deleting"), 10_000, { kind: "wait" }],
    ["a job stuck deleting past the window (its host died): force it", job("Deleting"), FORCE_DELETE_AFTER_MS + 1, { kind: "delete", jobId: "42", force: true }],
  ] as const)("%s", (_name, j, deletingForMs, expected) => {
    expect(teardownStep(j, deletingForMs)).toEqual(expected);
  });
});
