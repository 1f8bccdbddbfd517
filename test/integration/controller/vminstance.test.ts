import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VMInstance } from "../../../controller/api/generated/types.js";
import { isLive } from "../../../controller/batch/batch-backend.js";
import { OWNER_GROUPS_ANNOTATION } from "../../../controller/authorization/owner-identity.js";
import { daemonPid, gridEngine, hack, hackLib } from "../../support/cluster.js";
import { customObjects, kubectl } from "../../support/kube.js";
import { waitFor } from "../../support/wait.js";

// Everything this file makes carries the suffix, so runs never collide and cleanup is exact.
const S = Math.random().toString(36).slice(2, 7);
const NS = `gvm-ctl-${S}`;
const GROUP = `ctl-${S}`;
const TEMPLATE = `ctl-${S}`;
const octet = 100 + Math.floor(Math.random() * 150);
// A MAC prefix of its own: groups sharing a prefix must not share the IPs' last 16 bits.
const macPrefix = `de:ad:${[0, 0].map(() => Math.floor(Math.random() * 256).toString(16).padStart(2, "0")).join(":")}`;
const api = customObjects();
const ge = gridEngine();

const admin: { annotations: Record<string, string>; owner: string } = { annotations: { [OWNER_GROUPS_ANNOTATION]: JSON.stringify(["gridvm:admins"]) }, owner: "badadmin" };

function vm(name: string, spec: Record<string, unknown> = {}, who = admin): object {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMInstance",
    metadata: { name, namespace: NS, annotations: who.annotations },
    spec: { template: TEMPLATE, owner: who.owner, running: true, isolated: true, resources: { memory: "64Mi" }, ...spec },
  };
}

async function get(name: string): Promise<VMInstance> {
  return (await api.getNamespacedCustomObject({ group: "gridvm.io", version: "v1alpha1", namespace: NS, plural: "vminstances", name })) as VMInstance;
}

async function create(obj: object): Promise<void> {
  await api.createNamespacedCustomObject({ group: "gridvm.io", version: "v1alpha1", namespace: NS, plural: "vminstances", body: obj });
}

async function jobsNamed(name: string) {
  return (await ge.list()).filter((j) => j.name === name);
}

beforeAll(async () => {
  await hack("controller-up.sh");
  await kubectl(["create", "namespace", NS]);
  await kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "gridvm.io/v1alpha1", kind: "VMGroup", metadata: { name: GROUP }, spec: { addresses: `10.${octet}.7.0/28`, gateway: { ip: `10.${octet}.7.1`, mac: "00:15:5d:00:00:01" }, macPrefix } },
        { apiVersion: "gridvm.io/v1alpha1", kind: "VMTemplate", metadata: { name: TEMPLATE }, spec: { vmGroup: GROUP, derivable: true, resources: { memory: "64Mi" }, disks: [{ name: "root", size: "16Mi" }] } },
      ],
    }),
  });
  await waitFor("the template's disc", async () => (await kubectl(["get", "vmtemplate", TEMPLATE, "-o", "jsonpath={.status.phase}"])).stdout === "Ready", 60_000);
});

afterAll(async () => {
  await hack("controller-up.sh"); // a test may have left it stopped; the finalizers need it
  await kubectl(["delete", "namespace", NS, "--timeout=120s", "--ignore-not-found"], { okExitCodes: [0, 1] });
  await kubectl(["delete", "vmtemplate", TEMPLATE, "--ignore-not-found", "--timeout=60s"], { okExitCodes: [0, 1] });
  await kubectl(["delete", "vmgroup", GROUP, "--ignore-not-found", "--timeout=60s"], { okExitCodes: [0, 1] });
});

describe("VMInstance on the real apiserver and Grid Engine", () => {
  it("gets an overlay, the group's first address with the paper's MAC, and one job placed on a host", async () => {
    await create(vm("first"));
    const placed = await waitFor("first placed on a host", async () => {
      const i = await get("first");
      return i.status?.host ? i : undefined;
    });
    expect(placed.status?.network).toMatchObject({ vmGroup: GROUP, ip: `10.${octet}.7.2`, mac: `${macPrefix}:07:02`, isolated: true });
    expect(["Scheduled", "Running"]).toContain(placed.status?.phase);
    expect(placed.status?.host).toMatch(/^gvm-h\d+$/);
    const disk = placed.status!.disks![0]!;
    expect(disk.backingPath).toMatch(new RegExp(`/templates/${TEMPLATE}/root\\.qcow2$`));
    expect(existsSync(disk.path)).toBe(true);
    const jobs = await jobsNamed(placed.status!.job!.name!);
    expect(jobs.map((j) => j.id)).toEqual([placed.status!.job!.id]);
    expect(jobs[0]!.host).toBe(placed.status!.host);
  });

  it("stops: running false deletes the job, frees the address, keeps the overlay", async () => {
    const before = await get("first");
    await kubectl(["patch", "vminstance", "first", "-n", NS, "--type=merge", "-p", '{"spec":{"running":false}}']);
    const stopped = await waitFor("first stopped", async () => {
      const i = await get("first");
      return i.status?.phase === "Stopped" ? i : undefined;
    });
    expect(stopped.status?.network).toBeUndefined();
    expect(stopped.status?.host).toBeUndefined();
    expect((await jobsNamed(before.status!.job!.name!)).filter((j) => isLive(j.phase))).toEqual([]);
    expect(existsSync(before.status!.disks![0]!.path)).toBe(true);
  });

  it("never gives an instance without permission a job, an address or an overlay", async () => {
    await create(vm("intruder", {}, { owner: `nobody-${S}`, annotations: {} }));
    const refused = await waitFor("intruder refused", async () => {
      const i = await get("intruder");
      return i.status?.conditions?.find((c) => c.type === "Authorized" && c.status === "False") ? i : undefined;
    });
    expect(refused.status?.conditions?.find((c) => c.type === "Authorized")?.message).toMatch(new RegExp(`user "nobody-${S}" may not derive template "${TEMPLATE}"`));
    expect(refused.status?.phase).toBe("Pending");
    expect(refused.status?.network).toBeUndefined();
    expect(refused.status?.job).toBeUndefined();
    expect(refused.status?.disks ?? []).toEqual([]);
  });

  it("never gives two instances created together the same address", async () => {
    const names = ["pair-a", "pair-b", "pair-c", "pair-d", "pair-e"];
    await Promise.all(names.map((n) => create(vm(n, { running: true }))));
    const ips = await waitFor("all five addressed", async () => {
      const got = await Promise.all(names.map(get));
      return got.every((i) => i.status?.network?.ip) ? got.map((i) => i.status!.network!.ip!) : undefined;
    });
    expect(new Set(ips).size).toBe(names.length);
  });

  it("deletes: the finalizer ends the job, then the object goes; diskPolicy Delete removes the overlay", async () => {
    await create(vm("doomed", { diskPolicy: "Delete" }));
    const running = await waitFor("doomed has a job", async () => {
      const i = await get("doomed");
      return i.status?.job?.id ? i : undefined;
    });
    await kubectl(["delete", "vminstance", "doomed", "-n", NS, "--timeout=90s"]);
    expect((await jobsNamed(running.status!.job!.name!)).filter((j) => isLive(j.phase))).toEqual([]);
    expect(existsSync(running.status!.disks![0]!.path)).toBe(false);
    for (const n of ["pair-a", "pair-b", "pair-c", "pair-d", "pair-e"]) await kubectl(["delete", "vminstance", n, "-n", NS, "--wait=false"]);
  });

  it("is killed (SIGKILL) between qsub and the status write, restarts, and still has exactly one job", async () => {
    await hack("controller-down.sh");
    await hack("controller-up.sh", { GRIDVM_FAILPOINT: "crash-after-submit" });
    const crashedPid = daemonPid("controller");
    await create(vm("crashy"));
    await waitFor("the controller to die at the failpoint", () => {
      try {
        process.kill(crashedPid!, 0);
        return false;
      } catch {
        return true;
      }
    });
    const uid = (await get("crashy")).metadata.uid!;
    const name = `gvm-${uid}-r1`;
    // The crash came after qsub and before the id was written: status holds only the intent.
    expect((await get("crashy")).status?.job).toMatchObject({ name });
    expect((await get("crashy")).status?.job?.id).toBeUndefined();
    expect(await jobsNamed(name)).toHaveLength(1);
    await hack("controller-up.sh");
    const adopted = await waitFor("crashy's status names its job", async () => (await get("crashy")).status?.job?.id);
    const jobs = await jobsNamed(name);
    expect(jobs.map((j) => j.id)).toEqual([adopted]);
    const all = (await ge.list()).filter((j) => j.name.startsWith(`gvm-${uid}`));
    expect(all).toHaveLength(1);
  });

  it("recovers from an apiserver restart mid-watch without restarting itself", async () => {
    const pid = daemonPid("controller");
    await hackLib("stop_daemon kube-apiserver");
    await hackLib("control_plane_up >/dev/null");
    await create(vm("after-restart", { running: false }));
    const seen = await waitFor("the controller to reconcile an instance made after the restart", async () => (await get("after-restart")).status?.phase, 90_000);
    expect(seen).toBe("Stopped");
    expect(daemonPid("controller")).toBe(pid);
    process.kill(pid!, 0); // still the same, living process
  });
});
