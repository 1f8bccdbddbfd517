// Life-cycle faults on real VMs: whatever ends a VM — qdel of its job, the guest shutting down,
// its time limit, qemu killed by hand — ends in Stopped (or Failed with the reason) with address,
// DHCP entry, tap, chain and lease freed, and a bystander VM on the same cluster undisturbed.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VMInstance } from "../../controller/api/generated/types.js";
import { OWNER_GROUPS_ANNOTATION } from "../../controller/authorization/owner-identity.js";
import { isLive } from "../../controller/batch/batch-backend.js";
import { runCommand } from "../../controller/machinery/command.js";
import { runKey } from "../../node-agent/agent/desired.js";
import { QmpClient } from "../../node-agent/qemu/qmp-client.js";
import { vmPaths } from "../../node-agent/qemu/runtime-dir.js";
import { gridEngine } from "../support/cluster.js";
import { customObjects, kubectl } from "../support/kube.js";
import { ROOT, STATE_DIR } from "../support/paths.js";
import { tinyGuestTemplate } from "../support/tiny-guest.js";
import { waitFor } from "../support/wait.js";

const S = Math.random().toString(36).slice(2, 7);
const NS = `gvm-faults-${S}`;
const TEMPLATE = `faults-${S}`;
const api = customObjects();
const ge = gridEngine();

const get = async (name: string): Promise<VMInstance> =>
  (await api.getNamespacedCustomObject({ group: "gridvm.io", version: "v1alpha1", namespace: NS, plural: "vminstances", name })) as VMInstance;

async function start(name: string, spec: Record<string, unknown> = {}): Promise<VMInstance> {
  await api.createNamespacedCustomObject({
    group: "gridvm.io",
    version: "v1alpha1",
    namespace: NS,
    plural: "vminstances",
    body: {
      apiVersion: "gridvm.io/v1alpha1",
      kind: "VMInstance",
      metadata: { name, namespace: NS, annotations: { [OWNER_GROUPS_ANNOTATION]: JSON.stringify(["gridvm:admins"]) } },
      spec: { template: TEMPLATE, owner: "badadmin", running: true, isolated: true, diskPolicy: "Delete", ...spec },
    },
  });
  return waitFor(`${name} Running`, async () => {
    const i = await get(name);
    return i.status?.phase === "Running" && i.status.vnc?.endpoint ? i : undefined;
  }, 240_000, 1_000);
}

const paths = (vm: VMInstance) => vmPaths(join(STATE_DIR, "run", "hosts", vm.status!.host!, "vms"), runKey(vm.status!.job!.name!));
const qemuPid = async (vm: VMInstance) => Number((await readFile(paths(vm).pidFile, "utf8")).trim());

/** The VM ended, and everything it held is free again. */
async function expectEndedAndFreed(before: VMInstance, phases: string[], timeoutMs = 180_000): Promise<VMInstance> {
  const name = before.metadata.name!;
  const after = await waitFor(`${name} to end`, async () => {
    const i = await get(name);
    return i.status?.phase === "Stopped" || i.status?.phase === "Failed" ? i : undefined;
  }, timeoutMs, 1_000);
  expect(phases).toContain(after.status!.phase);
  expect(after.status?.network?.ip).toBeUndefined();
  expect(after.status?.vnc).toBeUndefined();
  expect((await ge.list()).filter((j) => j.name === before.status!.job!.name && isLive(j.phase))).toEqual([]);
  const { tap } = before.status!.network!;
  await waitFor(`${name}'s tap gone`, async () => !(await runCommand("ip", ["-n", before.status!.host!, "-o", "link", "show"], { timeoutMs: 10_000 })).stdout.includes(tap!), 60_000);
  const entry = join(STATE_DIR, "run", "hosts", before.status!.host!, "agent", "dhcp", "vbr0", "hosts", tap!);
  await expect(readFile(entry, "utf8")).rejects.toThrow(/ENOENT/);
  const chains = await runCommand("ip", ["netns", "exec", before.status!.host!, "ebtables-nft", "-L", "--Lx"], { timeoutMs: 10_000 });
  expect(chains.stdout).not.toContain(tap!.slice(3));
  return after;
}

let bystander: VMInstance;
let bystanderPid: number;

beforeAll(async () => {
  await kubectl(["create", "namespace", NS]);
  await kubectl(["apply", "-f", "-"], { input: JSON.stringify(tinyGuestTemplate(TEMPLATE)) });
  // The paper's lab1, which the template names: a fresh cluster may not have it yet.
  await kubectl(["apply", "-f", join(ROOT, "examples/paper-lab/10-vmgroup-lab1.yaml")]);
  bystander = await start("bystander");
  bystanderPid = await qemuPid(bystander);
});

afterAll(async () => {
  // Wait for the namespace to go: its VMs must not outlive the test into the next file.
  await kubectl(["delete", "namespace", NS, "--wait=false", "--ignore-not-found"]);
  await waitFor(`namespace ${NS} gone`, async () => (await kubectl(["get", "namespace", NS], { okExitCodes: [0, 1] })).exitCode === 1, 300_000, 1_000);
  await kubectl(["delete", "vmtemplate", TEMPLATE, "--wait=false", "--ignore-not-found"]);
}, 360_000);

describe("life-cycle faults", () => {
  it("qdel of a running VM's job: the guest is powered off, Stopped, everything freed", async () => {
    const vm = await start("qdeleted");
    await ge.delete(vm.status!.job!.id!);
    await expectEndedAndFreed(vm, ["Stopped", "Failed"]);
  });

  it("the guest shuts itself down (ACPI power button): Stopped, not restarted, everything freed", async () => {
    const vm = await start("shutdown");
    // The power button is only heard once the guest's acpid runs (it starts before the DHCP
    // client): a press during boot is lost, on real hardware too.
    await waitFor("shutdown's guest up", async () => (await readFile(paths(vm).serialLog, "utf8")).includes("GRIDVM-DHCP-OK"), 120_000, 500);
    const qmp = await QmpClient.connect(paths(vm).qmpSocket);
    await qmp.execute("system_powerdown");
    qmp.close();
    const after = await expectEndedAndFreed(vm, ["Stopped"]);
    expect(after.status!.conditions!.find((c) => c.type === "Ready")?.status ?? "False").toBe("False");
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await get("shutdown")).status?.phase).toBe("Stopped"); // spec.running is still true: no restart loop
  });

  it("the time limit (h_rt) runs out: Grid Engine warns the lease, the VM ends, everything freed", async () => {
    const vm = await start("timed", { timeLimit: "1m" });
    const after = await expectEndedAndFreed(vm, ["Stopped", "Failed"], 240_000);
    const ended = after.status!.conditions!.find((c) => c.type === "Scheduled")!;
    console.log(`h_rt expiry reported as: ${after.status!.phase}: ${ended.reason}: ${ended.message}`);
    expect(ended.reason).toBe("RunEnded");
    expect(ended.message).toMatch(/h_rt/);
  });

  it("qemu killed by hand: Failed or Stopped with the reason, everything freed", async () => {
    const vm = await start("killed");
    process.kill(await qemuPid(vm), "SIGKILL");
    await expectEndedAndFreed(vm, ["Stopped", "Failed"]);
  });

  it("none of it disturbed the bystander", async () => {
    const now = await get("bystander");
    expect(now.status?.phase).toBe("Running");
    expect(await qemuPid(now)).toBe(bystanderPid);
    process.kill(bystanderPid, 0);
  });
});
