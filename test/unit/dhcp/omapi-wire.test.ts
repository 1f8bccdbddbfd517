import { describe, expect, it } from "vitest";
import {
  decodeMessage,
  encodeDict,
  encodeMessage,
  hmacMd5,
  ipBytes,
  ipFromBytes,
  macBytes,
  macFromBytes,
  Opcode,
  signMessage,
  startupMessage,
  u32,
  verifySignature,
  type OmapiMessage,
} from "../../../controller/dhcp/omapi/wire.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** "open host by name vm1", as the spec lays it out, unsigned. */
const openHost: OmapiMessage = {
  authId: 0,
  opcode: Opcode.Open,
  handle: 0,
  tid: 0x01020304,
  rid: 0,
  message: [["type", Buffer.from("host")]],
  object: [["name", Buffer.from("vm1")]],
  signature: Buffer.alloc(0),
};
const openHostFrame = hex(`
  00000000 00000000 00000001 00000000 01020304 00000000
  0004 74797065 00000004 686f7374 0000
  0004 6e616d65 00000003 766d31 0000`);

describe("OMAPI wire format", () => {
  it("startup message is u32 100, u32 24", () => {
    expect(startupMessage()).toEqual(hex("00000064 00000018"));
  });

  it("dictionaries: u16 key length, key, u32 value length, value; ended by 0x0000", () => {
    expect(encodeDict([])).toEqual(hex("0000"));
    expect(
      encodeDict([
        ["create", u32(1)],
        ["ip-address", ipBytes("192.168.100.2")],
      ]),
    ).toEqual(
      hex("0006 637265617465 00000004 00000001  000a 69702d61646472657373 00000004 c0a86402  0000"),
    );
  });

  it("encodes an unsigned message byte for byte", () => {
    expect(encodeMessage(openHost)).toEqual(openHostFrame);
  });

  it("the signed part leaves out authid and the signature, but keeps authlen", () => {
    const withSig = { ...openHost, authId: 7, signature: Buffer.alloc(16, 0xaa) };
    const full = encodeMessage(withSig);
    const forSigning = encodeMessage(withSig, true);
    expect(full.subarray(0, 8)).toEqual(hex("00000007 00000010"));
    expect(forSigning).toEqual(full.subarray(4, full.length - 16));
    expect(full.subarray(full.length - 16)).toEqual(Buffer.alloc(16, 0xaa));
  });

  it("HMAC-MD5 matches RFC 2104's test vector", () => {
    expect(hmacMd5(Buffer.alloc(16, 0x0b), Buffer.from("Hi There")).toString("hex")).toBe(
      "9294727a3638bb1c13f48ef8158bfc9d",
    );
  });

  it("signs over the unsigned bytes with authlen 16, and verifies; a wrong secret fails", () => {
    const secret = Buffer.from("c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "base64");
    const signed = signMessage(openHost, 42, secret);
    expect(signed.authId).toBe(42);
    const expectedInput = Buffer.concat([hex("00000010"), openHostFrame.subarray(8)]);
    expect(signed.signature).toEqual(hmacMd5(secret, expectedInput));
    expect(verifySignature(signed, secret)).toBe(true);
    expect(verifySignature(signed, Buffer.from("other"))).toBe(false);
    expect(verifySignature({ ...signed, tid: 5 }, secret)).toBe(false);
  });

  it("decodes what it encodes, and waits for more bytes when a frame is cut anywhere", () => {
    const signed = signMessage(
      {
        ...openHost,
        object: [...openHost.object, ["hardware-address", macBytes("de:af:de:af:64:02")]],
      },
      9,
      Buffer.from("k"),
    );
    const frame = encodeMessage(signed);
    const two = Buffer.concat([frame, frame]);
    const first = decodeMessage(two);
    expect(first?.length).toBe(frame.length);
    expect(first?.msg).toEqual(signed);
    for (let cut = 0; cut < frame.length; cut++)
      expect(decodeMessage(frame.subarray(0, cut))).toBeUndefined();
  });

  it.each([
    { ip: "192.168.100.2", bytes: "c0a86402" },
    { ip: "0.0.0.0", bytes: "00000000" },
  ])("ip $ip <-> $bytes", ({ ip, bytes }) => {
    expect(ipBytes(ip)).toEqual(hex(bytes));
    expect(ipFromBytes(hex(bytes))).toBe(ip);
  });

  it("mac round trip and validation", () => {
    expect(macBytes("DE:AF:de:af:64:02")).toEqual(hex("deafdeaf6402"));
    expect(macFromBytes(hex("deafdeaf6402"))).toBe("de:af:de:af:64:02");
    expect(() => macBytes("de:af")).toThrow(/not a MAC/);
    expect(() => ipBytes("1.2.3.256")).toThrow(/not an IPv4/);
  });
});
