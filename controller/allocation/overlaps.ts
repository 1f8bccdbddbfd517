import { numberToIp, poolFor } from "./addresses.js";
import { DEFAULT_MAC_PREFIX } from "./mac.js";

export interface GroupAddressing {
  name: string;
  addresses: string;
  gatewayIp?: string;
  macPrefix?: string;
}

export interface GroupConflict {
  a: string;
  b: string;
  reason: "AddressesOverlap" | "MacCollision";
  message: string;
}

/**
 * Pairs of groups that cannot coexist (paper: ranges of two groups never overlap): overlapping
 * address ranges, or the same MAC prefix on ranges whose low 16 bits meet (their MACs would
 * collide). Unparsable groups are skipped: their own validation reports them. Pairs are ordered
 * by name and listed once.
 */
export function findConflicts(groups: readonly GroupAddressing[]): GroupConflict[] {
  const parsed = groups
    .map((g) => ({ g, pool: poolFor(g.addresses, g.gatewayIp) }))
    .flatMap(({ g, pool }) =>
      pool.ok
        ? [
            {
              name: g.name,
              first: pool.value.first,
              last: pool.value.last,
              prefix: (g.macPrefix ?? DEFAULT_MAC_PREFIX).toLowerCase(),
            },
          ]
        : [],
    )
    .sort((x, y) => x.first - y.first || x.name.localeCompare(y.name));
  const out: GroupConflict[] = [];
  const pair = (x: string, y: string) => (x < y ? [x, y] : [y, x]) as [string, string];
  // Address overlaps: sweep over ranges sorted by start.
  for (let i = 0; i < parsed.length; i++) {
    const x = parsed[i]!;
    for (let j = i + 1; j < parsed.length && parsed[j]!.first <= x.last; j++) {
      const y = parsed[j]!;
      const [a, b] = pair(x.name, y.name);
      const from = Math.max(x.first, y.first);
      const to = Math.min(x.last, y.last);
      out.push({
        a,
        b,
        reason: "AddressesOverlap",
        message: `${a} and ${b} both contain ${numberToIp(from)}${to > from ? `-${numberToIp(to)}` : ""}`,
      });
    }
  }
  // MAC collisions: same prefix, disjoint ranges, but equal low 16 bits somewhere.
  const byPrefix = new Map<string, typeof parsed>();
  for (const p of parsed) byPrefix.set(p.prefix, [...(byPrefix.get(p.prefix) ?? []), p]);
  for (const [prefix, list] of byPrefix) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const x = list[i]!;
        const y = list[j]!;
        if (x.first <= y.last && y.first <= x.last) continue; // already an address overlap
        if (!lowBitsMeet(x, y)) continue;
        const [a, b] = pair(x.name, y.name);
        out.push({
          a,
          b,
          reason: "MacCollision",
          message: `${a} and ${b} share MAC prefix ${prefix} and addresses with the same last 16 bits`,
        });
      }
    }
  }
  return out.sort(
    (p, q) => p.a.localeCompare(q.a) || p.b.localeCompare(q.b) || p.reason.localeCompare(q.reason),
  );
}

/** Do the two ranges contain addresses with equal low 16 bits? */
function lowBitsMeet(
  x: { first: number; last: number },
  y: { first: number; last: number },
): boolean {
  const low = (r: { first: number; last: number }): [number, number][] => {
    if (r.last - r.first + 1 >= 65_536) return [[0, 65_535]];
    const a = r.first & 0xffff;
    const b = r.last & 0xffff;
    return a <= b
      ? [[a, b]]
      : [
          [a, 65_535],
          [0, b],
        ];
  };
  return low(x).some(([a, b]) => low(y).some(([c, d]) => a <= d && c <= b));
}
