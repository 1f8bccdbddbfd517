import { mkdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import {
  encodeMessage,
  LineDecoder,
  parseJobMessage,
  type AgentMessage,
  type JobMessage,
} from "../../node-agent/lease/protocol.js";

type Register = Extract<JobMessage, { type: "register" }>;

export interface StandInEvent {
  at: number;
  socketPath: string;
  message: JobMessage;
}

export interface StandInAgentOptions {
  /** Answer a stop request by ending the VM at once (as a VM that powers off quickly would). */
  endOnStop?: boolean;
}

/**
 * A node agent that only speaks the lease protocol, for tests: it accepts registrations on one
 * or more sockets, records every message, and ends or fails VMs when the test says so.
 */
export class StandInAgent {
  readonly events: StandInEvent[] = [];
  private readonly servers: Server[] = [];
  private readonly leases = new Map<string, Socket>(); // uid -> connection
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly opts: StandInAgentOptions = {}) {}

  async listen(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true });
    rmSync(socketPath, { force: true });
    const server = createServer((socket) => this.accept(socket, socketPath));
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
  }

  private accept(socket: Socket, socketPath: string): void {
    socket.setEncoding("utf8");
    const decoder = new LineDecoder();
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: string) => {
      for (const line of decoder.push(chunk)) {
        const message = parseJobMessage(line);
        this.events.push({ at: Date.now(), socketPath, message });
        if (message.type === "register") {
          this.leases.set(message.instance.uid, socket);
          this.send(socket, { type: "registered" });
        } else if (message.type === "stop") {
          this.send(socket, { type: "stopping" });
          if (this.opts.endOnStop)
            this.send(socket, { type: "ended", message: `stopped on ${message.reason}` });
        }
        this.waiters.splice(0).forEach((w) => w());
      }
    });
  }

  private send(socket: Socket, msg: AgentMessage): void {
    if (!socket.destroyed) socket.write(encodeMessage(msg));
  }

  registrations(): Register[] {
    return this.events.map((e) => e.message).filter((m): m is Register => m.type === "register");
  }

  /** Resolves when an event matching `pred` has arrived, or rejects after `timeoutMs`. */
  async waitFor(
    pred: (e: StandInEvent) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<StandInEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `stand-in agent: no ${what} within ${timeoutMs} ms (events: ${JSON.stringify(this.events.map((e) => e.message))})`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  endVm(uid: string, message?: string): void {
    this.tell(uid, message === undefined ? { type: "ended" } : { type: "ended", message });
  }

  failVm(uid: string, message: string): void {
    this.tell(uid, { type: "failed", message });
  }

  /** Drops the connection of a lease, as a restarting agent would. */
  dropConnection(uid: string): void {
    this.leases.get(uid)?.destroy();
    this.leases.delete(uid);
  }

  private tell(uid: string, msg: AgentMessage): void {
    const socket = this.leases.get(uid);
    if (!socket) throw new Error(`stand-in agent: no lease for ${uid}`);
    this.send(socket, msg);
  }

  async close(): Promise<void> {
    for (const s of this.leases.values()) s.destroy();
    this.leases.clear();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }
}
