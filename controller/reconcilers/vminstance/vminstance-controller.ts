import type { KubeConfig } from "@kubernetes/client-node";
import { rm } from "node:fs/promises";
import { API_VERSION, VMInstanceResource, type VMGroup, type VMInstance, type VMInstanceStatus, type VMTemplate } from "../../api/generated/types.js";
import { parseQuantity } from "../../api/quantity.js";
import { poolFor, ReservationTable, ipToNumber } from "../../allocation/index.js";
import { isLive as isLivePhase, type BatchBackend, type JobAccounting, type JobSpec, type JobStatus } from "../../batch/batch-backend.js";
import type { InstanceRef } from "../../../node-agent/lease/protocol.js";
import type { Store } from "../../machinery/cache.js";
import type { Clock } from "../../machinery/clock.js";
import { findCondition, setConditions, type Condition, type ConditionUpdate } from "../../machinery/conditions.js";
import type { EventRecorder } from "../../machinery/events.js";
import { GRIDVM_FINALIZER, hasFinalizer, patchFinalizer } from "../../machinery/finalizers.js";
import { collectionPath, isNotFound } from "../../machinery/kube-request.js";
import type { Logger } from "../../machinery/log.js";
import type { ReconcileResult } from "../../machinery/workqueue.js";
import { createOverlay, fileExists } from "../../storage/qemu-img.js";
import { applyStatus, mergeStatus } from "../status-apply.js";
import { dhcpHostName, type DhcpRegistrar } from "../../dhcp/host-registrar.js";
import { planDisks, type InstanceDisk } from "./disks.js";
import type { JobWatch } from "./job-watch.js";
import { phaseOf } from "./phase.js";
import { decideRun, endedOnItsOwn, teardownStep } from "./run-decision.js";
import { AGENT_CONDITION_TYPES, controllerStatusUnchanged } from "./vminstance-status.js";

export const CONTROLLER_FIELD_MANAGER = "gridvm-controller";

export type AuthorizationVerdict = { allowed: true } | { allowed: false; reason: string; message: string };

/** The controller's re-check of who may run what (admission can race); the same evaluator as the webhook. */
export type InstanceAuthorizer = (instance: VMInstance) => AuthorizationVerdict;

export interface VMInstanceControllerDeps {
  kc: KubeConfig;
  instances: Store<VMInstance>;
  templates: Store<VMTemplate>;
  groups: Store<VMGroup>;
  backend: BatchBackend;
  jobs: JobWatch;
  reservations: ReservationTable;
  authorize: InstanceAuthorizer;
  /** Fixed-address entries for groups with dhcp.mode OMAPI (Dnsmasq mode is the node agent's). */
  dhcp: DhcpRegistrar;
  jobCommand: (ref: InstanceRef) => string[];
  storageRoot: string;
  /** Where job output lands on the hosts (shared filesystem), or undefined to discard it. */
  jobLogDir?: string;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
}

// The job poller (JobWatch) enqueues an instance whenever its job changes state or host; these
// requeues are only a safety net, so they can be slow — 100 queued VMs must not mean 20 qstat/s.
const FOLLOW_MS = { queued: 30_000, running: 60_000, stopping: 2_000 };
/** How long a pending job's scheduler reason (one `qstat -j` each) is reused. */
const REASON_TTL_MS = 30_000;

/**
 * Reconciles one VMInstance into an address, discs and a batch job, and writes what it found into
 * status — observe, decide (pure helpers), act, then one status apply at the end.
 */
export class VMInstanceController {
  private readonly reasons = new Map<string, { phase: string; reason?: string; at: number }>();
  private readonly accounts = new Map<string, JobAccounting>();

  constructor(private readonly d: VMInstanceControllerDeps) {}

  async reconcile(key: string): Promise<ReconcileResult | void> {
    try {
      return await this.reconcileOnce(key);
    } catch (err) {
      if (isNotFound(err)) return; // deleted while we worked; its delete event brings us back if needed
      throw err;
    }
  }

  private async reconcileOnce(key: string): Promise<ReconcileResult | void> {
    // 1. Observe: the instance, its template and group, its siblings, its job.
    const cached = this.d.instances.get(key);
    if (!cached) {
      this.d.reservations.release(key);
      return;
    }
    let instance = cached;
    const uid = instance.metadata.uid ?? "";
    const record = { run: instance.status?.run ?? 0, job: instance.status?.job };
    const currentJob = await this.observeJob(record.job, instance.status?.phase);

    // 2. Deletion: stop the job, wait for it to end, free the address and (per diskPolicy) the overlay.
    if (instance.metadata.deletionTimestamp) return this.finalize(instance, currentJob);

    // 3. Make sure deletion will come through us.
    if (!hasFinalizer(instance, GRIDVM_FINALIZER)) {
      instance = await patchFinalizer(this.d.kc, this.objectPath(instance), instance, GRIDVM_FINALIZER, "present");
    }

    const template = this.d.templates.get(instance.spec.template);
    const group = template ? this.d.groups.get(template.spec.vmGroup) : undefined;
    const siblings = this.d.instances.list().filter((s) => s.spec.template === instance.spec.template);
    const updates: ConditionUpdate[] = [];
    const generation = instance.metadata.generation ?? 0;
    const cond = (type: string, ok: boolean, reason: string, message: string): void => {
      updates.push({ type, status: ok ? "True" : "False", reason, message, observedGeneration: generation });
    };

    // 4. Authorization, re-checked here because admission can race (a permission revoked, a quota
    //    filled by a concurrent create): an unauthorized instance never gets a job.
    const verdict = this.d.authorize(instance);
    cond("Authorized", verdict.allowed, verdict.allowed ? "Allowed" : verdict.reason, verdict.allowed ? "the owner may run this VM" : verdict.message);

    // 5. Discs: overlays of the template's discs (Derive) or the template's own (Template).
    const diskPlan = planDisks(instance, template, siblings, this.d.storageRoot);
    let disks: InstanceDisk[] = instance.status?.disks ?? [];
    if (diskPlan.ok && !verdict.allowed) {
      cond("DisksReady", false, "NotAuthorized", "no overlay is made for an instance its owner may not derive or run");
    } else if (diskPlan.ok) {
      try {
        for (const disk of diskPlan.disks) {
          if (disk.backingPath && !(await fileExists(disk.path))) await createOverlay(disk.path, disk.backingPath);
        }
        disks = diskPlan.disks;
        cond("DisksReady", true, "DisksReady", `${disks.length} disc(s) ready`);
      } catch (err) {
        cond("DisksReady", false, "DiskCreationFailed", (err as Error).message);
      }
    } else {
      cond("DisksReady", false, diskPlan.reason, diskPlan.message);
    }

    // 6. Network: an address is held only while the VM should run (the paper's Mapping row), so
    //    stopped VMs never exhaust a lab's range: keep the recorded one, or reserve the next free one.
    const ended = endedOnItsOwn(record, generation, currentJob);
    const wantsAddress = (instance.spec.running === true && verdict.allowed && diskPlan.ok && !ended) || isLive(currentJob);
    const network = wantsAddress ? this.network(instance, template, group) : ({ ok: false, reason: "NotRunning", message: "no address while the VM is stopped" } as const);
    if (wantsAddress) {
      let dhcpProblem: string | undefined;
      if (network.ok && group?.spec.dhcp?.mode === "OMAPI") {
        // The paper's way: a fixed-address lease in the central dhcpd before the VM boots.
        dhcpProblem = await this.d.dhcp.ensureHost(group, { name: dhcpHostName(uid), mac: network.mac, ip: network.ip }).then(
          () => undefined,
          (err: Error) => `could not register ${network.ip} with the DHCP server by OMAPI: ${err.message}`,
        );
      }
      if (dhcpProblem) cond("NetworkReady", false, "DhcpRegistrationFailed", dhcpProblem);
      else cond("NetworkReady", network.ok, network.ok ? "AddressAllocated" : network.reason, network.ok ? `${network.ip} / ${network.mac} in vmgroup "${network.group}"` : network.message);
    } else {
      this.d.reservations.release(key);
      if (instance.status?.network?.ip) await this.removeDhcpHost(instance, group);
    }

    // 7. The run: start, follow or stop the batch job (one live job per run, looked up by name first).
    const ready = updates.every((u) => u.status === "True");
    const decision = decideRun({ uid, generation, wantRunning: instance.spec.running === true, mayRun: ready, record, job: currentJob });
    let job = currentJob;
    let run = record.run;
    // Whatever job we follow, status records its id (a run resumed after a crash learns it here).
    let jobRecord = currentJob && record.job ? { ...record.job, id: currentJob.id } : record.job;
    let stopping = false;
    if (decision.kind === "start" && network.ok) {
      let existing: JobStatus | undefined;
      if (decision.resume) {
        // An intent without an id: we may have died after qsub. A job of this name — live or
        // already finished — is this run's: never submit it twice.
        existing = this.d.jobs.byName(decision.jobName) ?? (await this.d.backend.findByName(decision.jobName));
      } else {
        // Write-ahead intent: once status names the job, a crash after qsub is recoverable by name.
        // A merge patch, so the rest of the status stays (an apply would drop what it leaves out).
        await mergeStatus(this.d.kc, this.coordinates(instance), { run: decision.run, job: { name: decision.jobName, generation } });
      }
      const id = existing ? existing.id : await this.d.backend.submit(this.jobSpec(instance, template!, decision.jobName));
      // Failpoint for the crash test (invariant 1): die between the submit and the status write.
      if (!existing && process.env.GRIDVM_FAILPOINT === "crash-after-submit") process.kill(process.pid, "SIGKILL");
      if (!existing) void this.d.events.normal(instance, "Submitted", `job ${id} (${decision.jobName}) submitted to ${this.d.backend.kind}`);
      run = decision.run;
      jobRecord = { id, name: decision.jobName, generation };
      job = { id, name: decision.jobName, phase: "Pending", ...(existing ?? {}) };
      void this.d.jobs.poll();
    } else if (decision.kind === "stop") {
      await this.d.backend.delete(decision.jobId);
      stopping = true;
      void this.d.jobs.poll();
    }
    // 8. Status, once: phase from the job and the agent's Ready condition.
    const accounting = !job && decision.kind === "idle" && decision.stoppedOnItsOwn ? await this.accountingOf(jobRecord?.id) : job?.phase === "Finished" ? await this.accountingOf(job.id) : undefined;
    const agentReady = findCondition(instance.status?.conditions as Condition[] | undefined, "Ready")?.status === "True";
    const blocking = updates.find((u) => u.status === "False" && u.type !== "Scheduled");
    const verdictPhase = phaseOf({
      job,
      accounting,
      agentReady,
      stopping,
      stoppedOnItsOwn: decision.kind === "idle" && decision.stoppedOnItsOwn,
      blocked: instance.spec.running && blocking ? { reason: blocking.reason, message: blocking.message } : undefined,
    });
    // A run that ended on its own says why here (time limit, qdel, exit status), where
    // `kubectl describe` shows it; the agent's Ready only knows the VM is gone.
    const endedRun = !job && verdictPhase.reason === "VMEnded";
    const scheduledReason = job ? (job.host ? `job ${job.id} placed on ${job.host}` : `job ${job.id} waits for a host`) : endedRun ? verdictPhase.message : "no job";
    cond("Scheduled", Boolean(job?.host), job?.host ? "Placed" : endedRun ? "RunEnded" : "NotPlaced", scheduledReason);
    if (job?.phase === "Error") await this.d.backend.delete(job.id, { force: true }); // an Eqw job holds nothing useful
    const status: VMInstanceStatus = {
      observedGeneration: generation,
      phase: verdictPhase.phase,
      ...(job?.host && ["Queued", "Scheduled", "Running", "Stopping"].includes(verdictPhase.phase) ? { host: job.host } : {}),
      run,
      ...(jobRecord ? { job: jobRecord } : {}),
      ...(network.ok ? { network: { vmGroup: network.group, ip: network.ip, mac: network.mac, isolated: instance.spec.isolated ?? false } } : {}),
      disks,
      conditions: setConditions(
        (instance.status?.conditions as Condition[] | undefined)?.filter((c) => !AGENT_CONDITION_TYPES.includes(c.type)),
        updates,
        this.d.clock.now(),
      ).filter((c) => updates.some((u) => u.type === c.type)),
    };
    if (!controllerStatusUnchanged(instance.status, status)) await applyStatus(this.d.kc, this.coordinates(instance), status, CONTROLLER_FIELD_MANAGER);
    if (["Stopped", "Failed"].includes(verdictPhase.phase) && instance.status?.vnc) {
      await mergeStatus(this.d.kc, this.coordinates(instance), { vnc: null, host: null }); // the agent's last report is stale now
    }
    if (verdictPhase.phase !== instance.status?.phase) {
      this.d.log.info({ vminstance: key, phase: verdictPhase.phase, reason: verdictPhase.reason }, verdictPhase.message);
      if (verdictPhase.phase === "Failed") void this.d.events.warning(instance, verdictPhase.reason, verdictPhase.message);
    }
    return { requeueAfterMs: requeueFor(verdictPhase.phase) };
  }

  private async finalize(instance: VMInstance, job: JobStatus | undefined): Promise<ReconcileResult | void> {
    const key = `${instance.metadata.namespace}/${instance.metadata.name}`;
    const deletingForMs = this.d.clock.now() - Date.parse(instance.metadata.deletionTimestamp ?? "");
    const step = teardownStep(job, Number.isFinite(deletingForMs) ? deletingForMs : 0);
    if (step.kind !== "release") {
      if (step.kind === "delete") {
        await this.d.backend.delete(step.jobId, { force: step.force });
        void this.d.jobs.poll();
      }
      return { requeueAfterMs: FOLLOW_MS.stopping };
    }
    if (instance.spec.diskPolicy === "Delete" && instance.spec.diskMode !== "Template") {
      for (const disk of instance.status?.disks ?? []) if (disk.backingPath) await rm(disk.path, { force: true });
    }
    this.d.reservations.release(key);
    await this.removeDhcpHost(instance, this.groupOf(instance));
    if (hasFinalizer(instance, GRIDVM_FINALIZER)) {
      await patchFinalizer(this.d.kc, this.objectPath(instance), instance, GRIDVM_FINALIZER, "absent");
      const kept = instance.spec.diskPolicy === "Delete" ? "overlay deleted" : `overlay kept at ${(instance.status?.disks ?? []).filter((d) => d.backingPath).map((d) => d.path).join(", ") || "(none)"}`;
      this.d.log.info({ vminstance: key }, `released ${instance.status?.network?.ip ?? "no address"}; ${kept}`);
    }
  }

  /** Drops the instance's OMAPI entry when its group uses OMAPI (idempotent: absent is fine). */
  private async removeDhcpHost(instance: VMInstance, group: VMGroup | undefined): Promise<void> {
    if (group?.spec.dhcp?.mode !== "OMAPI") return;
    await this.d.dhcp.removeHost(group, dhcpHostName(instance.metadata.uid ?? ""));
  }

  private groupOf(instance: VMInstance): VMGroup | undefined {
    const groupName = instance.status?.network?.vmGroup ?? this.d.templates.get(instance.spec.template)?.spec.vmGroup;
    return groupName ? this.d.groups.get(groupName) : undefined;
  }

  /**
   * The recorded job's state: from the poller's list when it has it; otherwise from the batch
   * system itself — the list lags a submit by up to one poll, and taking "not listed" for
   * "finished" would free a running VM's address or let its deletion through.
   */
  private async observeJob(recorded: { id?: string; name?: string } | undefined, phase: string | undefined): Promise<JobStatus | undefined> {
    const name = recorded?.name;
    if (!name) return undefined;
    const cached = this.d.jobs.byName(name);
    if (cached && (cached.phase === "Pending" || cached.phase === "Error" || cached.phase === "Held")) {
      // The list has no reasons: one `qstat -j` for the job that needs one, reused for a while.
      const seen = this.reasons.get(cached.id);
      if (seen && seen.phase === cached.phase && this.d.clock.now() - seen.at < REASON_TTL_MS) return { ...cached, reason: seen.reason };
      const detailed = await this.d.backend.get(cached.id).catch(() => cached);
      rememberAtMost(this.reasons, cached.id, { phase: cached.phase, reason: detailed.reason, at: this.d.clock.now() });
      return detailed;
    }
    if (cached) return cached;
    // A run already reported over cannot come back; only a live-looking one is worth a qstat.
    if (recorded.id && phase !== "Stopped" && phase !== "Failed") return this.d.backend.get(recorded.id);
    return undefined; // an intent without an id: the start decision looks it up by name
  }

  /** A finished job's accounting never changes: read it once per job (qacct scans a file). */
  private async accountingOf(id: string | undefined): Promise<JobAccounting | undefined> {
    if (!id) return undefined;
    if (this.accounts.has(id)) return this.accounts.get(id);
    const acct = await this.d.backend.accounting(id).catch(() => undefined);
    if (acct) rememberAtMost(this.accounts, id, acct);
    return acct;
  }

  private network(instance: VMInstance, template: VMTemplate | undefined, group: VMGroup | undefined):
    | { ok: true; group: string; ip: string; mac: string }
    | { ok: false; reason: string; message: string } {
    if (!template) return { ok: false, reason: "TemplateNotFound", message: `vmtemplate "${instance.spec.template}" does not exist` };
    if (!group) return { ok: false, reason: "VMGroupNotFound", message: `vmgroup "${template.spec.vmGroup}" of vmtemplate "${template.metadata.name}" does not exist` };
    const groupName = group.metadata.name ?? "";
    const held = instance.status?.network;
    const key = `${instance.metadata.namespace}/${instance.metadata.name}`;
    if (held?.ip && held.mac && held.vmGroup === groupName) {
      // The cache shows our status write now; only from here on may the in-memory claim go.
      this.d.reservations.release(key);
      return { ok: true, group: groupName, ip: held.ip, mac: held.mac };
    }
    if (findCondition(group.status?.conditions as Condition[] | undefined, "Ready")?.status === "False") {
      return { ok: false, reason: "VMGroupNotReady", message: `vmgroup "${groupName}" is not ready: ${findCondition(group.status?.conditions as Condition[], "Ready")?.message ?? ""}` };
    }
    const pool = poolFor(group.spec.addresses, group.spec.gateway.ip);
    if (!pool.ok) return { ok: false, reason: "VMGroupInvalid", message: pool.error };
    const heldIps = new Set(
      this.d.instances
        .list()
        .filter((i) => i.status?.network?.vmGroup === groupName && i.status.network.ip && i.metadata.uid !== instance.metadata.uid)
        .map((i) => ipToNumber(i.status!.network!.ip!)),
    );
    const got = this.d.reservations.reserve(groupName, pool.value, group.spec.macPrefix ?? "de:af:de:af", key, heldIps);
    if (got.kind === "exhausted") {
      return { ok: false, reason: "VMGroupExhausted", message: `vmgroup "${groupName}" has no free address (${got.held} of ${got.size} held); stop or delete other VMs, or widen spec.addresses` };
    }
    return { ok: true, group: groupName, ip: got.ip, mac: got.mac };
  }

  private jobSpec(instance: VMInstance, template: VMTemplate, name: string): JobSpec {
    const memory = instance.spec.resources?.memory ?? template.spec.resources.memory;
    const ref = { namespace: instance.metadata.namespace ?? "", name: instance.metadata.name ?? "", uid: instance.metadata.uid ?? "" };
    return {
      name,
      command: this.d.jobCommand(ref),
      memoryBytes: Number(parseQuantity(memory)),
      cpus: instance.spec.resources?.cpus ?? template.spec.resources.cpus ?? 1,
      ...(instance.spec.timeLimit ? { timeLimitSeconds: durationSeconds(instance.spec.timeLimit) } : {}),
      ...(this.d.jobLogDir ? { outputPath: `${this.d.jobLogDir}/${name}.log` } : {}),
    };
  }

  private coordinates(instance: VMInstance) {
    return { apiVersion: API_VERSION, kind: "VMInstance", plural: VMInstanceResource.plural, name: instance.metadata.name ?? "", namespace: instance.metadata.namespace };
  }

  private objectPath(instance: VMInstance): string {
    return `${collectionPath(API_VERSION, VMInstanceResource.plural, instance.metadata.namespace)}/${instance.metadata.name}`;
  }
}

function isLive(job: JobStatus | undefined): boolean {
  return job !== undefined && isLivePhase(job.phase);
}

function requeueFor(phase: string): number | undefined {
  if (phase === "Queued" || phase === "Scheduled") return FOLLOW_MS.queued;
  if (phase === "Stopping") return FOLLOW_MS.stopping;
  if (phase === "Running") return FOLLOW_MS.running;
  return undefined;
}

/** "2h30m" -> 9000. The CRD's pattern guarantees the shape. */
/** Sets `key` and, past `limit` entries, forgets the oldest: a cache that cannot grow without end. */
function rememberAtMost<K, V>(map: Map<K, V>, key: K, value: V, limit = 10_000): void {
  map.set(key, value);
  if (map.size > limit) map.delete(map.keys().next().value!);
}

export function durationSeconds(text: string): number {
  let total = 0;
  for (const [, n, unit] of text.matchAll(/([0-9]+)([hms])/g)) total += Number(n) * (unit === "h" ? 3600 : unit === "m" ? 60 : 1);
  return total;
}

