import { mkdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Logger } from "../../controller/machinery/log.js";
import {
  encodeMessage,
  LineDecoder,
  parseJobMessage,
  type AgentMessage,
  type InstanceRef,
  type StopReason,
} from "../lease/protocol.js";

/** One run's lease: the gridvm-job that holds it, and whether it still does. */
export interface LeaseSession {
  ref: InstanceRef;
  jobId: string;
  jobName: string;
  socket: Socket | undefined;
  /** When the connection came or went (ms). */
  since: number;
  stopRequested: StopReason | undefined;
}

export type Outcome = { type: "ended"; message?: string } | { type: "failed"; message: string };

export interface LeaseServerOptions {
  socketPath: string;
  /** How long a dropped job connection still counts as a live lease (it reconnects meanwhile). */
  graceMs: number;
  /** Refuses a registration (e.g. another host's job), or undefined to accept it. */
  check?: (ref: InstanceRef, host: string) => string | undefined;
  onChange: () => void;
  log: Logger;
  now?: () => number;
}

/**
 * The agent's side of the lease protocol (node-agent/lease/protocol.ts): accepts gridvm-job
 * registrations on a unix socket, keeps one session per instance UID, and tells a job how its VM
 * ended. Holds no VM state itself: the agent asks it whether a lease is alive on every pass.
 */
export class LeaseServer {
  private readonly sessions = new Map<string, LeaseSession>();
  private server: Server | undefined;
  private readonly now: () => number;

  constructor(private readonly o: LeaseServerOptions) {
    this.now = o.now ?? Date.now;
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.o.socketPath), { recursive: true, mode: 0o755 });
    rmSync(this.o.socketPath, { force: true }); // a stale socket from a previous agent
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.o.socketPath, () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) s.socket?.destroy();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
    rmSync(this.o.socketPath, { force: true });
  }

  get(uid: string): LeaseSession | undefined {
    return this.sessions.get(uid);
  }

  list(): LeaseSession[] {
    return [...this.sessions.values()];
  }

  /** Connected (or away for less than the grace period), for this very run, and not stopping. */
  alive(uid: string, jobName: string): boolean {
    const s = this.sessions.get(uid);
    if (!s || s.stopRequested || (s.jobName && s.jobName !== jobName)) return false;
    return s.socket !== undefined || this.now() - s.since < this.o.graceMs;
  }

  /** Away for longer than the grace period: the job is gone (qdel -f, a crashed host). */
  lost(s: LeaseSession): boolean {
    return s.socket === undefined && this.now() - s.since >= this.o.graceMs;
  }

  /**
   * Tells the job how its VM ended and forgets the session. A job that is not connected right now
   * hears it when it registers again (the agent decides from the VM's state again then).
   */
  finish(uid: string, outcome: Outcome): boolean {
    const s = this.sessions.get(uid);
    if (!s?.socket) return false;
    this.send(s.socket, outcome);
    s.socket.end();
    this.sessions.delete(uid);
    this.o.log.info(
      { instance: `${s.ref.namespace}/${s.ref.name}`, job: s.jobId, outcome: outcome.type },
      `lease ${outcome.type}${outcome.message ? `: ${outcome.message}` : ""}`,
    );
    return true;
  }

  /** Drops a session whose job is gone for good. */
  forget(uid: string): void {
    this.sessions.delete(uid);
  }

  private accept(socket: Socket): void {
    socket.setEncoding("utf8");
    const decoder = new LineDecoder();
    let uid: string | undefined;
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      const s = uid ? this.sessions.get(uid) : undefined;
      if (s && s.socket === socket) {
        s.socket = undefined;
        s.since = this.now();
        // Look again once the grace period is over: the lease may be gone then.
        setTimeout(() => this.o.onChange(), this.o.graceMs + 50).unref();
        this.o.onChange();
      }
    });
    socket.on("data", (chunk: string) => {
      try {
        for (const line of decoder.push(chunk)) {
          const msg = parseJobMessage(line);
          if (msg.type === "register") {
            const refused = this.o.check?.(msg.instance, msg.host);
            if (refused) {
              this.send(socket, { type: "rejected", message: refused });
              socket.end();
              return;
            }
            uid = msg.instance.uid;
            const prev = this.sessions.get(uid);
            if (prev?.socket && prev.socket !== socket) prev.socket.destroy();
            const sameRun = prev && prev.jobName === msg.jobName;
            this.sessions.set(uid, {
              ref: msg.instance,
              jobId: msg.jobId,
              jobName: msg.jobName,
              socket,
              since: this.now(),
              // A stop asked for before a reconnect still stands.
              stopRequested: sameRun ? prev.stopRequested : undefined,
            });
            this.send(socket, { type: "registered" });
            this.o.log.info(
              {
                instance: `${msg.instance.namespace}/${msg.instance.name}`,
                job: msg.jobId,
                jobName: msg.jobName,
              },
              sameRun ? "lease re-registered" : "lease registered",
            );
            this.o.onChange();
          } else if (uid) {
            const s = this.sessions.get(uid);
            if (s && s.socket === socket) {
              s.stopRequested ??= msg.reason;
              this.send(socket, { type: "stopping" });
              this.o.log.info(
                { instance: `${s.ref.namespace}/${s.ref.name}`, reason: msg.reason },
                "lease asks to stop the VM",
              );
              this.o.onChange();
            }
          }
        }
      } catch (err) {
        this.o.log.warn(
          { err: (err as Error).message },
          "bad lease message; closing the connection",
        );
        socket.destroy();
      }
    });
  }

  private send(socket: Socket, msg: AgentMessage): void {
    if (!socket.destroyed) socket.write(encodeMessage(msg));
  }
}
