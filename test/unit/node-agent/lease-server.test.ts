import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../../controller/machinery/log.js";
import { LeaseServer } from "../../../node-agent/agent/lease-server.js";
import {
  encodeMessage,
  LineDecoder,
  parseAgentMessage,
  type AgentMessage,
} from "../../../node-agent/lease/protocol.js";

const ref = { namespace: "doraz", name: "myvm", uid: "u1" };
let dir: string;
let now = 0;
let changes = 0;
let server: LeaseServer;

/** A job's side of the socket: sends messages, collects the agent's answers. */
async function job(jobName = "gvm-u1-r1", host = "gvm-h1") {
  const socket: Socket = connect(path.join(dir, "agent.sock"));
  const got: AgentMessage[] = [];
  const decoder = new LineDecoder();
  socket.setEncoding("utf8");
  socket.on("data", (c: string) => got.push(...decoder.push(c).map(parseAgentMessage)));
  await new Promise((r) => socket.once("connect", r));
  socket.write(
    encodeMessage({
      type: "register",
      version: 1,
      instance: ref,
      jobId: "7",
      jobName,
      host,
      pid: 1,
    }),
  );
  const until = async (n: number) => {
    for (let i = 0; i < 100 && got.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    return got;
  };
  await until(1);
  return { socket, got, until };
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "gridvm-lease-"));
  now = 1_000;
  changes = 0;
  server = new LeaseServer({
    socketPath: path.join(dir, "agent.sock"),
    graceMs: 30_000,
    now: () => now,
    onChange: () => changes++,
    log: createLogger("test", "silent"),
    check: (_ref, host) => (host === "gvm-h1" ? undefined : `not ${host}`),
  });
  await server.listen();
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the agent's lease server", () => {
  it("registers a job; its lease is alive for that run only", async () => {
    const j = await job();
    expect(j.got).toEqual([{ type: "registered" }]);
    expect(server.alive("u1", "gvm-u1-r1")).toBe(true);
    expect(server.alive("u1", "gvm-u1-r2")).toBe(false);
    expect(changes).toBeGreaterThan(0);
    j.socket.destroy();
  });

  it("refuses another host's job", async () => {
    const j = await job("gvm-u1-r1", "gvm-h2");
    expect(j.got).toEqual([{ type: "rejected", message: "not gvm-h2" }]);
    expect(server.alive("u1", "gvm-u1-r1")).toBe(false);
  });

  it("a stop request ends the lease's hold at once and is answered with stopping", async () => {
    const j = await job();
    j.socket.write(encodeMessage({ type: "stop", reason: "notify" }));
    expect(await j.until(2)).toEqual([{ type: "registered" }, { type: "stopping" }]);
    expect(server.alive("u1", "gvm-u1-r1")).toBe(false);
    expect(server.finish("u1", { type: "ended", message: "stopped" })).toBe(true);
    expect(await j.until(3)).toContainEqual({ type: "ended", message: "stopped" });
    expect(server.get("u1")).toBeUndefined();
  });

  it("a dropped connection holds for the grace period, then the lease is lost", async () => {
    const j = await job();
    j.socket.destroy();
    for (let i = 0; i < 100 && server.get("u1")?.socket; i++)
      await new Promise((r) => setTimeout(r, 10));
    now += 29_000;
    expect(server.alive("u1", "gvm-u1-r1")).toBe(true);
    now += 2_000;
    expect(server.alive("u1", "gvm-u1-r1")).toBe(false);
    expect(server.lost(server.get("u1")!)).toBe(true);
  });

  it("a stop asked before a reconnect still stands after it", async () => {
    const a = await job();
    a.socket.write(encodeMessage({ type: "stop", reason: "terminate" }));
    await a.until(2);
    a.socket.destroy();
    const b = await job();
    expect(server.get("u1")?.stopRequested).toBe("terminate");
    b.socket.destroy();
  });
});
