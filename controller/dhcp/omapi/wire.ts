import { createHmac } from "node:crypto";

/**
 * The OMAPI wire format spoken by ISC dhcpd (omapip/protocol.c; pypureomapi is the readable
 * reference). All integers are big-endian.
 *
 *   startup:  u32 protocol version (100), u32 header size (24) — both sides send one
 *   message:  u32 authid, u32 authlen, u32 opcode, u32 handle, u32 tid, u32 rid,
 *             message dictionary, object dictionary, signature (authlen bytes)
 *   dict:     (u16 key length, key, u32 value length, value)* then u16 0
 *
 * The signature is HMAC-MD5 over the message *without* its authid and signature (authlen, which
 * is 16 for MD5, included) keyed with the base64-decoded secret.
 */
export const PROTOCOL_VERSION = 100;
export const HEADER_SIZE = 24;
export const HMAC_MD5_ALGORITHM = "hmac-md5.SIG-ALG.REG.INT.";
export const HMAC_MD5_LENGTH = 16;

export const Opcode = {
  Open: 1,
  Refresh: 2,
  Update: 3,
  Notify: 4,
  Status: 5,
  Delete: 6,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Ordered name/value pairs (order is kept on the wire; dhcpd does not care, tests do). */
export type Dict = [string, Buffer][];

export interface OmapiMessage {
  authId: number;
  opcode: number;
  handle: number;
  /** Transaction id, chosen by the sender. */
  tid: number;
  /** The tid this message responds to. */
  rid: number;
  message: Dict;
  object: Dict;
  signature: Buffer;
}

export function startupMessage(): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(PROTOCOL_VERSION, 0);
  b.writeUInt32BE(HEADER_SIZE, 4);
  return b;
}

export function encodeDict(dict: Dict): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of dict) {
    const k = Buffer.from(key, "utf8");
    const head = Buffer.alloc(2 + k.length + 4);
    head.writeUInt16BE(k.length, 0);
    k.copy(head, 2);
    head.writeUInt32BE(value.length, 2 + k.length);
    parts.push(head, value);
  }
  parts.push(Buffer.alloc(2));
  return Buffer.concat(parts);
}

/** Bytes of a message; `forSigning` leaves out authid and the signature (what the HMAC covers). */
export function encodeMessage(msg: OmapiMessage, forSigning = false): Buffer {
  const head = Buffer.alloc(forSigning ? 20 : 24);
  let o = 0;
  if (!forSigning) {
    head.writeUInt32BE(msg.authId, o);
    o += 4;
  }
  for (const v of [msg.signature.length, msg.opcode, msg.handle, msg.tid, msg.rid]) {
    head.writeUInt32BE(v >>> 0, o);
    o += 4;
  }
  const parts = [head, encodeDict(msg.message), encodeDict(msg.object)];
  if (!forSigning) parts.push(msg.signature);
  return Buffer.concat(parts);
}

function decodeDict(buf: Buffer, start: number): { dict: Dict; end: number } | undefined {
  const dict: Dict = [];
  let o = start;
  for (;;) {
    if (o + 2 > buf.length) return undefined;
    const klen = buf.readUInt16BE(o);
    o += 2;
    if (klen === 0) return { dict, end: o };
    if (o + klen + 4 > buf.length) return undefined;
    const key = buf.toString("utf8", o, o + klen);
    o += klen;
    const vlen = buf.readUInt32BE(o);
    o += 4;
    if (o + vlen > buf.length) return undefined;
    dict.push([key, Buffer.from(buf.subarray(o, o + vlen))]);
    o += vlen;
  }
}

/** Decodes one message from the front of buf; undefined when more bytes are needed. */
export function decodeMessage(buf: Buffer): { msg: OmapiMessage; length: number } | undefined {
  if (buf.length < HEADER_SIZE) return undefined;
  const authId = buf.readUInt32BE(0);
  const authLen = buf.readUInt32BE(4);
  const message = decodeDict(buf, HEADER_SIZE);
  if (!message) return undefined;
  const object = decodeDict(buf, message.end);
  if (!object) return undefined;
  const end = object.end + authLen;
  if (buf.length < end) return undefined;
  return {
    msg: {
      authId,
      opcode: buf.readUInt32BE(8),
      handle: buf.readUInt32BE(12),
      tid: buf.readUInt32BE(16),
      rid: buf.readUInt32BE(20),
      message: message.dict,
      object: object.dict,
      signature: Buffer.from(buf.subarray(object.end, end)),
    },
    length: end,
  };
}

export function hmacMd5(secret: Buffer, data: Buffer): Buffer {
  return createHmac("md5", secret).update(data).digest();
}

/** Returns msg signed for the authenticator `authId` with `secret`. */
export function signMessage(msg: OmapiMessage, authId: number, secret: Buffer): OmapiMessage {
  const unsigned: OmapiMessage = { ...msg, authId, signature: Buffer.alloc(HMAC_MD5_LENGTH) };
  return { ...unsigned, signature: hmacMd5(secret, encodeMessage(unsigned, true)) };
}

export function verifySignature(msg: OmapiMessage, secret: Buffer): boolean {
  if (msg.signature.length !== HMAC_MD5_LENGTH) return false;
  return hmacMd5(secret, encodeMessage(msg, true)).equals(msg.signature);
}

// Values as dhcpd stores them.
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function ipBytes(ip: string): Buffer {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: "${ip}"`);
  }
  return Buffer.from(parts);
}

export function macBytes(mac: string): Buffer {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`not a MAC address: "${mac}"`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function ipFromBytes(b: Buffer): string {
  return [...b].join(".");
}

export function macFromBytes(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

export function dictGet(dict: Dict, key: string): Buffer | undefined {
  return dict.find(([k]) => k === key)?.[1];
}
