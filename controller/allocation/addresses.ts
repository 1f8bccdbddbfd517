import { IPv4, Validator } from "ip-num";

/**
 * A VMGroup's address pool: the inclusive range [first, last] of IPv4 addresses as numbers, minus
 * the addresses no VM may get (the gateway; a CIDR's network and broadcast addresses).
 */
export interface AddressPool {
  first: number;
  last: number;
  excluded: ReadonlySet<number>;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * The paper's MAC convention puts the IP's low 16 bits into the MAC, so a pool wider than 2^16
 * addresses would give two VMs one MAC.
 */
export const MAX_POOL_SIZE = 65_536;

export function ipToNumber(ip: string): number {
  return Number(IPv4.fromString(ip).getValue());
}

export function numberToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function isValidIp(ip: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) && Validator.isValidIPv4String(ip)[0];
}

/** Parses "a.b.c.d-e.f.g.h" (inclusive) or "a.b.c.d/n" (network and broadcast left out for n <= 30). */
export function parseAddresses(
  spec: string,
): ParseResult<{ first: number; last: number; excluded: number[] }> {
  const s = spec.trim();
  const dash = s.split("-");
  if (dash.length === 2) {
    const [a, b] = dash.map((x) => x.trim()) as [string, string];
    if (!isValidIp(a) || !isValidIp(b))
      return { ok: false, error: `"${spec}" is not a range of two IPv4 addresses` };
    const first = ipToNumber(a);
    const last = ipToNumber(b);
    if (first > last) return { ok: false, error: `range "${spec}" ends before it starts` };
    return { ok: true, value: { first, last, excluded: [] } };
  }
  const slash = s.split("/");
  if (slash.length === 2) {
    const [addr, bitsText] = slash as [string, string];
    const bits = Number(bitsText);
    if (!isValidIp(addr) || !/^\d{1,2}$/.test(bitsText) || bits > 32) {
      return { ok: false, error: `"${spec}" is not an IPv4 CIDR` };
    }
    const base = ipToNumber(addr);
    const size = 2 ** (32 - bits);
    const first = base - (base % size);
    if (first !== base)
      return {
        ok: false,
        error: `CIDR "${spec}" has host bits set (network is ${numberToIp(first)}/${bits})`,
      };
    const last = first + size - 1;
    // /31 and /32 have no network/broadcast addresses (RFC 3021).
    return { ok: true, value: { first, last, excluded: bits <= 30 ? [first, last] : [] } };
  }
  return { ok: false, error: `"${spec}" is neither a range (a-b) nor a CIDR (a/n)` };
}

/** The pool of a VMGroup spec, validated: parsable, not wider than the MAC scheme allows. */
export function poolFor(addresses: string, gatewayIp?: string): ParseResult<AddressPool> {
  const parsed = parseAddresses(addresses);
  if (!parsed.ok) return parsed;
  const { first, last, excluded } = parsed.value;
  if (last - first + 1 > MAX_POOL_SIZE) {
    return {
      ok: false,
      error: `"${addresses}" spans ${last - first + 1} addresses; at most ${MAX_POOL_SIZE} fit the MAC scheme (prefix + 16 bits)`,
    };
  }
  const ex = new Set(excluded);
  if (gatewayIp !== undefined) {
    if (!isValidIp(gatewayIp))
      return { ok: false, error: `gateway "${gatewayIp}" is not an IPv4 address` };
    ex.add(ipToNumber(gatewayIp));
  }
  return { ok: true, value: { first, last, excluded: ex } };
}

export function poolContains(pool: AddressPool, ip: number): boolean {
  return ip >= pool.first && ip <= pool.last && !pool.excluded.has(ip);
}

/** Addresses a VM can get: the range minus the excluded ones that fall inside it. */
export function poolSize(pool: AddressPool): number {
  let inside = 0;
  for (const x of pool.excluded) if (x >= pool.first && x <= pool.last) inside++;
  return pool.last - pool.first + 1 - inside;
}
