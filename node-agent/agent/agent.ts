import { stat } from "node:fs/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import {
  API_VERSION,
  VMGroupResource,
  VMInstanceResource,
  VMTemplateResource,
  type VMGroup,
  type VMInstance,
  type VMTemplate,
} from "../../controller/api/generated/types.js";
import { kubeTime } from "../../controller/machinery/conditions.js";
import type { EventRecorder } from "../../controller/machinery/events.js";
import { Informer } from "../../controller/machinery/informer.js";
import type { Logger } from "../../controller/machinery/log.js";
import { applyStatus } from "../../controller/reconcilers/status-apply.js";
import type { HostContext } from "../planner/context.js";
import { executePlan, type ActionResult } from "../planner/execute.js";
import { observeHost } from "../planner/observe.js";
import { plan } from "../planner/plan.js";
import type { DesiredVm } from "../planner/types.js";
import { stderrTail } from "../qemu/launcher.js";
import { processAlive } from "../qemu/proc.js";
import { observeVms, vmPaths, type ObservedVm } from "../qemu/runtime-dir.js";
import { readFile } from "node:fs/promises";
import { tapNameFor } from "../network/names.js";
import { prepareBridge } from "./bridge.js";
import type { Counters } from "./counted-runner.js";
import { desiredVms, runKey, type Unrealizable } from "./desired.js";
import { LeaseServer, type LeaseSession, type Outcome } from "./lease-server.js";
import { agentStatus, needsWrite, type RunState } from "./report.js";
import { deleteVncSecret, ensureVncSecret, vncSecretName } from "./vnc-secret.js";

export const AGENT_FIELD_MANAGER = "gridvm-agent";

export interface NodeAgentOptions {
  kc: KubeConfig;
  host: string;
  ctx: HostContext;
  socketPath: string;
  /** What VNC endpoints say: the address a client on the head node connects to. */
  vncAddress: string;
  leaseGraceMs: number;
  resyncMs: number;
  events: EventRecorder;
  counters: Counters;
  log: Logger;
}

/** What one pass did, for logs and tests. */
export interface PassReport {
  ms: number;
  actions: number;
  execCalls: number;
  apiWrites: number;
  desired: number;
  running: number;
}

/**
 * The node agent: VMInstances placed on this host (watched with a field selector) and the leases
 * of their jobs are the desired state; the host (taps, chains, dnsmasq, qemu by pidfile) is the
 * observed one. Each pass observes, plans (pure), executes, reports (server-side apply as
 * gridvm-agent, VNC Secret, Events) and tells leases how their VMs ended. Passes never overlap;
 * they run on any change, when a qemu dies, and every resyncMs.
 */
export class NodeAgent {
  readonly instances: Informer<VMInstance>;
  readonly templates: Informer<VMTemplate>;
  readonly groups: Informer<VMGroup>;
  readonly leases: LeaseServer;
  private readonly startedAt = Date.now();
  private readonly preparedBridges = new Set<string>();
  /** Run keys whose VNC Secret is known to hold the current password. */
  private readonly secretsSynced = new Set<string>();
  private running: ObservedVm[] = [];
  private dirty = false;
  private loop: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  lastPass: PassReport | undefined;
  firstPass: PassReport | undefined;

  constructor(private readonly o: NodeAgentOptions) {
    const log = o.log;
    this.instances = new Informer<VMInstance>(
      o.kc,
      {
        apiVersion: API_VERSION,
        plural: VMInstanceResource.plural,
        fieldSelector: `status.host=${o.host}`,
      },
      { log },
    );
    this.templates = new Informer<VMTemplate>(
      o.kc,
      { apiVersion: API_VERSION, plural: VMTemplateResource.plural },
      { log },
    );
    this.groups = new Informer<VMGroup>(
      o.kc,
      { apiVersion: API_VERSION, plural: VMGroupResource.plural },
      { log },
    );
    const kick = {
      onAdd: () => this.kick(),
      onUpdate: () => this.kick(),
      onDelete: () => this.kick(),
    };
    this.instances.addEventHandler(kick);
    this.templates.addEventHandler(kick);
    this.groups.addEventHandler(kick);
    this.leases = new LeaseServer({
      socketPath: o.socketPath,
      graceMs: o.leaseGraceMs,
      log,
      onChange: () => this.kick(),
      check: (ref, host) => {
        if (host !== o.host) return `this is the agent of ${o.host}, not of ${host}`;
        const cached = this.instances.store.get(`${ref.namespace}/${ref.name}`);
        if (cached && cached.metadata.uid !== ref.uid)
          return `vminstance ${ref.namespace}/${ref.name} was replaced (uid ${cached.metadata.uid}, not ${ref.uid})`;
        return undefined;
      },
    });
  }

  async start(syncTimeoutMs = 60_000): Promise<void> {
    for (const inf of [this.instances, this.templates, this.groups]) inf.start();
    for (const inf of [this.instances, this.templates, this.groups]) {
      if (!(await inf.waitForSync(syncTimeoutMs))) throw new Error("informers did not sync");
    }
    await this.leases.listen();
    this.kick();
    // A qemu that exits is noticed within a second; /proc only, no command.
    this.timers.push(
      setInterval(() => {
        if (this.running.some((v) => v.pid !== undefined && !processAlive(v.pid))) this.kick();
      }, 1_000),
      setInterval(() => this.kick(), this.o.resyncMs),
    );
  }

  /** Stops watching and listening. Never touches a VM (DESIGN invariant 3). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.loop;
    await this.leases.close();
    await Promise.all([this.instances.stop(), this.templates.stop(), this.groups.stop()]);
  }

  kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.loop ??= (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        try {
          const r = await this.pass();
          this.lastPass = r;
          this.firstPass ??= r;
          if (r.actions > 0 || r.apiWrites > 0 || this.o.counters.passes === 1)
            this.o.log.info({ ...r, pass: this.o.counters.passes }, "pass");
        } catch (err) {
          this.o.log.error({ err: (err as Error).message }, "pass failed; retrying");
          await new Promise((r) => setTimeout(r, 2_000));
          this.dirty = true;
        }
      }
      this.loop = undefined;
    })();
  }

  /** One observe -> plan -> execute -> report pass. */
  async pass(): Promise<PassReport> {
    const { ctx, counters, host } = this.o;
    const t0 = performance.now();
    const exec0 = counters.execCalls;
    const writes0 = counters.apiWrites;
    counters.passes++;

    // 1. Observe the host.
    const observed = await observeHost(ctx);
    const runningKeys = new Set(observed.vms.filter((v) => v.pid !== undefined).map((v) => v.key));

    // 2. Desired: placed here, with a live lease. Right after a restart the jobs have not
    //    reconnected yet: a running VM keeps its unknown lease for the grace period.
    const instances = this.instances.store.list().filter((i) => i.status?.host === host);
    const inStartupGrace = Date.now() - this.startedAt < this.o.leaseGraceMs;
    const { vms, unrealizable } = desiredVms({
      host,
      instances,
      templates: new Map(this.templates.store.list().map((t) => [t.metadata.name ?? "", t])),
      groups: new Map(this.groups.store.list().map((g) => [g.metadata.name ?? "", g])),
      leaseAlive: (uid, jobName) =>
        this.leases.get(uid)
          ? this.leases.alive(uid, jobName)
          : inStartupGrace && runningKeys.has(runKey(jobName)),
    });
    await this.prepareBridges(
      vms,
      observed.bridges.map((b) => b.name),
    );

    // 3. Plan and execute.
    const p = plan(vms, observed, { dhcpStateDir: ctx.dhcpStateDir });
    const results = p.actions.length > 0 ? await executePlan(p, ctx) : [];
    const now = p.actions.length > 0 ? await observeVms(ctx.runtimeDir) : observed.vms;
    this.running = now.filter((v) => v.pid !== undefined);
    await this.recordStarts(results, vms, instances);

    // 4. Report, then 5. tell leases how their VMs ended (after the report, so the status says
    //    why before the job's end makes the controller mark the instance Stopped or Failed).
    const byKey = new Map(now.map((v) => [v.key, v]));
    const desiredKeys = new Set(vms.map((v) => v.key));
    const blocked = new Map(p.blocked.map((b) => [b.key, b.reason]));
    for (const inst of instances) {
      const state = await this.runState(inst, byKey, desiredKeys, blocked, unrealizable);
      await this.report(inst, state).catch((err: Error) =>
        this.o.log.warn(
          { vminstance: `${inst.metadata.namespace}/${inst.metadata.name}`, err: err.message },
          "could not report status",
        ),
      );
    }
    for (const s of this.leases.list()) await this.settleLease(s, byKey);

    return {
      ms: Math.round(performance.now() - t0),
      actions: p.actions.length,
      execCalls: counters.execCalls - exec0,
      apiWrites: counters.apiWrites - writes0,
      desired: vms.length,
      running: this.running.length,
    };
  }

  private async prepareBridges(vms: DesiredVm[], existing: string[]): Promise<void> {
    for (const bridge of new Set(vms.filter((v) => v.dhcp === "Dnsmasq").map((v) => v.bridge))) {
      if (this.preparedBridges.has(bridge) || !existing.includes(bridge)) continue;
      const changed = await prepareBridge(this.o.ctx.host, bridge, this.o.host);
      if (changed.length) this.o.log.info({ bridge, changed }, "bridge prepared for DHCP");
      this.preparedBridges.add(bridge);
    }
  }

  private async recordStarts(
    results: ActionResult[],
    vms: DesiredVm[],
    instances: VMInstance[],
  ): Promise<void> {
    for (const r of results) {
      if (r.action.kind !== "startQemu") continue;
      const key = r.action.vm.key;
      const inst = instances.find((i) => i.metadata.uid === vms.find((v) => v.key === key)?.uid);
      if (!inst) continue;
      if (r.error) {
        await this.event(
          inst,
          "Warning",
          "VMFailed",
          `qemu did not start on ${this.o.host}: ${r.error.message}${discList(inst)}`,
        );
      } else if (r.started) {
        this.secretsSynced.delete(key); // a fresh password
        await this.event(
          inst,
          "Normal",
          "VMStarted",
          `qemu runs on ${this.o.host}, VNC display :${r.started.vncDisplay}`,
        );
      }
    }
  }

  private async runState(
    inst: VMInstance,
    byKey: Map<string, ObservedVm>,
    desiredKeys: Set<string>,
    blocked: Map<string, string>,
    unrealizable: Unrealizable[],
  ): Promise<RunState> {
    const jobName = inst.status?.job?.name;
    const key = jobName ? runKey(jobName) : "";
    const vm = key ? byKey.get(key) : undefined;
    const paths = vmPaths(this.o.ctx.runtimeDir, key);
    if (vm?.pid !== undefined && vm.vncDisplay !== undefined && desiredKeys.has(key)) {
      const password = (await readFile(paths.vncPassword, "utf8").catch(() => "")).trim();
      if (!password)
        return { kind: "failed", message: "qemu runs but its VNC password was never set" };
      if (!this.secretsSynced.has(key)) {
        if (await ensureVncSecret(this.o.kc, inst, password)) this.o.counters.apiWrites++;
        this.secretsSynced.add(key);
      }
      const started = await stat(paths.pidFile)
        .then((s) => s.mtimeMs)
        .catch(() => Date.now());
      return {
        kind: "running",
        display: vm.vncDisplay,
        startedAt: kubeTime(started),
        passwordSecret: vncSecretName(inst.metadata.name ?? ""),
      };
    }
    if (vm?.exited?.reason === "start-failed")
      return {
        kind: "failed",
        // qemu names a disc by its node ("file0"), not its path: add the paths an operator needs.
        message: `qemu failed to start on ${this.o.host}: ${vm.exited.message ?? ""}${discList(inst)}`,
      };
    if (vm?.exited) {
      const tail = await stderrTail(paths.stderr);
      return {
        kind: "exited",
        message: `qemu exited on ${this.o.host}${tail ? `: ${tail}` : " (guest powered off or qemu killed)"}`,
      };
    }
    const why = unrealizable.find(
      (u) => u.namespace === inst.metadata.namespace && u.name === inst.metadata.name,
    );
    if (why) return { kind: "unrealizable", reason: why.reason, message: why.message };
    const reason = blocked.get(key);
    if (reason) return { kind: "unrealizable", reason: "Blocked", message: reason };
    return { kind: "none" };
  }

  private async report(inst: VMInstance, state: RunState): Promise<void> {
    const name = inst.metadata.name ?? "";
    const namespace = inst.metadata.namespace ?? "";
    const want = agentStatus(inst.status, state, {
      host: this.o.host,
      vncAddress: this.o.vncAddress,
      tap: tapNameFor(inst.metadata.uid ?? ""),
      generation: inst.metadata.generation ?? 0,
      nowMs: Date.now(),
    });
    if (state.kind !== "running" && inst.status?.vnc?.passwordSecret) {
      const key = runKey(inst.status.job?.name ?? "");
      this.secretsSynced.delete(key);
      if (await deleteVncSecret(this.o.kc, namespace, name)) this.o.counters.apiWrites++;
    }
    if (!want || !needsWrite(inst.status, want)) return;
    await applyStatus(
      this.o.kc,
      {
        apiVersion: API_VERSION,
        kind: "VMInstance",
        plural: VMInstanceResource.plural,
        name,
        namespace,
      },
      want,
      AGENT_FIELD_MANAGER,
    );
    this.o.counters.apiWrites++;
    // A failed start has had its Event from recordStarts already.
    if (state.kind === "exited") await this.event(inst, "Warning", "VMExited", state.message);
  }

  /** Ends a lease whose VM is over: stopped on request, exited, or failed to start. */
  private async settleLease(s: LeaseSession, byKey: Map<string, ObservedVm>): Promise<void> {
    const key = runKey(s.jobName);
    const vm = byKey.get(key);
    if (vm?.pid !== undefined) return; // still running (a stop is under way or next pass)
    let outcome: Outcome | undefined;
    if (s.stopRequested) {
      outcome = { type: "ended", message: `the VM was stopped (${s.stopRequested})` };
    } else if (vm?.exited?.reason === "start-failed") {
      outcome = { type: "failed", message: vm.exited.message ?? "qemu failed to start" };
    } else if (vm?.exited) {
      const tail = await stderrTail(vmPaths(this.o.ctx.runtimeDir, key).stderr);
      outcome = tail
        ? { type: "failed", message: `qemu exited: ${tail}` }
        : { type: "ended", message: "the VM powered off" };
    } else if (this.leases.lost(s)) {
      this.o.log.warn(
        { instance: `${s.ref.namespace}/${s.ref.name}`, job: s.jobId },
        "lease lost: its job stayed away past the grace period",
      );
      this.leases.forget(s.ref.uid);
      return;
    }
    if (outcome) this.leases.finish(s.ref.uid, outcome);
  }

  private async event(
    inst: VMInstance,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    this.o.counters.apiWrites++;
    await this.o.events.event(inst, type, reason, message);
  }
}

/** "; discs: root=/path, ..." for failure messages, or "" when the instance has none. */
function discList(inst: VMInstance): string {
  const discs = (inst.status?.disks ?? []).map((d) => `${d.name}=${d.path}`);
  return discs.length ? ` (discs: ${discs.join(", ")})` : "";
}
