import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../../controller/machinery/clock.js";
import { KubeRequestError } from "../../../controller/machinery/kube-request.js";
import {
  LeaderElector,
  microTime,
  type Lease,
  type LeaseClient,
} from "../../../controller/machinery/leader-election.js";

/** One Lease with optimistic concurrency, like the apiserver; `down` makes every call fail. */
class FakeLeaseStore {
  lease: Lease | undefined;
  rv = 1;
  down = false;

  client(): LeaseClient {
    const check = () => {
      if (this.down) throw new Error("connection refused");
    };
    return {
      get: async () => {
        check();
        return this.lease && structuredClone(this.lease);
      },
      create: async (l) => {
        check();
        if (this.lease) throw new KubeRequestError(409, undefined, "exists");
        this.lease = {
          ...structuredClone(l),
          metadata: { ...l.metadata, resourceVersion: String(++this.rv) },
        };
        return structuredClone(this.lease);
      },
      update: async (l) => {
        check();
        if (l.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) {
          throw new KubeRequestError(409, undefined, "conflict");
        }
        this.lease = {
          ...structuredClone(l),
          metadata: { ...l.metadata, resourceVersion: String(++this.rv) },
        };
        return structuredClone(this.lease);
      },
    };
  }
}

const electors: LeaderElector[] = [];
afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
});

function candidate(store: FakeLeaseStore, clock: FakeClock, identity: string, log: string[]) {
  const e = new LeaderElector({
    identity,
    namespace: "gridvm-system",
    name: "gridvm-controller",
    client: store.client(),
    clock,
    random: () => 0,
    callbacks: {
      onStartedLeading: (signal) => {
        log.push(`${identity} started`);
        signal.addEventListener("abort", () => log.push(`${identity} signal aborted`));
      },
      onStoppedLeading: () => log.push(`${identity} stopped`),
    },
  });
  electors.push(e);
  const done = e.run();
  return { e, done };
}

describe("LeaderElector", () => {
  it("formats MicroTime with six fractional digits", () => {
    expect(microTime(Date.UTC(2025, 0, 2, 3, 4, 5, 678))).toBe("2025-01-02T03:04:05.678000Z");
  });

  it("rejects timings that would let two leaders overlap", () => {
    const store = new FakeLeaseStore();
    const base = {
      identity: "a",
      namespace: "n",
      name: "l",
      client: store.client(),
      callbacks: { onStartedLeading: () => {} },
    };
    expect(
      () => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }),
    ).toThrow(/leaseDuration/);
    expect(
      () => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }),
    ).toThrow(/renewDeadline/);
  });

  it("only one of two candidates leads; the other takes over after a release", async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const log: string[] = [];
    const a = candidate(store, clock, "a", log);
    await clock.advanceAsync(0);
    const b = candidate(store, clock, "b", log);
    await clock.advanceAsync(30_000, 500);
    expect(log).toEqual(["a started"]);
    expect([a.e.isLeader(), b.e.isLeader()]).toEqual([true, false]);
    expect(store.lease?.spec?.holderIdentity).toBe("a");
    expect(b.e.leader()).toBe("a");
    await a.e.stop();
    expect(store.lease?.spec?.holderIdentity).toBe(""); // released
    await clock.advanceAsync(2_000, 500); // b's next retry
    expect(b.e.isLeader()).toBe(true);
    expect(store.lease?.spec?.leaseTransitions).toBe(1);
    expect(log).toEqual(["a started", "a signal aborted", "a stopped", "b started"]);
  });

  it("a crashed leader's lease is taken only after leaseDuration on the candidate's own clock", async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    // A lease left behind by a process that died (never released), renewed "in the future".
    store.lease = {
      metadata: { name: "gridvm-controller", namespace: "gridvm-system", resourceVersion: "1" },
      spec: {
        holderIdentity: "dead",
        leaseDurationSeconds: 15,
        renewTime: microTime(clock.now() + 3_600_000),
      },
    };
    const log: string[] = [];
    const b = candidate(store, clock, "b", log);
    await clock.advanceAsync(14_000, 500);
    expect(b.e.isLeader()).toBe(false);
    await clock.advanceAsync(3_000, 500);
    expect(b.e.isLeader()).toBe(true);
    expect(log).toEqual(["b started"]);
  });

  it("a leader that cannot renew for renewDeadline stops leading before anyone else may take over", async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const log: string[] = [];
    const a = candidate(store, clock, "a", log);
    await clock.advanceAsync(0);
    expect(a.e.isLeader()).toBe(true);
    const renewedAt = clock.now();
    store.down = true;
    await clock.advanceAsync(9_000, 500);
    expect(a.e.isLeader()).toBe(true);
    await clock.advanceAsync(2_000, 500);
    expect(a.e.isLeader()).toBe(false);
    expect(clock.now() - renewedAt).toBeLessThan(15_000); // before the lease could expire for others
    expect(log).toEqual(["a started", "a signal aborted", "a stopped"]);
    await a.done;
  });

  it("steps down at once when it sees another holder on the lease", async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseStore();
    const log: string[] = [];
    const a = candidate(store, clock, "a", log);
    await clock.advanceAsync(0);
    const lease = store.lease as Lease;
    store.lease = {
      ...lease,
      metadata: { ...lease.metadata, resourceVersion: "999" },
      spec: { ...lease.spec, holderIdentity: "usurper" },
    };
    await clock.advanceAsync(2_000, 500);
    expect(a.e.isLeader()).toBe(false);
    expect(log).toEqual(["a started", "a signal aborted", "a stopped"]);
  });
});
