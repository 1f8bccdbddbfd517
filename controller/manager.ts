import type { KubeConfig } from "@kubernetes/client-node";
import { hostname } from "node:os";
import { API_VERSION, type Permission, type VMGroup, type VMInstance, type VMTemplate } from "./api/generated/types.js";
import { ReservationTable } from "./allocation/index.js";
import type { BatchBackend } from "./batch/batch-backend.js";
import { OmapiRegistrar } from "./dhcp/host-registrar.js";
import type { InstanceRef } from "../node-agent/lease/protocol.js";
import { objectKey, type KubeObject } from "./machinery/cache.js";
import { realClock } from "./machinery/clock.js";
import { EventRecorder, kubeEventSink } from "./machinery/events.js";
import { startHttpServer, type RunningHttpServer } from "./machinery/http-server.js";
import { Informer } from "./machinery/informer.js";
import { kubeLeaseClient, LeaderElector } from "./machinery/leader-election.js";
import type { Logger } from "./machinery/log.js";
import { ControllerMetrics } from "./machinery/metrics.js";
import { runWorkers, WorkQueue } from "./machinery/workqueue.js";
import { PermissionController } from "./reconcilers/permission/permission-controller.js";
import { VMGroupController } from "./reconcilers/vmgroup/vmgroup-controller.js";
import { JobWatch } from "./reconcilers/vminstance/job-watch.js";
import { VMInstanceController, type InstanceAuthorizer } from "./reconcilers/vminstance/vminstance-controller.js";
import { VMTemplateController } from "./reconcilers/vmtemplate/vmtemplate-controller.js";
import type { StorageRoots } from "./storage/storage-roots.js";

type QueueName = "vminstance" | "vmtemplate" | "vmgroup" | "permission";

export interface ManagerOptions {
  kc: KubeConfig;
  backend: BatchBackend;
  roots: StorageRoots;
  jobCommand: (ref: InstanceRef) => string[];
  /** Built from the informers' caches, so the controller's re-check sees what admission saw. */
  authorizer: (caches: { permissions: () => Permission[]; templates: () => VMTemplate[]; instances: () => VMInstance[] }) => InstanceAuthorizer;
  log: Logger;
  workers?: number;
  jobPollMs?: number;
  jobLogDir?: string;
  leaderElection?: { namespace: string; name: string; identity?: string } | false;
  metricsPort?: number;
  metricsHost?: string;
}

/**
 * The controller process: informers for the four kinds, one work queue and reconciler per kind,
 * the batch job poller, leader election (only the leader reconciles), and /metrics /healthz /readyz.
 */
export class Manager {
  readonly metrics = new ControllerMetrics({ processMetrics: true });
  readonly instances: Informer<VMInstance>;
  readonly templates: Informer<VMTemplate>;
  readonly groups: Informer<VMGroup>;
  readonly permissions: Informer<Permission>;
  /** One set of queues per term as leader: a standby (or a leader that lost its lease) drops its work. */
  private queues: Record<QueueName, WorkQueue<string>>;
  private stopped = false;
  private readonly jobs: JobWatch;
  private readonly uidToKey = new Map<string, string>();
  private http: RunningHttpServer | undefined;
  private elector: LeaderElector | undefined;
  private leading = false;
  private workersDone: Promise<unknown> | undefined;

  constructor(private readonly o: ManagerOptions) {
    const log = o.log;
    this.instances = new Informer<VMInstance>(o.kc, { apiVersion: API_VERSION, plural: "vminstances" }, { log });
    this.templates = new Informer<VMTemplate>(o.kc, { apiVersion: API_VERSION, plural: "vmtemplates" }, { log });
    this.groups = new Informer<VMGroup>(o.kc, { apiVersion: API_VERSION, plural: "vmgroups" }, { log });
    this.permissions = new Informer<Permission>(o.kc, { apiVersion: API_VERSION, plural: "permissions" }, { log });
    this.queues = this.newQueues();
    this.jobs = new JobWatch(o.backend, (uid) => this.enqueueUid(uid), log, o.jobPollMs ?? 2_000);
    this.wireHandlers();
  }

  async start(): Promise<void> {
    const { log } = this.o;
    this.http = await startHttpServer({
      host: this.o.metricsHost ?? "127.0.0.1",
      port: this.o.metricsPort ?? 0,
      registry: this.metrics.registry,
      healthz: { ping: () => true },
      readyz: {
        informers: () => [this.instances, this.templates, this.groups, this.permissions].every((i) => i.hasSynced()),
        jobs: () => !this.leading || this.jobs.hasSynced(),
      },
    });
    log.info({ port: this.http.port }, "serving /metrics /healthz /readyz");
    for (const informer of [this.instances, this.templates, this.groups, this.permissions]) informer.start();
    await Promise.all([this.instances, this.templates, this.groups, this.permissions].map((i) => i.waitForSync()));
    log.info({ vminstances: this.instances.store.size(), vmtemplates: this.templates.store.size(), vmgroups: this.groups.store.size() }, "caches synced");

    const le = this.o.leaderElection;
    if (le === false || le === undefined) {
      setInterval(() => this.countJobs(), 5_000).unref();
      this.startLeading();
      return;
    }
    void this.campaign(le.namespace, le.name, le.identity ?? `${hostname()}_${process.pid}`);
  }

  /**
   * Campaigns, leads, and on losing the lease (an apiserver outage longer than the renew
   * deadline) stops every worker and campaigns again — in-process, so a local controller with no
   * supervisor recovers by itself; invariant 1 (look jobs up by name) covers the brief overlap.
   */
  private async campaign(namespace: string, name: string, identity: string): Promise<void> {
    const { log } = this.o;
    setInterval(() => this.countJobs(), 5_000).unref();
    while (!this.stopped) {
      this.elector = new LeaderElector({
        identity,
        namespace,
        name,
        client: kubeLeaseClient(this.o.kc, namespace, name),
        releaseOnStop: true,
        log,
        callbacks: {
          onStartedLeading: () => this.startLeading(),
          onNewLeader: (who) => log.info({ leader: who }, "leader"),
        },
      });
      await this.elector.run();
      if (this.leading) {
        log.warn("lost the leader lease: stopping all work, then campaigning again");
        await this.stopLeading();
      }
    }
  }

  get port(): number | undefined {
    return this.http?.port;
  }

  /** Graceful stop: release the lease, drain queues, stop polling and watching, close HTTP. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.elector?.stop();
    await this.stopLeading();
    await Promise.all([this.instances, this.templates, this.groups, this.permissions].map((i) => i.stop()));
    await this.http?.close();
  }

  private newQueues(): Record<QueueName, WorkQueue<string>> {
    const metrics = this.metrics.workqueueSink();
    const queue = (name: QueueName) => new WorkQueue<string>({ name, metrics });
    return { vminstance: queue("vminstance"), vmtemplate: queue("vmtemplate"), vmgroup: queue("vmgroup"), permission: queue("permission") };
  }

  private async stopLeading(): Promise<void> {
    this.leading = false;
    for (const q of Object.values(this.queues)) q.shutDown();
    await this.workersDone;
    await this.jobs.stop();
  }

  private startLeading(): void {
    const { o } = this;
    this.leading = true;
    this.queues = this.newQueues();
    o.log.info("leading: reconciling");
    const clock = realClock;
    const events = new EventRecorder({ component: "gridvm-controller", sink: kubeEventSink(o.kc), log: o.log });
    const reservations = new ReservationTable();
    const authorize = o.authorizer({ permissions: () => this.permissions.store.list(), templates: () => this.templates.store.list(), instances: () => this.instances.store.list() });
    const vmInstances = new VMInstanceController({
      kc: o.kc,
      instances: this.instances.store,
      templates: this.templates.store,
      groups: this.groups.store,
      backend: o.backend,
      jobs: this.jobs,
      reservations,
      authorize,
      dhcp: new OmapiRegistrar(o.kc),
      jobCommand: o.jobCommand,
      storageRoot: o.roots.storage,
      jobLogDir: o.jobLogDir,
      events,
      clock,
      log: o.log.child({ controller: "vminstance" }),
    });
    const vmTemplates = new VMTemplateController({ kc: o.kc, templates: this.templates.store, instances: this.instances.store, roots: o.roots, events, clock, log: o.log.child({ controller: "vmtemplate" }) });
    const vmGroups = new VMGroupController({ kc: o.kc, groups: this.groups.store, instances: this.instances.store, events, clock, log: o.log.child({ controller: "vmgroup" }) });
    const permissions = new PermissionController({ kc: o.kc, permissions: this.permissions.store, templates: this.templates.store, groups: this.groups.store, clock });
    this.jobs.start();
    const workers = o.workers ?? 4;
    const onError = (kind: string) => (key: string, err: unknown) => o.log.warn({ kind, key, err: (err as Error).message }, "reconcile failed; retrying with backoff");
    this.workersDone = Promise.all([
      runWorkers(this.queues.vminstance, workers, (k) => this.metrics.timeReconcile("VMInstance", () => vmInstances.reconcile(k)), onError("VMInstance")),
      runWorkers(this.queues.vmtemplate, 2, (k) => this.metrics.timeReconcile("VMTemplate", () => vmTemplates.reconcile(k)), onError("VMTemplate")),
      runWorkers(this.queues.vmgroup, 1, (k) => this.metrics.timeReconcile("VMGroup", () => vmGroups.reconcile(k)), onError("VMGroup")),
      runWorkers(this.queues.permission, 1, (k) => this.metrics.timeReconcile("Permission", () => permissions.reconcile(k)), onError("Permission")),
    ]);
    // Everything once at the start: level-triggered, a restarted leader converges from the API alone.
    for (const k of this.instances.store.keys()) this.queues.vminstance.add(k);
    for (const k of this.templates.store.keys()) this.queues.vmtemplate.add(k);
    for (const k of this.groups.store.keys()) this.queues.vmgroup.add(k);
    for (const k of this.permissions.store.keys()) this.queues.permission.add(k);
  }

  private wireHandlers(): void {
    const onInstance = (i: VMInstance): void => {
      const key = objectKey(i as KubeObject);
      if (i.metadata.uid) this.uidToKey.set(i.metadata.uid, key);
      this.queues.vminstance.add(key);
      this.queues.vmtemplate.add(i.spec.template); // derived counts and the deletion guard
      const group = this.templates.store.get(i.spec.template)?.spec.vmGroup ?? i.status?.network?.vmGroup;
      if (group) this.queues.vmgroup.add(group);
    };
    this.instances.addEventHandler({
      onAdd: onInstance,
      onUpdate: (_old, cur) => onInstance(cur),
      onDelete: (i) => {
        if (i.metadata.uid) this.uidToKey.delete(i.metadata.uid);
        onInstance(i);
      },
    });
    const onTemplate = (t: VMTemplate): void => {
      this.queues.vmtemplate.add(t.metadata.name ?? "");
      for (const k of this.permissions.store.keys()) this.queues.permission.add(k); // TargetFound
      for (const i of this.instances.store.list()) if (i.spec.template === t.metadata.name) this.queues.vminstance.add(objectKey(i as KubeObject));
    };
    this.templates.addEventHandler({ onAdd: onTemplate, onUpdate: (_o, t) => onTemplate(t), onDelete: onTemplate });
    const onGroup = (): void => {
      for (const k of this.groups.store.keys()) this.queues.vmgroup.add(k); // overlaps are pairwise
      for (const k of this.permissions.store.keys()) this.queues.permission.add(k);
      for (const i of this.instances.store.list()) if (!i.status?.network?.ip) this.queues.vminstance.add(objectKey(i as KubeObject));
    };
    this.groups.addEventHandler({ onAdd: onGroup, onUpdate: onGroup, onDelete: onGroup });
    const onPermission = (p: Permission): void => {
      this.queues.permission.add(p.metadata.name ?? "");
      for (const k of this.instances.store.keys()) this.queues.vminstance.add(k); // re-check authorization
    };
    this.permissions.addEventHandler({ onAdd: onPermission, onUpdate: (_o, p) => onPermission(p), onDelete: onPermission });
  }

  private enqueueUid(uid: string): void {
    const key = this.uidToKey.get(uid);
    if (key) this.queues.vminstance.add(key);
  }

  private countJobs(): void {
    const counts: Record<string, number> = {};
    for (const j of this.jobs.all()) counts[j.phase] = (counts[j.phase] ?? 0) + 1;
    this.metrics.setJobsByPhase(counts, ["Pending", "Held", "Starting", "Running", "Suspended", "Error", "Deleting"]);
  }
}
