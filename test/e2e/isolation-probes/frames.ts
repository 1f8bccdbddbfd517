/**
 * Ethernet frames for the isolation probes, built byte by byte so a guest can send what its own
 * stack never would (a forged source MAC, a lying ARP sender, a DHCP reply). Each frame carries
 * a marker (in its payload, or in an ARP frame's padding) that the receiver counts.
 */
const mac = (m: string): Buffer => Buffer.from(m.split(":").map((x) => parseInt(x, 16)));
const ip4 = (a: string): Buffer => Buffer.from(a.split(".").map(Number));

function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) + (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);

export function ethernet(dst: string, src: string, type: number, payload: Buffer): Buffer {
  const f = Buffer.concat([mac(dst), mac(src), u16(type), payload]);
  // Pad to the 60-byte minimum here, so padding we chose (the ARP marker) is what travels.
  return f.length >= 60 ? f : Buffer.concat([f, Buffer.alloc(60 - f.length)]);
}

export function ipv4(src: string, dst: string, proto: number, payload: Buffer): Buffer {
  const h = Buffer.concat([
    Buffer.from([0x45, 0]), u16(20 + payload.length), u16(0x4711), u16(0x4000),
    Buffer.from([64, proto]), u16(0), ip4(src), ip4(dst),
  ]);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

export function icmpEcho(marker: Buffer): Buffer {
  const m = Buffer.concat([Buffer.from([8, 0]), u16(0), u16(0x6776), u16(1), marker]);
  m.writeUInt16BE(checksum(m), 2);
  return m;
}

/** A SYN carrying the marker as data (legal, if unusual); checksum left 0: receivers only count. */
export function tcpSyn(dport: number, marker: Buffer): Buffer {
  return Buffer.concat([u16(40000), u16(dport), Buffer.alloc(8), Buffer.from([0x50, 0x02]), u16(64240), u16(0), u16(0), marker]);
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  return Buffer.concat([u16(sport), u16(dport), u16(8 + payload.length), u16(0), payload]);
}

/** A BOOTP reply (DHCPOFFER) offering `yiaddr` to `chaddr`: what a rogue DHCP server sends. */
export function dhcpOffer(chaddr: string, yiaddr: string, server: string, marker: Buffer): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 2; b[1] = 1; b[2] = 6;
  b.writeUInt32BE(0x12345678, 4);
  ip4(yiaddr).copy(b, 16);
  ip4(server).copy(b, 20);
  mac(chaddr).copy(b, 28);
  b.writeUInt32BE(0x63825363, 236);
  const opts = Buffer.concat([Buffer.from([53, 1, 2, 54, 4]), ip4(server), Buffer.from([3, 4]), ip4(server), Buffer.from([255])]);
  return Buffer.concat([b, opts, marker]);
}

/** An ARP packet (op 1 request, 2 reply); the marker rides in the Ethernet padding. */
export function arp(op: 1 | 2, sha: string, spa: string, tha: string, tpa: string, marker: Buffer): Buffer {
  return Buffer.concat([u16(1), u16(0x0800), Buffer.from([6, 4]), u16(op), mac(sha), ip4(spa), mac(tha), ip4(tpa), marker]);
}

/** An IPv6 UDP datagram (payload = marker); addresses as 16-byte buffers. */
export function ipv6Udp(src: Buffer, dst: Buffer, marker: Buffer): Buffer {
  const body = udp(5000, 5000, marker);
  return Buffer.concat([Buffer.from([0x60, 0, 0, 0]), u16(body.length), Buffer.from([17, 64]), src, dst, body]);
}

/** fe80::/64 address from a MAC by EUI-64, as the guest's own stack would derive it. */
export function linkLocal(m: string): Buffer {
  const b = mac(m);
  return Buffer.concat([Buffer.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0]), Buffer.from([b[0]! ^ 2, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!])]);
}

export const ALL_NODES = Buffer.from("ff020000000000000000000000000001", "hex");

export const ETH_IPV4 = 0x0800;
export const ETH_ARP = 0x0806;
export const ETH_IPV6 = 0x86dd;
