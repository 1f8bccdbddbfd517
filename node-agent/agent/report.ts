import type { VMInstanceStatus } from "../../controller/api/generated/types.js";
import { findCondition, kubeTime, type Condition } from "../../controller/machinery/conditions.js";

/** What the agent knows about one instance's current run on this host. */
export type RunState =
  | { kind: "running"; display: number; startedAt: string; passwordSecret: string }
  | { kind: "failed"; message: string }
  | { kind: "exited"; message: string }
  | { kind: "unrealizable"; reason: string; message: string }
  | { kind: "none" };

/** The status fields the agent owns (field manager gridvm-agent). */
export interface AgentStatus {
  vnc?: { endpoint: string; display: number; passwordSecret: string };
  network?: { tap: string };
  startedAt?: string;
  conditions: Condition[];
}

export interface ReportContext {
  host: string;
  /** The address VNC listens on, as a client on the head node reaches it. */
  vncAddress: string;
  tap: string;
  generation: number;
  nowMs: number;
}

/**
 * The agent's part of an instance's status for a run state, or undefined when there is nothing to
 * say (nothing reported yet, or a False Ready that already tells why). Pure. A run that is over
 * keeps only Ready=False with its reason: vnc, tap and startedAt go.
 */
export function agentStatus(
  current: VMInstanceStatus | undefined,
  state: RunState,
  ctx: ReportContext,
): AgentStatus | undefined {
  const ready = (status: "True" | "False", reason: string, message: string): Condition => {
    const prev = findCondition(current?.conditions as Condition[] | undefined, "Ready");
    return {
      type: "Ready",
      status,
      reason,
      message,
      lastTransitionTime:
        prev && prev.status === status ? prev.lastTransitionTime : kubeTime(ctx.nowMs),
      observedGeneration: ctx.generation,
    };
  };
  switch (state.kind) {
    case "running":
      return {
        vnc: {
          endpoint: `${ctx.vncAddress}:${5900 + state.display}`,
          display: state.display,
          passwordSecret: state.passwordSecret,
        },
        network: { tap: ctx.tap },
        startedAt: state.startedAt,
        conditions: [
          ready(
            "True",
            "VMRunning",
            `qemu runs on ${ctx.host}; VNC needs the password in secret ${state.passwordSecret}`,
          ),
        ],
      };
    case "failed":
      return { conditions: [ready("False", "VMFailed", state.message)] };
    case "exited":
      return { conditions: [ready("False", "VMExited", state.message)] };
    case "unrealizable":
      return { conditions: [ready("False", state.reason, state.message)] };
    case "none": {
      const prev = findCondition(current?.conditions as Condition[] | undefined, "Ready");
      const leftovers = current?.vnc || current?.network?.tap || current?.startedAt;
      if (!leftovers && prev?.status !== "True") return undefined;
      return { conditions: [ready("False", "NotRunning", `the VM is not running on ${ctx.host}`)] };
    }
  }
}

/** Whether applying `want` would change anything the agent owns; a steady state writes nothing. */
export function needsWrite(current: VMInstanceStatus | undefined, want: AgentStatus): boolean {
  const prev = findCondition(current?.conditions as Condition[] | undefined, "Ready");
  const next = want.conditions[0];
  const sameReady =
    prev !== undefined &&
    next !== undefined &&
    prev.status === next.status &&
    prev.reason === next.reason &&
    prev.message === next.message &&
    (prev.observedGeneration ?? 0) === (next.observedGeneration ?? 0);
  return !(
    sameReady &&
    sameVnc(current?.vnc, want.vnc) &&
    (current?.network?.tap ?? "") === (want.network?.tap ?? "") &&
    (current?.startedAt ?? "") === (want.startedAt ?? "")
  );
}

function sameVnc(a: VMInstanceStatus["vnc"], b: AgentStatus["vnc"]): boolean {
  if (!a || !b) return !a === !b || (!b && !a?.endpoint && !a?.display && !a?.passwordSecret);
  return (
    a.endpoint === b.endpoint && a.display === b.display && a.passwordSecret === b.passwordSecret
  );
}
