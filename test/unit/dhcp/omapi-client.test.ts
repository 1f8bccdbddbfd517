import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OmapiClient, OmapiError } from "../../../controller/dhcp/omapi/client.js";
import {
  decodeMessage,
  encodeMessage,
  Opcode,
  startupMessage,
  u32,
  type OmapiMessage,
} from "../../../controller/dhcp/omapi/wire.js";

/** A scripted OMAPI server on a Unix socket: answers each request with reply(request). */
async function fakeServer(opts: {
  startup?: Buffer | null;
  reply?: (req: OmapiMessage) => OmapiMessage | null;
  dropOnRequest?: boolean;
}) {
  const dir = mkdtempSync(path.join(tmpdir(), "gridvm-omapi-"));
  const sock = path.join(dir, "omapi.sock");
  const server = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    let started = false;
    if (opts.startup !== null) c.write(opts.startup ?? startupMessage());
    c.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!started) {
        if (buf.length < 8) return;
        buf = buf.subarray(8);
        started = true;
      }
      for (let m = decodeMessage(buf); m; m = decodeMessage(buf)) {
        buf = buf.subarray(m.length);
        if (opts.dropOnRequest) return void c.destroy();
        const res = opts.reply?.(m.msg);
        if (res) c.write(encodeMessage(res));
      }
    });
    c.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(sock, r));
  cleanups.push(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  return sock;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const status = (req: OmapiMessage, result: number, message?: string): OmapiMessage => ({
  authId: 0,
  opcode: Opcode.Status,
  handle: 0,
  tid: 1,
  rid: req.tid,
  message: [
    ["result", u32(result)],
    ...(message ? ([["message", Buffer.from(message)]] as [string, Buffer][]) : []),
  ],
  object: [],
  signature: Buffer.alloc(0),
});

describe("OmapiClient against a scripted server", () => {
  it("times out clearly when the server never sends its startup message", async () => {
    const sock = await fakeServer({ startup: null });
    await expect(OmapiClient.connect({ path: sock, timeoutMs: 200 })).rejects.toThrow(
      /startup message timed out after 200 ms/,
    );
  });

  it("rejects a server speaking another protocol version", async () => {
    const sock = await fakeServer({ startup: Buffer.from("0000006500000018", "hex") });
    await expect(OmapiClient.connect({ path: sock, timeoutMs: 1000 })).rejects.toThrow(
      /version 101/,
    );
  });

  it("times out a request the server never answers, and retires the connection", async () => {
    const sock = await fakeServer({ reply: () => null });
    const c = await OmapiClient.connect({ path: sock, timeoutMs: 200 });
    try {
      await expect(c.lookupHost({ name: "x" })).rejects.toThrow(/OMAPI open request timed out/);
      await expect(c.lookupHost({ name: "y" })).rejects.toThrow(/timed out/);
    } finally {
      c.close();
    }
  });

  it("turns status messages into errors naming the step and dhcpd's words", async () => {
    const sock = await fakeServer({ reply: (req) => status(req, 18, "can't update object") });
    const c = await OmapiClient.connect({ path: sock });
    try {
      const err = await c
        .createHost({ name: "vm1", mac: "de:af:de:af:64:02", ip: "192.168.100.2" })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OmapiError);
      expect(String(err)).toContain(
        'create host vm1: dhcpd says "can\'t update object" (result 18: already exists)',
      );
    } finally {
      c.close();
    }
  });

  it("reports 'not found' on lookup as undefined, and a refused key with a hint", async () => {
    const sock = await fakeServer({
      reply: (req) =>
        req.message.some(([k, v]) => k === "type" && v.toString() === "authenticator")
          ? status(req, 23, "no object matches specification")
          : status(req, 23, "no object matches specification"),
    });
    const c = await OmapiClient.connect({ path: sock });
    expect(await c.lookupHost({ mac: "de:af:de:af:64:02" })).toBeUndefined();
    expect(await c.deleteHost({ name: "gone" })).toBe(false);
    c.close();
    await expect(
      OmapiClient.connect({ path: sock, key: { name: "k", secret: "c2VjcmV0" } }),
    ).rejects.toThrow(/authenticate with key "k": dhcpd says "no object matches specification"/);
  });

  it("fails fast when the server drops the connection mid-request", async () => {
    const sock = await fakeServer({ dropOnRequest: true });
    const c = await OmapiClient.connect({ path: sock, timeoutMs: 5000 });
    const started = Date.now();
    await expect(c.lookupHost({ name: "x" })).rejects.toThrow(/connection closed by the server/);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(c.lookupHost({ name: "y" })).rejects.toThrow(/closed/); // later calls too
  });
});
