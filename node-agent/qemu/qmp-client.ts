import { connect, type Socket } from "node:net";
import { EventEmitter } from "node:events";

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
    this.name = "QmpError";
  }
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

type QmpMessage =
  | { QMP: unknown }
  | { return: unknown; id?: string }
  | { error: { class: string; desc: string }; id?: string }
  | QmpEvent;

/**
 * A small QMP client: connect to the unix socket, read the greeting, negotiate capabilities,
 * then `execute` commands matched to replies by id; asynchronous events are emitted as "event".
 * Every step has a timeout, so a wedged qemu cannot wedge the agent.
 */
export class QmpClient extends EventEmitter {
  private buffer = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  private constructor(private readonly socket: Socket) {
    super();
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("close", () => this.failAll(new Error("QMP connection closed")));
    socket.on("error", (e) => this.failAll(e));
  }

  static async connect(socketPath: string, timeoutMs = 5_000): Promise<QmpClient> {
    const socket = connect(socketPath);
    const client = new QmpClient(socket);
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          client.once("greeting", () => resolve());
          socket.once("error", reject);
          socket.once("close", () =>
            reject(new Error(`QMP ${socketPath}: closed before greeting`)),
          );
        }),
        timeoutMs,
        `QMP ${socketPath}: no greeting`,
      );
      await client.execute("qmp_capabilities", undefined, timeoutMs);
      return client;
    } catch (e) {
      client.close();
      throw e;
    }
  }

  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    timeoutMs = 5_000,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`QMP ${command}: connection closed`));
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(
        JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + "\n",
      );
    });
  }

  /** Resolves with the first event of that name (or rejects after the timeout). */
  waitForEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    return withTimeout(
      new Promise<QmpEvent>((resolve) => {
        const on = (e: QmpEvent) => {
          if (e.event === name) {
            this.off("event", on);
            resolve(e);
          }
        };
        this.on("event", on);
      }),
      timeoutMs,
      `QMP: no ${name} event within ${timeoutMs} ms`,
    );
  }

  /** Resolves when qemu closes the connection (it exited), or false after the timeout. */
  waitForClose(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.socket.once("close", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: QmpMessage;
      try {
        msg = JSON.parse(line) as QmpMessage;
      } catch {
        continue; // not JSON: ignore rather than kill the connection
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: QmpMessage): void {
    if ("QMP" in msg) {
      this.emit("greeting", msg.QMP);
    } else if ("event" in msg) {
      this.emit("event", msg);
    } else if ("return" in msg || "error" in msg) {
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p || msg.id === undefined) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if ("error" in msg) p.reject(new QmpError(p.command, msg.error.class, msg.error.desc));
      else p.resolve(msg.return);
    }
  }

  private failAll(e: Error): void {
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`QMP ${p.command}: ${e.message}`));
      this.pending.delete(id);
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}
