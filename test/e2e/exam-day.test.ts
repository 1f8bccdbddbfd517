// Exam day at scale: an admin pipeline applies examples/exam and a generated class of students
// (`kubectl apply -R -f`, as a GitOps sync would), every student's VM must run with a VNC
// endpoint, then the exam ends and everything goes. Prints the time from apply to the last VNC.
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { VMInstance } from "../../controller/api/generated/types.js";
import { runCommand } from "../../controller/machinery/command.js";
import { kubectl } from "../support/kube.js";
import { ROOT } from "../support/paths.js";
import { vncHandshake } from "../support/vnc.js";
import { waitFor } from "../support/wait.js";

const CLASS = Number(process.env.GRIDVM_EXAM_CLASS ?? 30);
const PREFIX = `e2e${Math.random().toString(36).slice(2, 5)}s`;
const dir = mkdtempSync(join(tmpdir(), "gridvm-class-"));

async function classInstances(): Promise<VMInstance[]> {
  const { stdout } = await kubectl(["get", "vminstances", "-A", "-l", "!none", "-o", "json"]);
  return (JSON.parse(stdout) as { items: VMInstance[] }).items.filter((i) => i.metadata.namespace?.startsWith(PREFIX));
}

afterAll(async () => {
  const namespaces = Array.from({ length: CLASS }, (_, i) => `${PREFIX}${String(i + 1).padStart(2, "0")}`);
  await kubectl(["delete", "namespace", ...namespaces, "--ignore-not-found", "--wait=false"]);
  // The kept overlays were the point of the second test; they are this run's litter now.
  for (const ns of namespaces) await rm(join("/var/lib/gridvm/storage/users", ns), { recursive: true, force: true });
});

describe(`exam day: a class of ${CLASS}`, () => {
  it("provisions every student's isolated VM from a GitOps folder, each with a VNC console", async () => {
    await runCommand("npx", ["tsx", join(ROOT, "hack/gen-exam-class.ts"), "--students", String(CLASS), "--out", dir, "--prefix", PREFIX], { timeoutMs: 60_000, cwd: ROOT });
    const validate = await runCommand("npx", ["tsx", join(ROOT, "controller/cli/gridvm.ts"), "validate", join(ROOT, "examples/exam"), dir], { timeoutMs: 60_000, cwd: ROOT });
    expect(validate.stdout).toBe("");
    for (const f of ["00-network.yaml", "10-template.yaml", "20-permission.yaml"]) await kubectl(["apply", "-f", join(ROOT, "examples/exam", f)]);
    await waitFor("the exam template's disc", async () => (await kubectl(["get", "vmtemplate", "os-exam-2026", "-o", "jsonpath={.status.phase}"])).stdout === "Ready");

    const started = Date.now();
    await kubectl(["apply", "-R", "-f", dir]);
    const running = await waitFor(
      `all ${CLASS} VMs Running with a VNC endpoint`,
      async () => {
        const all = await classInstances();
        const ready = all.filter((i) => i.status?.phase === "Running" && i.status.vnc?.endpoint);
        return all.length === CLASS && ready.length === CLASS ? ready : undefined;
      },
      900_000,
      2_000,
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(`exam day: ${CLASS} VMs from apply to the last VNC endpoint in ${seconds.toFixed(1)} s (${(seconds / CLASS).toFixed(2)} s per VM)`);

    expect(new Set(running.map((i) => i.status!.network!.ip)).size).toBe(CLASS);
    expect(running.every((i) => i.status!.network!.isolated === true)).toBe(true);
    const hosts = new Set(running.map((i) => i.status!.host));
    console.log(`exam day: placed on ${[...hosts].join(", ")}`);
    for (const i of running.slice(0, 5)) expect((await vncHandshake(i.status!.vnc!.endpoint!)).version).toBe("RFB 003.008");
  });

  it("ends: deleting the class stops every VM and keeps each student's overlay for grading", async () => {
    const before = await classInstances();
    const namespaces = before.map((i) => i.metadata.namespace!);
    await kubectl(["delete", "namespace", ...namespaces, "--wait=false"]);
    await waitFor("the class gone", async () => (await classInstances()).length === 0, 600_000, 2_000);
    for (const i of before) {
      const qemu = await runCommand("pgrep", ["-f", `qemu-system.*${i.metadata.uid}`], { timeoutMs: 10_000, okExitCodes: [1] });
      expect(qemu.stdout, `a qemu of ${i.metadata.namespace} is still running`).toBe("");
    }
    const kept = await runCommand("ls", [join("/var/lib/gridvm/storage/users", before[0]!.spec.owner!)], { timeoutMs: 10_000 });
    expect(kept.stdout).toContain(".exam.root.qcow2");
  });
});
