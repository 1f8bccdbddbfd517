/**
 * gridvm-job: the program a VM's batch job runs on the execution host. It is the VM's lease:
 * it registers with the local node agent and lives exactly as long as the VM.
 *
 *   exit 0  the agent says the VM ended
 *   exit 1  the agent says the VM failed, or refused the registration
 *   exit 2  no agent answered within the bound (GRIDVM_AGENT_WAIT_SECONDS, default 60)
 *   exit 3  bad arguments
 * (Grid Engine gives 99 and 100 special meanings; we never use them.)
 *
 * On SIGUSR2 (qsub -notify: qdel or h_rt will SIGKILL soon), SIGUSR1 (s_rt) or SIGTERM it asks
 * the agent for a graceful stop and keeps waiting for the VM to end.
 *
 * Arguments: --namespace NS --name NAME --uid UID [--socket PATH] [--wait-seconds N]
 * (or GRIDVM_INSTANCE_NAMESPACE/_NAME/_UID, GRIDVM_AGENT_SOCKET, GRIDVM_AGENT_WAIT_SECONDS).
 * "{host}" in the socket path is replaced by this host's name. Diagnostics go to stderr, one
 * line each, prefixed "gridvm-job:", so they land in the job's output file.
 */
import { connect, type Socket } from "node:net";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import {
  agentSocketPath,
  encodeMessage,
  LEASE_PROTOCOL_VERSION,
  LineDecoder,
  parseAgentMessage,
  reconnectDelayMs,
  type InstanceRef,
  type StopReason,
} from "../lease/protocol.js";

interface Options {
  instance: InstanceRef;
  socketPath: string;
  waitMs: number;
  jobId: string;
  jobName: string;
  host: string;
}

function log(message: string): void {
  process.stderr.write(`gridvm-job: ${new Date().toISOString()} ${message}\n`);
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      namespace: { type: "string" },
      name: { type: "string" },
      uid: { type: "string" },
      socket: { type: "string" },
      "wait-seconds": { type: "string" },
    },
    strict: true,
  });
  const env = process.env;
  const namespace = values.namespace ?? env.GRIDVM_INSTANCE_NAMESPACE;
  const name = values.name ?? env.GRIDVM_INSTANCE_NAME;
  const uid = values.uid ?? env.GRIDVM_INSTANCE_UID;
  if (!namespace || !name || !uid)
    throw new Error(
      "needs --namespace, --name and --uid (or GRIDVM_INSTANCE_NAMESPACE/_NAME/_UID)",
    );
  const waitSeconds = Number(values["wait-seconds"] ?? env.GRIDVM_AGENT_WAIT_SECONDS ?? "60");
  if (!Number.isFinite(waitSeconds) || waitSeconds <= 0)
    throw new Error(`bad wait seconds: ${values["wait-seconds"] ?? env.GRIDVM_AGENT_WAIT_SECONDS}`);
  const host = hostname();
  return {
    instance: { namespace, name, uid },
    socketPath: agentSocketPath(values.socket ?? env.GRIDVM_AGENT_SOCKET, host),
    waitMs: waitSeconds * 1000,
    jobId: env.JOB_ID ?? "",
    jobName: env.JOB_NAME ?? "",
    host,
  };
}

/** The outcome of one connection: the VM's end, or a lost connection to retry. */
type SessionEnd =
  | { kind: "exit"; code: number; message: string }
  | { kind: "lost"; error: string; registered: boolean };

class Lease {
  private stopRequested: StopReason | undefined;
  private socket: Socket | undefined;
  private registered = false;

  constructor(private readonly opts: Options) {}

  requestStop(reason: StopReason): void {
    log(
      `${reason === "notify" ? "notified of an upcoming kill" : "asked to terminate"}: asking the agent to stop the VM`,
    );
    this.stopRequested ??= reason;
    if (this.socket && this.registered) this.socket.write(encodeMessage({ type: "stop", reason }));
  }

  /** Connects, registers, and waits until the agent ends the VM or the connection drops. */
  private session(): Promise<SessionEnd> {
    return new Promise((resolve) => {
      const { opts } = this;
      const socket = connect(opts.socketPath);
      const decoder = new LineDecoder();
      let done = false;
      const finish = (end: SessionEnd) => {
        if (done) return;
        done = true;
        this.socket = undefined;
        this.registered = false;
        socket.destroy();
        resolve(end);
      };
      socket.setEncoding("utf8");
      socket.on("connect", () => {
        this.socket = socket;
        socket.write(
          encodeMessage({
            type: "register",
            version: LEASE_PROTOCOL_VERSION,
            instance: opts.instance,
            jobId: opts.jobId,
            jobName: opts.jobName,
            host: opts.host,
            pid: process.pid,
          }),
        );
      });
      socket.on("data", (chunk: string) => {
        try {
          for (const line of decoder.push(chunk)) {
            const msg = parseAgentMessage(line);
            switch (msg.type) {
              case "registered":
                this.registered = true;
                log(
                  `registered ${opts.instance.namespace}/${opts.instance.name} (job ${opts.jobId || "?"}) with the agent at ${opts.socketPath}`,
                );
                // A signal that came while we were (re)connecting is not lost.
                if (this.stopRequested)
                  socket.write(encodeMessage({ type: "stop", reason: this.stopRequested }));
                break;
              case "stopping":
                log("the agent is stopping the VM");
                break;
              case "ended":
                finish({
                  kind: "exit",
                  code: 0,
                  message: `the VM ended${msg.message ? `: ${msg.message}` : ""}`,
                });
                break;
              case "failed":
                finish({ kind: "exit", code: 1, message: `the VM failed: ${msg.message}` });
                break;
              case "rejected":
                finish({
                  kind: "exit",
                  code: 1,
                  message: `the agent refused the lease: ${msg.message}`,
                });
                break;
            }
          }
        } catch (err) {
          finish({ kind: "lost", error: (err as Error).message, registered: this.registered });
        }
      });
      socket.on("error", (err: NodeJS.ErrnoException) =>
        finish({ kind: "lost", error: err.code ?? err.message, registered: this.registered }),
      );
      socket.on("close", () =>
        finish({ kind: "lost", error: "connection closed", registered: this.registered }),
      );
    });
  }

  /** Runs sessions until the VM ends; gives up when no agent answers within the bound. */
  async run(): Promise<{ code: number; message: string }> {
    let since = Date.now();
    let attempt = 0;
    for (;;) {
      const end = await this.session();
      if (end.kind === "exit") return end;
      if (end.registered) {
        log(`lost the agent (${end.error}); reconnecting`);
        since = Date.now();
        attempt = 0;
      }
      const waited = Date.now() - since;
      if (waited >= this.opts.waitMs) {
        return {
          code: 2,
          message: `no node agent at ${this.opts.socketPath} on ${this.opts.host} after ${Math.round(waited / 1000)} s (last error: ${end.error}); giving up the lease`,
        };
      }
      const delay = Math.min(reconnectDelayMs(attempt++), this.opts.waitMs - waited);
      if (attempt === 1)
        log(
          `no agent at ${this.opts.socketPath} yet (${end.error}); retrying for up to ${this.opts.waitMs / 1000} s`,
        );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = readOptions();
  } catch (err) {
    log((err as Error).message);
    return 3;
  }
  const lease = new Lease(opts);
  process.on("SIGUSR2", () => lease.requestStop("notify"));
  process.on("SIGUSR1", () => lease.requestStop("notify"));
  process.on("SIGTERM", () => lease.requestStop("terminate"));
  process.on("SIGINT", () => lease.requestStop("terminate"));
  const { code, message } = await lease.run();
  log(message);
  return code;
}

process.exitCode = await main();
