import type { KubeConfig } from "@kubernetes/client-node";
import { realClock, sleep, type Clock } from "./clock.js";
import { isConflict, isNotFound, kubeRequest } from "./kube-request.js";
import type { Logger } from "./log.js";

/**
 * Lease-based leader election: client-go `tools/leaderelection` in TypeScript, so two controller
 * replicas never both act.
 *
 * A candidate tries every retryPeriod (jittered) to take the coordination.k8s.io/v1 Lease: free if it
 * does not exist, has no holder, or its holder has not renewed for leaseDuration *as observed on
 * our own clock* (client-go's trick: compare local observation times, never the remote clock). The
 * leader renews every retryPeriod; if it cannot renew for renewDeadline it stops leading (its
 * onStartedLeading signal aborts) well before leaseDuration lets anybody else in. Every write is a
 * PUT with the read resourceVersion, so two candidates racing for a free lease cannot both win.
 */

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** The three calls the elector needs; the apiserver one is kubeLeaseClient, tests use a fake. */
export interface LeaseClient {
  get(): Promise<Lease | undefined>;
  /** Fails (409) if it already exists. */
  create(lease: Lease): Promise<Lease>;
  /** Fails (409) if lease.metadata.resourceVersion is stale. */
  update(lease: Lease): Promise<Lease>;
}

export function kubeLeaseClient(
  kc: KubeConfig,
  namespace: string,
  name: string,
  timeoutMs = 5_000,
): LeaseClient {
  const base = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  return {
    get: async () => {
      try {
        return await kubeRequest<Lease>(kc, "GET", `${base}/${name}`, { timeoutMs });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    create: (lease) => kubeRequest<Lease>(kc, "POST", base, { body: withKind(lease), timeoutMs }),
    update: (lease) =>
      kubeRequest<Lease>(kc, "PUT", `${base}/${name}`, { body: withKind(lease), timeoutMs }),
  };
}

function withKind(lease: Lease): Lease {
  return { ...lease, apiVersion: "coordination.k8s.io/v1", kind: "Lease" };
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits (the apiserver insists). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export interface LeaderElectionCallbacks {
  /** Called once leadership is won; `signal` aborts the moment it is lost or released. */
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading?(): void;
  /** Called whenever the observed holder changes (including to ourselves). */
  onNewLeader?(identity: string): void;
}

export interface LeaderElectorOptions {
  identity: string;
  namespace: string;
  name: string;
  client: LeaseClient;
  callbacks: LeaderElectionCallbacks;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Give the lease up on stop() so a successor takes over at once (client-go ReleaseOnCancel). */
  releaseOnStop?: boolean;
  clock?: Clock;
  random?: () => number;
  log?: Logger;
}

export class LeaderElector {
  private readonly o: Required<Omit<LeaderElectorOptions, "log">> & { log?: Logger };
  private readonly stopSignal = new AbortController();
  private leadingAbort: AbortController | undefined;
  private observed: { lease: Lease | undefined; at: number } = { lease: undefined, at: 0 };
  private reportedLeader = "";
  private running: Promise<void> | undefined;

  constructor(opts: LeaderElectorOptions) {
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnStop: true,
      clock: realClock,
      random: Math.random,
      ...opts,
    };
    // client-go's sanity rules: otherwise two leaders can overlap.
    if (this.o.leaseDurationMs <= this.o.renewDeadlineMs)
      throw new Error("leaseDuration must exceed renewDeadline");
    if (this.o.renewDeadlineMs <= this.o.retryPeriodMs * 1.2)
      throw new Error("renewDeadline must exceed 1.2 × retryPeriod");
  }

  isLeader(): boolean {
    return this.leadingAbort !== undefined && !this.leadingAbort.signal.aborted;
  }

  /** The holder we last saw on the lease ("" when none). */
  leader(): string {
    return this.observed.lease?.spec?.holderIdentity ?? "";
  }

  /** Campaigns, leads, and resolves once leadership is lost or stop() is called. */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { clock, retryPeriodMs, renewDeadlineMs } = this.o;
    const stop = this.stopSignal.signal;
    // 1. Campaign until we hold the lease.
    while (!stop.aborted) {
      if (await this.tryAcquireOrRenew()) break;
      await sleep(clock, retryPeriodMs * (1 + 1.2 * this.o.random()), stop);
    }
    if (stop.aborted) return;
    this.leadingAbort = new AbortController();
    this.o.log?.info({ identity: this.o.identity, lease: this.o.name }, "became leader");
    try {
      this.o.callbacks.onStartedLeading(this.leadingAbort.signal);
    } catch (err) {
      this.o.log?.error({ err: String(err) }, "onStartedLeading threw");
    }
    // 2. Renew; lose leadership if no renewal succeeds within renewDeadline.
    let lastRenew = clock.now();
    while (!stop.aborted) {
      await sleep(clock, retryPeriodMs, stop);
      if (stop.aborted) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = clock.now();
      } else if (this.leader() !== "" && this.leader() !== this.o.identity) {
        this.o.log?.warn(
          { identity: this.o.identity, holder: this.leader() },
          "lease taken by another holder",
        );
        break;
      } else if (clock.now() - lastRenew >= renewDeadlineMs) {
        this.o.log?.warn(
          { identity: this.o.identity },
          "failed to renew lease within the deadline",
        );
        break;
      }
    }
    // 3. Stop leading first, then give the lease back so a successor does not wait leaseDuration.
    this.leadingAbort.abort();
    if (stop.aborted && this.o.releaseOnStop) await this.release();
    this.o.log?.info({ identity: this.o.identity }, "stopped leading");
    this.o.callbacks.onStoppedLeading?.();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { clock, identity } = this.o;
    const now = clock.now();
    const record: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    try {
      const current = await this.o.client.get();
      if (!current) {
        const created = await this.o.client.create({
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: record,
        });
        this.observe(created, clock.now());
        return true;
      }
      // Remember when *we* saw the record change; expiry is judged on our own clock.
      if (!sameRecord(this.observed.lease?.spec, current.spec)) this.observe(current, now);
      const holder = current.spec?.holderIdentity ?? "";
      const expired = this.observed.at + (current.spec?.leaseDurationSeconds ?? 0) * 1000 <= now;
      if (holder !== "" && holder !== identity && !expired) return false;
      if (holder === identity) {
        record.acquireTime = current.spec?.acquireTime ?? record.acquireTime;
        record.leaseTransitions = current.spec?.leaseTransitions ?? 0;
      } else {
        record.leaseTransitions = (current.spec?.leaseTransitions ?? 0) + 1;
      }
      const updated = await this.o.client.update({ metadata: current.metadata, spec: record });
      this.observe(updated, clock.now());
      return true;
    } catch (err) {
      if (!isConflict(err))
        this.o.log?.warn({ identity, err: String(err) }, "lease request failed");
      return false;
    }
  }

  private async release(): Promise<void> {
    const lease = this.observed.lease;
    if (!lease || lease.spec?.holderIdentity !== this.o.identity) return;
    const now = microTime(this.o.clock.now());
    try {
      const released = await this.o.client.update({
        metadata: lease.metadata,
        spec: {
          ...lease.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: now,
          acquireTime: now,
        },
      });
      this.observe(released, this.o.clock.now());
    } catch (err) {
      this.o.log?.warn({ err: String(err) }, "failed to release the lease");
    }
  }

  private observe(lease: Lease, at: number): void {
    this.observed = { lease, at };
    const holder = lease.spec?.holderIdentity ?? "";
    if (holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      if (holder) this.o.callbacks.onNewLeader?.(holder);
    }
  }
}

function sameRecord(a: LeaseSpec | undefined, b: LeaseSpec | undefined): boolean {
  return (
    a?.holderIdentity === b?.holderIdentity &&
    a?.renewTime === b?.renewTime &&
    a?.acquireTime === b?.acquireTime &&
    a?.leaseTransitions === b?.leaseTransitions &&
    a?.leaseDurationSeconds === b?.leaseDurationSeconds
  );
}
