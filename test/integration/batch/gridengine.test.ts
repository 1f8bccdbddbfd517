// The Grid Engine backend against the real qmaster and one execd per simulated host
// (hack/sim-hosts + hack/gridengine; brought up here if they are not, both are idempotent).
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  jobNameFor,
  type JobSpec,
  type JobStatus,
} from "../../../controller/batch/batch-backend.js";
import {
  GridEngineBackend,
  gridEngineConfigFromEnvFile,
} from "../../../controller/batch/gridengine/gridengine-backend.js";
import { gridvmJobCommand } from "../../../controller/batch/lease-command.js";
import { runCommand } from "../../../controller/machinery/command.js";
import { StandInAgent } from "../../support/stand-in-agent.js";

const root = new URL("../../../", import.meta.url).pathname;
const state = process.env.GRIDVM_STATE ?? join(root, ".local");
const GiB = 1024 ** 3;

let backend: GridEngineBackend;
let hosts: string[] = [];
let hostMemBytes = 0;
let dir = "";
let agent: StandInAgent;
const submitted: string[] = [];

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    last = await probe();
    if (last !== undefined) return last as T;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
const untilPhase = (id: string, phases: JobStatus["phase"][], timeoutMs = 60_000) =>
  until(`job ${id} in ${phases.join("|")}`, timeoutMs, async () => {
    const s = await backend.get(id);
    return phases.includes(s.phase) ? s : undefined;
  });

async function submit(spec: JobSpec): Promise<string> {
  const id = await backend.submit(spec);
  submitted.push(id);
  return id;
}
const sleeper = (name: string, memoryBytes: number): JobSpec => ({
  name,
  command: ["/bin/sleep", "600"],
  memoryBytes,
});
const lease = (uid: string, extra: Partial<JobSpec> = {}): JobSpec => ({
  name: jobNameFor(uid, 0),
  command: gridvmJobCommand(
    { namespace: "doraz", name: `vm-${uid.slice(0, 8)}`, uid },
    { socketTemplate: join(dir, "{host}", "agent.sock"), waitSeconds: 60 },
  ),
  memoryBytes: GiB,
  outputPath: join(dir, `${uid}.out`),
  ...extra,
});

beforeAll(async () => {
  for (const script of ["hack/sim-hosts/up.sh", "hack/gridengine/up.sh"]) {
    await runCommand(join(root, script), [], { timeoutMs: 180_000 });
  }
  backend = new GridEngineBackend(await gridEngineConfigFromEnvFile(join(state, "gridengine.env")));
  hosts = (JSON.parse(readFileSync(join(state, "hosts.json"), "utf8")) as { name: string }[]).map(
    (h) => h.name,
  );
  const env = readFileSync(join(state, "gridengine.env"), "utf8");
  const mem = /^GRIDVM_HOST_MEM=(\d+)G$/m.exec(env);
  hostMemBytes = Number(mem?.[1] ?? "0") * GiB;
  expect(hosts.length).toBeGreaterThanOrEqual(2);
  expect(hostMemBytes).toBeGreaterThan(GiB);
  // A job left over from an earlier run would take memory the tests count on.
  expect((await backend.list()).filter((j) => j.name.startsWith("gvm-"))).toEqual([]);
  dir = mkdtempSync(join(tmpdir(), "gvm-ge-"));
  agent = new StandInAgent({ endOnStop: true });
  for (const h of hosts) await agent.listen(join(dir, h, "agent.sock"));
}, 300_000);

afterAll(async () => {
  for (const id of submitted) await backend?.delete(id, { force: true }).catch(() => undefined);
  await agent?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Grid Engine backend on simulated hosts", () => {
  it("runs a lease on a simulated host and reports that host; the job ends with the VM", async () => {
    const uid = randomUUID();
    const id = await submit(lease(uid));
    const reg = await agent.waitFor(
      (e) => e.message.type === "register" && e.message.instance.uid === uid,
      60_000,
      "registration",
    );
    if (reg.message.type !== "register") throw new Error("unreachable");
    const running = await untilPhase(id, ["Running"]);
    expect(hosts).toContain(running.host);
    expect(reg.message.host).toBe(running.host); // the job's own hostname: it really ran "there"
    expect(reg.message.jobId).toBe(id);
    expect(reg.socketPath).toBe(join(dir, running.host!, "agent.sock"));
    agent.endVm(uid, "guest powered off");
    const done = await untilPhase(id, ["Finished"]);
    expect(done).toMatchObject({
      phase: "Finished",
      host: running.host,
      reason: "the job ended (exit status 0)",
    });
    expect((await backend.accounting(id))?.exitStatus).toBe(0);
  });

  it("spreads two jobs across hosts when memory demands it", async () => {
    const big = Math.floor(hostMemBytes * 0.75);
    const a = await submit(sleeper(`gvm-spread-a-${Date.now()}`, big));
    const b = await submit(sleeper(`gvm-spread-b-${Date.now()}`, big));
    const [sa, sb] = await Promise.all([untilPhase(a, ["Running"]), untilPhase(b, ["Running"])]);
    expect(hosts).toContain(sa.host);
    expect(hosts).toContain(sb.host);
    expect(sa.host).not.toBe(sb.host);
    if (hosts.length === 2) {
      // Both hosts' VM memory is now taken: a third such job must wait, and say why.
      const c = await submit(sleeper(`gvm-spread-c-${Date.now()}`, big));
      const sc = await until("a third job pending for memory", 30_000, async () => {
        const s = await backend.get(c);
        return s.phase === "Pending" && s.reason?.includes("gvm_mem") ? s : undefined;
      });
      expect(sc.host).toBeUndefined();
      await backend.delete(c);
    }
    await backend.delete(a);
    await backend.delete(b);
  });

  it("keeps a job bigger than any host pending with the scheduler's reason, and qdel removes it", async () => {
    const id = await submit(sleeper(`gvm-toobig-${Date.now()}`, hostMemBytes * 2));
    const pending = await until("a pending reason", 30_000, async () => {
      const s = await backend.get(id);
      return s.phase === "Pending" && s.reason?.includes("gvm_mem") ? s : undefined;
    });
    expect(pending.reason).toMatch(
      /cannot run at host "gvm-h\d+" because it offers only hc:gvm_mem=/,
    );
    await backend.delete(id);
    await until("the job to leave the queue", 20_000, async () =>
      (await backend.list()).some((j) => j.id === id) ? undefined : true,
    );
    expect((await backend.get(id)).phase).toBe("Unknown"); // it never ran: no accounting record
  });

  it("qdel of a running lease: the lease is notified (SIGUSR2), stops the VM gracefully and the job ends", async () => {
    const uid = randomUUID();
    const id = await submit(lease(uid));
    await agent.waitFor(
      (e) => e.message.type === "register" && e.message.instance.uid === uid,
      60_000,
      "registration",
    );
    await untilPhase(id, ["Running"]);
    const before = agent.events.length;
    await backend.delete(id);
    const stop = await agent.waitFor(
      (e) => agent.events.indexOf(e) >= before && e.message.type === "stop",
      30_000,
      "stop request",
    );
    expect(stop.message).toEqual({ type: "stop", reason: "notify" });
    await untilPhase(id, ["Finished"], 30_000);
  });

  it("an h_rt expiry: the lease sees SIGUSR2 first and ends the VM before the kill", async () => {
    const uid = randomUUID();
    const id = await submit(lease(uid, { timeLimitSeconds: 8 }));
    const reg = await agent.waitFor(
      (e) => e.message.type === "register" && e.message.instance.uid === uid,
      60_000,
      "registration",
    );
    const stop = await agent.waitFor(
      (e) => e.message.type === "stop" && e.at > reg.at,
      60_000,
      "stop request on h_rt",
    );
    expect(stop.message).toEqual({ type: "stop", reason: "notify" });
    const done = await untilPhase(id, ["Finished"], 30_000);
    const acct = await backend.accounting(id);
    // The lease exited 0 after the graceful stop, well before the queue's notify period ran out.
    expect(acct?.exitStatus).toBe(0);
    expect(acct!.wallclockSeconds!).toBeLessThan(8 + 25);
    expect(done.host).toBe(acct?.host);
    expect(readFileSync(join(dir, `${uid}.out`), "utf8")).toMatch(/notified of an upcoming kill/);
  });

  it("a bad command path puts the job in error state, reported with Grid Engine's reason", async () => {
    const id = await submit({
      name: `gvm-badpath-${Date.now()}`,
      command: ["/nonexistent/gridvm-job", "--x"],
    });
    const err = await untilPhase(id, ["Error"], 30_000);
    expect(err.rawState).toBe("Eqw");
    expect(err.reason).toMatch(/execvlp\(\/nonexistent\/gridvm-job.*No such file or directory/);
    await backend.delete(id);
  });

  it("a lookup by name after a crash finds the job already submitted instead of submitting a second", async () => {
    const uid = randomUUID();
    const name = jobNameFor(uid, 0);
    // What a reconciler does every time: look up by name, submit only when nothing is there.
    const ensureJob = async (): Promise<string> =>
      (await backend.findByName(name))?.id ?? (await submit(sleeper(name, GiB)));
    const first = await ensureJob();
    // "Crash": the id was never written anywhere. The restarted reconciler only knows the name.
    const second = await ensureJob();
    expect(second).toBe(first);
    expect((await backend.list()).filter((j) => j.name === name).map((j) => j.id)).toEqual([first]);
    // After the job is gone from the queue, accounting still knows it (if it ran).
    await untilPhase(first, ["Running"]);
    await backend.delete(first, { force: true });
    const after = await until("the finished job by name", 30_000, async () => {
      const s = await backend.findByName(name);
      return s?.phase === "Finished" ? s : undefined;
    });
    expect(after.id).toBe(first);
  });
});
