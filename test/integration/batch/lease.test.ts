// gridvm-job against the stand-in agent, as real processes over a real unix socket (no batch
// system: the job is started directly, as a Grid Engine shepherd would start it).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { gridvmJobCommand } from "../../../controller/batch/lease-command.js";
import { StandInAgent } from "../../support/stand-in-agent.js";

const instance = { namespace: "doraz", name: "myvm", uid: "0b6c3a1e-1111-4222-8333-944455556666" };

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function startJob(args: { socket: string; waitSeconds?: number }): Run {
  const [file, ...argv] = gridvmJobCommand(instance, {
    socketTemplate: args.socket,
    waitSeconds: args.waitSeconds ?? 30,
  });
  const child = spawn(file!, argv, {
    env: { ...process.env, JOB_ID: "4242", JOB_NAME: "gvm-test-r0" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

describe("gridvm-job and the lease protocol", () => {
  let dir = "";
  let agent: StandInAgent | undefined;
  const children: ChildProcess[] = [];
  const setup = (opts: { endOnStop?: boolean } = {}) => {
    dir = mkdtempSync(join(tmpdir(), "gvm-lease-"));
    agent = new StandInAgent(opts);
    return {
      agent,
      socket: join(dir, "{host}", "agent.sock"),
      realSocket: join(dir, hostname(), "agent.sock"),
    };
  };
  const run = (a: Parameters<typeof startJob>[0]) => {
    const r = startJob(a);
    children.push(r.child);
    return r;
  };

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
    await agent?.close();
    agent = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("registers with instance, job and host, and exits 0 when the VM ends", async () => {
    const { agent, socket, realSocket } = setup();
    await agent.listen(realSocket);
    const job = run({ socket });
    const reg = await agent.waitFor((e) => e.message.type === "register", 20_000, "registration");
    expect(reg.message).toMatchObject({
      type: "register",
      version: 1,
      instance,
      jobId: "4242",
      jobName: "gvm-test-r0",
      host: hostname(),
      pid: job.child.pid,
    });
    agent.endVm(instance.uid, "guest powered off");
    expect(await job.exit).toBe(0);
    expect(job.stderr()).toMatch(/the VM ended: guest powered off/);
  });

  it("exits 1 with the agent's message when the VM fails", async () => {
    const { agent, socket, realSocket } = setup();
    await agent.listen(realSocket);
    const job = run({ socket });
    await agent.waitFor((e) => e.message.type === "register", 20_000, "registration");
    agent.failVm(instance.uid, "qemu exited with status 1");
    expect(await job.exit).toBe(1);
    expect(job.stderr()).toMatch(/the VM failed: qemu exited with status 1/);
  });

  it.each([
    ["SIGUSR2", "notify"],
    ["SIGTERM", "terminate"],
  ] as const)(
    "on %s asks the agent for a graceful stop and waits for the VM to end",
    async (signal, reason) => {
      const { agent, socket, realSocket } = setup({ endOnStop: true });
      await agent.listen(realSocket);
      const job = run({ socket });
      await agent.waitFor((e) => e.message.type === "register", 20_000, "registration");
      job.child.kill(signal);
      const stop = await agent.waitFor((e) => e.message.type === "stop", 10_000, "stop request");
      expect(stop.message).toEqual({ type: "stop", reason });
      expect(await job.exit).toBe(0);
    },
  );

  it("waits for an agent that comes late, and fails with a clear message when none comes", async () => {
    const { agent, socket, realSocket } = setup();
    const late = run({ socket, waitSeconds: 20 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(late.child.exitCode).toBeNull();
    await agent.listen(realSocket);
    await agent.waitFor((e) => e.message.type === "register", 20_000, "late registration");
    agent.endVm(instance.uid);
    expect(await late.exit).toBe(0);

    const lonely = run({ socket: join(dir, "nobody", "agent.sock"), waitSeconds: 1 });
    expect(await lonely.exit).toBe(2);
    expect(lonely.stderr()).toMatch(
      /no node agent at .*nobody\/agent\.sock on .* after 1 s \(last error: ENOENT\)/,
    );
  });

  it("registers again after the agent drops the connection (an agent restart is not the VM's end)", async () => {
    const { agent, socket, realSocket } = setup();
    await agent.listen(realSocket);
    const job = run({ socket });
    await agent.waitFor((e) => e.message.type === "register", 20_000, "registration");
    agent.dropConnection(instance.uid);
    await agent.waitFor(
      (e) => e.message.type === "register" && agent.registrations().length >= 2,
      20_000,
      "second registration",
    );
    expect(job.child.exitCode).toBeNull();
    agent.endVm(instance.uid);
    expect(await job.exit).toBe(0);
  });
});
