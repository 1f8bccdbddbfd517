import { describe, expect, it } from "vitest";
import {
  agentSocketPath,
  encodeMessage,
  LineDecoder,
  parseAgentMessage,
  parseJobMessage,
  reconnectDelayMs,
} from "../../../node-agent/lease/protocol.js";

const register = {
  type: "register",
  version: 1,
  instance: { namespace: "doraz", name: "myvm", uid: "u-1" },
  jobId: "42",
  jobName: "gvm-u-1-r0",
  host: "gvm-h1",
  pid: 7,
} as const;

describe("LineDecoder", () => {
  it("yields whole lines only, across chunk boundaries", () => {
    const d = new LineDecoder();
    expect(d.push('{"type":"regis')).toEqual([]);
    expect(d.push('tered"}\n{"type":"stopping"}\n{"ty')).toEqual([
      '{"type":"registered"}',
      '{"type":"stopping"}',
    ]);
    expect(d.push('pe":"ended"}\n\n')).toEqual(['{"type":"ended"}']);
  });
  it("refuses an endless line", () => {
    expect(() => new LineDecoder(10).push("x".repeat(11))).toThrow(/longer than 10/);
  });
});

describe("messages", () => {
  it("round-trips a registration", () => {
    expect(parseJobMessage(encodeMessage(register).trim())).toEqual(register);
  });
  it.each([
    ['{"type":"registered"}', { type: "registered" }],
    ['{"type":"ended"}', { type: "ended" }],
    ['{"type":"ended","message":"powered off"}', { type: "ended", message: "powered off" }],
    ['{"type":"failed","message":"qemu died"}', { type: "failed", message: "qemu died" }],
    [
      '{"type":"rejected","message":"unknown instance"}',
      { type: "rejected", message: "unknown instance" },
    ],
  ])("reads agent message %s", (line, msg) => {
    expect(parseAgentMessage(line)).toEqual(msg);
  });
  it.each([
    ["not json", /not JSON/],
    ["[1]", /not a message/],
    ['{"type":"failed"}', /without message/],
    ['{"type":"reboot"}', /unknown agent message/],
  ])("refuses agent message %s", (line, error) => {
    expect(() => parseAgentMessage(line)).toThrow(error);
  });
  it.each([
    [{ ...register, instance: { namespace: "doraz", name: "myvm" } }, /instance/],
    [{ ...register, pid: "7" }, /pid/],
    [{ type: "stop", reason: "because" }, /notify\|terminate/],
  ])("refuses job message %j", (msg, error) => {
    expect(() => parseJobMessage(JSON.stringify(msg))).toThrow(error);
  });
});

describe("agentSocketPath", () => {
  it.each([
    [undefined, "gvm-h1", "/run/gridvm/agent.sock"],
    ["", "gvm-h1", "/run/gridvm/agent.sock"],
    ["/x/run/hosts/{host}/agent.sock", "gvm-h2", "/x/run/hosts/gvm-h2/agent.sock"],
    ["/a.sock", "gvm-h2", "/a.sock"],
  ])("%s on %s -> %s", (template, host, path) => {
    expect(agentSocketPath(template, host)).toBe(path);
  });
});

describe("reconnectDelayMs", () => {
  it("doubles from 200 ms and stays at 5 s", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map(reconnectDelayMs)).toEqual([
      200, 400, 800, 1600, 3200, 5000, 5000, 5000,
    ]);
  });
});
