import net from "node:net";
import { randomInt } from "node:crypto";
import {
  decodeMessage,
  dictGet,
  encodeMessage,
  HMAC_MD5_ALGORITHM,
  HEADER_SIZE,
  ipBytes,
  ipFromBytes,
  macBytes,
  macFromBytes,
  Opcode,
  PROTOCOL_VERSION,
  signMessage,
  startupMessage,
  u32,
  verifySignature,
  type Dict,
  type OmapiMessage,
} from "./wire.js";

/**
 * A small OMAPI client for ISC dhcpd: connect, authenticate with an HMAC-MD5 key, and manage host
 * objects (the paper's central DHCP). One request at a time per connection; every call has a
 * deadline. Errors say what dhcpd said ("no object matches specification", "key conflict") or which
 * step timed out.
 */
export interface OmapiKey {
  name: string;
  /** Base64, as in dhcpd.conf's `key { secret ... }`. */
  secret: string;
}

export interface OmapiConnectOptions {
  host?: string;
  port?: number;
  /** A Unix socket instead of host/port (tests reach a dhcpd inside a network namespace this way). */
  path?: string;
  key?: OmapiKey;
  timeoutMs?: number;
}

export interface OmapiHost {
  name?: string;
  mac?: string;
  ip?: string;
  /** dhcpd's handle for the object on this connection. */
  handle: number;
}

export class OmapiError extends Error {
  constructor(
    message: string,
    /** ISC result code from a status message, when there was one. */
    readonly result?: number,
  ) {
    super(message);
    this.name = "OmapiError";
  }
}

/** isc_result_t values dhcpd 4.4 answers with (the DHCP class starts at 6 << 16), as seen here. */
export const IscResult = {
  Success: 0,
  Exists: 18,
  NotFound: 23,
  /** "No authenticator on message": the server wants a key and the message was not signed. */
  NoAuthenticator: 393_225,
  /** Status without text for a message whose signature does not verify. */
  InvalidSignature: 393_227,
} as const;

const RESULT_HINTS: Record<number, string> = {
  [IscResult.Exists]: "already exists",
  [IscResult.NotFound]: "not found",
  [IscResult.NoAuthenticator]: "the server requires a key; configure the OMAPI key",
  [IscResult.InvalidSignature]: "signature rejected: wrong key secret?",
};

export class OmapiClient {
  private buffer = Buffer.alloc(0);
  private pending: { resolve: (m: OmapiMessage) => void; reject: (e: Error) => void } | undefined;
  private startupSeen = false;
  private startupWaiter: ((err?: Error) => void) | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private authId = 0;
  private secret: Buffer | undefined;
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on("data", (d: Buffer) => this.onData(d));
    const fail = (err: Error): void => {
      this.closedError ??= err;
      this.startupWaiter?.(err);
      this.pending?.reject(err);
      this.pending = undefined;
    };
    socket.on("error", (e) => fail(new OmapiError(`OMAPI connection failed: ${e.message}`)));
    socket.on("close", () => fail(new OmapiError("OMAPI connection closed by the server")));
  }

  /** Connects, exchanges the startup message and, with a key, authenticates. */
  static async connect(opts: OmapiConnectOptions): Promise<OmapiClient> {
    const timeoutMs = opts.timeoutMs ?? 5_000;
    const where = opts.path ?? `${opts.host ?? "127.0.0.1"}:${opts.port ?? 7911}`;
    const socket = opts.path
      ? net.connect(opts.path)
      : net.connect(opts.port ?? 7911, opts.host ?? "127.0.0.1");
    const client = new OmapiClient(socket, timeoutMs);
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("error", reject);
        }),
        timeoutMs,
        `connect to OMAPI at ${where}`,
      );
      socket.write(startupMessage());
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          if (client.startupSeen) return resolve();
          client.startupWaiter = (err) => (err ? reject(err) : resolve());
        }),
        timeoutMs,
        "OMAPI startup message",
      );
      if (opts.key) await client.authenticate(opts.key);
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  close(): void {
    this.socket.destroy();
  }

  /** Creates a host; fails with dhcpd's message if one with that name/MAC/IP exists. */
  async createHost(host: { name: string; mac: string; ip: string }): Promise<OmapiHost> {
    const res = await this.request({
      opcode: Opcode.Open,
      message: [
        ["type", Buffer.from("host")],
        ["create", u32(1)],
        ["exclusive", u32(1)],
      ],
      object: [
        ["name", Buffer.from(host.name)],
        ["hardware-address", macBytes(host.mac)],
        ["hardware-type", u32(1)],
        ["ip-address", ipBytes(host.ip)],
      ],
    });
    expectUpdate(res, `create host ${host.name}`);
    return hostFrom(res);
  }

  /** The host with that name or MAC, or undefined when dhcpd has none. */
  async lookupHost(by: { name: string } | { mac: string }): Promise<OmapiHost | undefined> {
    const object: Dict =
      "name" in by
        ? [["name", Buffer.from(by.name)]]
        : [
            ["hardware-address", macBytes(by.mac)],
            ["hardware-type", u32(1)],
          ];
    const res = await this.request({
      opcode: Opcode.Open,
      message: [["type", Buffer.from("host")]],
      object,
    });
    if (res.opcode === Opcode.Status && statusResult(res) === IscResult.NotFound) return undefined;
    expectUpdate(res, `look up host ${"name" in by ? by.name : by.mac}`);
    return hostFrom(res);
  }

  /** Deletes the host with that name or MAC; false when there was none. */
  async deleteHost(by: { name: string } | { mac: string }): Promise<boolean> {
    const host = await this.lookupHost(by);
    if (!host) return false;
    const res = await this.request({
      opcode: Opcode.Delete,
      handle: host.handle,
      message: [],
      object: [],
    });
    if (res.opcode !== Opcode.Status || statusResult(res) !== IscResult.Success) {
      throw statusError(res, `delete host ${"name" in by ? by.name : by.mac}`);
    }
    return true;
  }

  private async authenticate(key: OmapiKey): Promise<void> {
    const res = await this.request({
      opcode: Opcode.Open,
      message: [["type", Buffer.from("authenticator")]],
      object: [
        ["name", Buffer.from(key.name)],
        ["algorithm", Buffer.from(HMAC_MD5_ALGORITHM)],
      ],
    });
    if (res.opcode !== Opcode.Update || res.handle === 0) {
      throw statusError(res, `authenticate with key "${key.name}"`);
    }
    this.authId = res.handle;
    this.secret = Buffer.from(key.secret, "base64");
  }

  /** Sends one request and waits for its answer; requests on a connection run one at a time. */
  private request(
    parts: Pick<OmapiMessage, "opcode" | "message" | "object"> & { handle?: number },
  ): Promise<OmapiMessage> {
    const run = async (): Promise<OmapiMessage> => {
      if (this.closedError) throw this.closedError;
      const tid = randomInt(1, 0x7fffffff);
      let msg: OmapiMessage = {
        authId: 0,
        opcode: parts.opcode,
        handle: parts.handle ?? 0,
        tid,
        rid: 0,
        message: parts.message,
        object: parts.object,
        signature: Buffer.alloc(0),
      };
      if (this.secret) msg = signMessage(msg, this.authId, this.secret);
      const answer = new Promise<OmapiMessage>(
        (resolve, reject) => (this.pending = { resolve, reject }),
      );
      this.socket.write(encodeMessage(msg));
      let res: OmapiMessage;
      try {
        res = await withTimeout(answer, this.timeoutMs, `OMAPI ${opName(parts.opcode)} request`);
      } catch (err) {
        // A late answer would be taken for the next request's: this connection is done for.
        this.closedError ??= err as Error;
        this.close();
        throw err;
      } finally {
        this.pending = undefined;
      }
      if (res.rid !== tid)
        throw new OmapiError(`OMAPI answer for transaction ${res.rid}, expected ${tid}`);
      if (this.secret && res.authId !== 0 && !verifySignature(res, this.secret)) {
        throw new OmapiError("OMAPI answer has a bad signature (wrong key secret?)");
      }
      return res;
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private onData(data: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, data]);
    if (!this.startupSeen) {
      if (this.buffer.length < 8) return;
      const version = this.buffer.readUInt32BE(0);
      const headerSize = this.buffer.readUInt32BE(4);
      this.buffer = this.buffer.subarray(8);
      this.startupSeen = true;
      const waiter = this.startupWaiter;
      this.startupWaiter = undefined;
      if (version !== PROTOCOL_VERSION || headerSize !== HEADER_SIZE) {
        const err = new OmapiError(
          `unexpected OMAPI startup: version ${version}, header size ${headerSize}`,
        );
        this.closedError = err;
        waiter?.(err);
        this.close();
        return;
      }
      waiter?.();
    }
    for (;;) {
      const decoded = decodeMessage(this.buffer);
      if (!decoded) return;
      this.buffer = this.buffer.subarray(decoded.length);
      const p = this.pending;
      this.pending = undefined;
      p?.resolve(decoded.msg);
    }
  }
}

function opName(op: number): string {
  return (
    Object.entries(Opcode)
      .find(([, v]) => v === op)?.[0]
      .toLowerCase() ?? `opcode ${op}`
  );
}

function statusResult(res: OmapiMessage): number | undefined {
  const r = dictGet(res.message, "result");
  return r && r.length === 4 ? r.readUInt32BE(0) : undefined;
}

function statusError(res: OmapiMessage, what: string): OmapiError {
  if (res.opcode !== Opcode.Status)
    return new OmapiError(`${what}: unexpected ${opName(res.opcode)} answer`);
  const text = dictGet(res.message, "message")?.toString("utf8");
  const result = statusResult(res);
  const hint = result !== undefined ? RESULT_HINTS[result] : undefined;
  const said = text ? `dhcpd says "${text}"` : "dhcpd refused";
  return new OmapiError(
    `${what}: ${said} (result ${result ?? "?"}${hint ? `: ${hint}` : ""})`,
    result,
  );
}

function expectUpdate(res: OmapiMessage, what: string): void {
  if (res.opcode !== Opcode.Update) throw statusError(res, what);
}

function hostFrom(res: OmapiMessage): OmapiHost {
  const name = dictGet(res.object, "name");
  const mac = dictGet(res.object, "hardware-address");
  const ip = dictGet(res.object, "ip-address");
  return {
    handle: res.handle,
    ...(name ? { name: name.toString("utf8") } : {}),
    ...(mac ? { mac: macFromBytes(mac) } : {}),
    ...(ip && ip.length === 4 ? { ip: ipFromBytes(ip) } : {}),
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OmapiError(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
