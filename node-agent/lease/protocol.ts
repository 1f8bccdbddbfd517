/**
 * The lease protocol between `gridvm-job` (the batch job, the VM's lease) and the node agent on
 * the same host: newline-delimited JSON over a unix socket.
 *
 *   job -> agent   register {instance, jobId, jobName, host, pid}   (again after every reconnect)
 *   agent -> job   registered                                        (the agent owns the VM now)
 *   job -> agent   stop {reason}                                     (SIGUSR2 from -notify, SIGTERM)
 *   agent -> job   stopping                                          (graceful stop under way)
 *   agent -> job   ended {message?} -> job exits 0  |  failed {message} -> job exits 1
 *   agent -> job   rejected {message}                                (e.g. unknown instance) -> exits 1
 *
 * A dropped connection is not the end of the VM (restarting the agent never restarts a VM):
 * the job reconnects and registers again.
 */

export const LEASE_PROTOCOL_VERSION = 1;

export interface InstanceRef {
  namespace: string;
  name: string;
  uid: string;
}

export type StopReason = "notify" | "terminate";

export type JobMessage =
  | {
      type: "register";
      version: number;
      instance: InstanceRef;
      jobId: string;
      jobName: string;
      host: string;
      pid: number;
    }
  | { type: "stop"; reason: StopReason };

export type AgentMessage =
  | { type: "registered" }
  | { type: "stopping" }
  | { type: "ended"; message?: string }
  | { type: "failed"; message: string }
  | { type: "rejected"; message: string };

export function encodeMessage(msg: JobMessage | AgentMessage): string {
  return `${JSON.stringify(msg)}\n`;
}

/** Splits a byte stream into complete lines; keeps the partial tail for the next chunk. */
export class LineDecoder {
  private buffer = "";
  constructor(private readonly maxLineBytes = 64 * 1024) {}

  push(chunk: string): string[] {
    this.buffer += chunk;
    const lines = this.buffer.split("\n");
    this.buffer = lines.pop() ?? "";
    if (this.buffer.length > this.maxLineBytes)
      throw new Error(`lease protocol: line longer than ${this.maxLineBytes} bytes`);
    return lines.filter((l) => l.trim().length > 0);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (o: Obj, k: string) => typeof o[k] === "string" && (o[k] as string).length > 0;

function parseLine(line: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`lease protocol: not JSON: ${line.slice(0, 200)}`);
  }
  if (!isObj(v) || typeof v["type"] !== "string")
    throw new Error(`lease protocol: not a message: ${line.slice(0, 200)}`);
  return v;
}

export function parseAgentMessage(line: string): AgentMessage {
  const m = parseLine(line);
  switch (m["type"]) {
    case "registered":
    case "stopping":
      return { type: m["type"] };
    case "ended":
      return typeof m["message"] === "string"
        ? { type: "ended", message: m["message"] }
        : { type: "ended" };
    case "failed":
    case "rejected":
      if (!str(m, "message")) throw new Error(`lease protocol: ${m["type"]} without message`);
      return { type: m["type"], message: m["message"] as string };
    default:
      throw new Error(`lease protocol: unknown agent message type ${JSON.stringify(m["type"])}`);
  }
}

export function parseJobMessage(line: string): JobMessage {
  const m = parseLine(line);
  switch (m["type"]) {
    case "register": {
      const inst = m["instance"];
      if (!isObj(inst) || !str(inst, "namespace") || !str(inst, "name") || !str(inst, "uid")) {
        throw new Error("lease protocol: register needs instance {namespace, name, uid}");
      }
      if (
        !str(m, "jobId") ||
        !str(m, "host") ||
        typeof m["pid"] !== "number" ||
        typeof m["version"] !== "number"
      ) {
        throw new Error("lease protocol: register needs version, jobId, host and pid");
      }
      return {
        type: "register",
        version: m["version"] as number,
        instance: {
          namespace: inst["namespace"] as string,
          name: inst["name"] as string,
          uid: inst["uid"] as string,
        },
        jobId: m["jobId"] as string,
        jobName: typeof m["jobName"] === "string" ? m["jobName"] : "",
        host: m["host"] as string,
        pid: m["pid"] as number,
      };
    }
    case "stop":
      if (m["reason"] !== "notify" && m["reason"] !== "terminate")
        throw new Error("lease protocol: stop needs reason notify|terminate");
      return { type: "stop", reason: m["reason"] };
    default:
      throw new Error(`lease protocol: unknown job message type ${JSON.stringify(m["type"])}`);
  }
}

/** The default agent socket, and the per-host form for several simulated hosts on one machine. */
export const DEFAULT_AGENT_SOCKET = "/run/gridvm/agent.sock";

/** "{host}" in the socket path stands for the host's name, so one qsub fits every host. */
export function agentSocketPath(template: string | undefined, host: string): string {
  return (template && template.length > 0 ? template : DEFAULT_AGENT_SOCKET).replaceAll(
    "{host}",
    host,
  );
}

/** Backoff between connection attempts: 200 ms doubling to 5 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(5_000, 200 * 2 ** Math.max(0, Math.min(attempt, 10)));
}
