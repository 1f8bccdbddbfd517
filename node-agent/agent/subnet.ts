/**
 * The VMGroup's network as a CIDR, for dnsmasq's static range. `spec.addresses` is a CIDR or a
 * range; for a range the network is `prefixLength` if given, else the smallest network that holds
 * the range and the gateway (192.168.100.2-192.168.100.254 with gateway .1 -> 192.168.100.0/24).
 * Pure.
 */
export function subnetOf(group: {
  addresses: string;
  prefixLength?: number;
  gateway: { ip: string };
}): string {
  const text = group.addresses.trim();
  if (text.includes("/")) {
    const [addr, bits] = text.split("/");
    return cidr(toNumber(addr!), Number(bits));
  }
  const [first, last] = text.split("-").map((s) => toNumber(s.trim()));
  if (first === undefined || last === undefined) throw new Error(`bad address range ${text}`);
  if (group.prefixLength !== undefined) return cidr(first, group.prefixLength);
  const points = [first, last, toNumber(group.gateway.ip)];
  let prefix = 32;
  while (prefix > 0 && new Set(points.map((p) => network(p, prefix))).size > 1) prefix--;
  return cidr(first, prefix);
}

function network(value: number, prefix: number): number {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (value & mask) >>> 0;
}

function cidr(value: number, prefix: number): string {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32)
    throw new Error(`bad prefix ${prefix}`);
  return `${toDotted(network(value, prefix))}/${prefix}`;
}

function toNumber(ip: string): number {
  const o = ip.split(".").map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new Error(`bad IPv4 address ${ip}`);
  return o.reduce((acc, x) => acc * 256 + x, 0);
}

function toDotted(v: number): string {
  return [24, 16, 8, 0].map((s) => (v >>> s) & 255).join(".");
}
