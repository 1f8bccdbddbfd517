import { describe, expect, it } from "vitest";
import type { VMInstanceStatus } from "../../../controller/api/generated/types.js";
import { agentStatus, needsWrite, type RunState } from "../../../node-agent/agent/report.js";

const ctx = {
  host: "gvm-h1",
  vncAddress: "10.213.7.11",
  tap: "gvt0123456789ab",
  generation: 2,
  nowMs: Date.UTC(2026, 0, 1),
};
const running: RunState = {
  kind: "running",
  display: 3,
  startedAt: "2026-01-01T00:00:00Z",
  passwordSecret: "myvm-vnc",
};

describe("what the agent reports", () => {
  it("a running VM: endpoint on the host's address, tap, start time, Ready", () => {
    const s = agentStatus(undefined, running, ctx)!;
    expect(s.vnc).toEqual({ endpoint: "10.213.7.11:5903", display: 3, passwordSecret: "myvm-vnc" });
    expect(s.network).toEqual({ tap: "gvt0123456789ab" });
    expect(s.startedAt).toBe("2026-01-01T00:00:00Z");
    expect(s.conditions).toMatchObject([
      { type: "Ready", status: "True", reason: "VMRunning", observedGeneration: 2 },
    ]);
  });

  it.each<[RunState, string]>([
    [{ kind: "failed", message: "qemu: Could not open disk" }, "VMFailed"],
    [{ kind: "exited", message: "qemu exited" }, "VMExited"],
    [{ kind: "unrealizable", reason: "NoAddress", message: "no address" }, "NoAddress"],
  ])("%j -> Ready False %s, nothing else", (state, reason) => {
    const s = agentStatus(undefined, state, ctx)!;
    expect(s).toEqual({
      conditions: [expect.objectContaining({ type: "Ready", status: "False", reason })],
    });
  });

  it("no run here: clears what a previous report left, else says nothing", () => {
    const before: VMInstanceStatus = { ...agentStatus(undefined, running, ctx)! };
    expect(agentStatus(before, { kind: "none" }, ctx)?.conditions[0]).toMatchObject({
      status: "False",
      reason: "NotRunning",
    });
    expect(agentStatus(undefined, { kind: "none" }, ctx)).toBeUndefined();
    const failed: VMInstanceStatus = {
      ...agentStatus(undefined, { kind: "failed", message: "x" }, ctx)!,
    };
    expect(agentStatus(failed, { kind: "none" }, ctx)).toBeUndefined(); // keeps telling why it failed
  });

  it("keeps lastTransitionTime while the status stays the same", () => {
    const first = agentStatus(undefined, running, ctx)!;
    const later = agentStatus(first as VMInstanceStatus, running, {
      ...ctx,
      nowMs: ctx.nowMs + 60_000,
    })!;
    expect(later.conditions[0]!.lastTransitionTime).toBe(first.conditions[0]!.lastTransitionTime);
  });

  it("writes only when something it owns differs (steady state: no write)", () => {
    const want = agentStatus(undefined, running, ctx)!;
    const current: VMInstanceStatus = {
      phase: "Running",
      host: "gvm-h1",
      ...want,
      network: { ip: "192.168.100.2", ...want.network },
    };
    expect(needsWrite(current, want)).toBe(false);
    expect(needsWrite({ ...current, vnc: { ...current.vnc, display: 4 } }, want)).toBe(true);
    expect(needsWrite({ ...current, startedAt: undefined }, want)).toBe(true);
    expect(needsWrite(undefined, want)).toBe(true);
    const cleared = agentStatus(current, { kind: "none" }, ctx)!;
    expect(needsWrite(current, cleared)).toBe(true);
  });
});
