import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../../../controller/machinery/kube-request.js";
import {
  kubeLeaseClient,
  LeaderElector,
  type Lease,
} from "../../../controller/machinery/leader-election.js";
import { createNamespace, deleteNamespace, loadKubeConfig, waitFor } from "./helpers.js";

let kc: KubeConfig;
let ns: string;
const electors: LeaderElector[] = [];

beforeAll(async () => {
  kc = loadKubeConfig();
  ns = await createNamespace(kc, "gridvm-lease");
});

afterAll(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  if (ns) await deleteNamespace(kc, ns);
});

/** Fast timings so the test takes seconds; the ratios are client-go's (15/10/2). */
function elector(identity: string, leaseName: string, leading: Set<string>, releaseOnStop = true) {
  const e = new LeaderElector({
    identity,
    namespace: ns,
    name: leaseName,
    client: kubeLeaseClient(kc, ns, leaseName),
    leaseDurationMs: 3_000,
    renewDeadlineMs: 2_000,
    retryPeriodMs: 400,
    releaseOnStop,
    callbacks: {
      onStartedLeading: (signal) => {
        leading.add(identity);
        signal.addEventListener("abort", () => leading.delete(identity));
      },
    },
  });
  electors.push(e);
  void e.run();
  return e;
}

async function readLease(name: string): Promise<Lease> {
  return kubeRequest<Lease>(
    kc,
    "GET",
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
  );
}

/** Samples `leading` for ms and records the largest number of simultaneous leaders. */
async function maxLeaders(leading: Set<string>, ms: number): Promise<number> {
  let max = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    max = Math.max(max, leading.size);
    await new Promise((r) => setTimeout(r, 20));
  }
  return max;
}

describe("leader election on a real Lease", () => {
  it("two candidates: one leads; on a graceful stop the other takes over at once", async () => {
    const leading = new Set<string>();
    const a = elector("replica-a", "graceful", leading);
    const b = elector("replica-b", "graceful", leading);
    await waitFor("a leader", () => leading.size === 1, 10_000);
    expect(await maxLeaders(leading, 4_000)).toBe(1);
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    const lease = await readLease("graceful");
    expect(lease.spec?.holderIdentity).toBe(leader === a ? "replica-a" : "replica-b");
    expect(lease.spec?.renewTime).toMatch(/\.\d{6}Z$/);
    const stoppedAt = Date.now();
    await leader.stop();
    await waitFor("the follower to take over", () => follower.isLeader(), 5_000);
    // Released, so well under the 3 s lease duration.
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);
    expect(leading.size).toBe(1);
    expect((await readLease("graceful")).spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
  });

  it("when the leader dies without releasing, the other takes over after the lease duration", async () => {
    const leading = new Set<string>();
    const a = elector("crashy", "crash", leading, false);
    await waitFor("crashy to lead", () => a.isLeader(), 10_000);
    const b = elector("survivor", "crash", leading);
    expect(await maxLeaders(leading, 1_500)).toBe(1);
    const diedAt = Date.now();
    await a.stop(); // stops renewing, keeps the lease: as if the process had been killed
    await waitFor("survivor to take over", () => b.isLeader(), 10_000);
    const took = Date.now() - diedAt;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(6_000);
    expect((await readLease("crash")).spec?.holderIdentity).toBe("survivor");
  });
});
