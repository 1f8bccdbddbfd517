import { numberToIp, poolSize, type AddressPool } from "./addresses.js";
import { macForIp } from "./mac.js";

/**
 * Picking addresses, as pure functions of (pool, what is held). The controller rebuilds "held"
 * from the API (every VMInstance's status.network.ip, DESIGN invariant 2) on start and keeps it in
 * its cache; the ReservationTable covers the gap between choosing an address and the status write
 * becoming visible in the cache, so two concurrent reconciles never pick the same one.
 */

export type Allocation =
  | { kind: "allocated"; ip: string; mac: string; ipNumber: number }
  | { kind: "exhausted"; size: number; held: number };

/** Lowest free address of the pool, or "exhausted". `isTaken` decides per address (IP or MAC held). */
export function nextFree(
  pool: AddressPool,
  macPrefix: string,
  isTaken: (ip: number) => boolean,
): Allocation {
  for (let ip = pool.first; ip <= pool.last; ip++) {
    if (pool.excluded.has(ip) || isTaken(ip)) continue;
    return { kind: "allocated", ip: numberToIp(ip), ipNumber: ip, mac: macForIp(macPrefix, ip) };
  }
  const size = poolSize(pool);
  return { kind: "exhausted", size, held: size };
}

/** How full a pool is: the VMGroup's status.allocated / status.free. */
export function poolUsage(
  pool: AddressPool,
  held: Iterable<number>,
): { size: number; allocated: number; free: number } {
  const size = poolSize(pool);
  let allocated = 0;
  const seen = new Set<number>();
  for (const ip of held) {
    if (seen.has(ip)) continue;
    seen.add(ip);
    if (ip >= pool.first && ip <= pool.last && !pool.excluded.has(ip)) allocated++;
  }
  return { size, allocated, free: size - allocated };
}

/**
 * In-memory claims made by this controller process and not yet visible in its cache. One claim
 * per owner (the VMInstance UID): asking again returns the same address, so a retried reconcile is
 * idempotent.
 */
export class ReservationTable {
  private readonly byIp = new Map<number, string>();
  private readonly byOwner = new Map<string, { group: string; ip: number }>();

  /**
   * The owner's address in `group`: its existing claim, or the lowest address that is neither held
   * in the API (`held`) nor claimed by another owner.
   */
  reserve(
    group: string,
    pool: AddressPool,
    macPrefix: string,
    owner: string,
    held: ReadonlySet<number>,
  ): Allocation {
    const mine = this.byOwner.get(owner);
    if (mine && mine.group === group) {
      return {
        kind: "allocated",
        ip: numberToIp(mine.ip),
        ipNumber: mine.ip,
        mac: macForIp(macPrefix, mine.ip),
      };
    }
    if (mine) this.release(owner);
    const result = nextFree(pool, macPrefix, (ip) => held.has(ip) || this.byIp.has(ip));
    if (result.kind === "allocated") {
      this.byIp.set(result.ipNumber, owner);
      this.byOwner.set(owner, { group, ip: result.ipNumber });
    } else {
      result.held = poolUsage(pool, [...held, ...this.byIp.keys()]).allocated;
    }
    return result;
  }

  /** Drop the owner's claim (its status now shows the address, or it was deleted). */
  release(owner: string): void {
    const mine = this.byOwner.get(owner);
    if (!mine) return;
    this.byOwner.delete(owner);
    if (this.byIp.get(mine.ip) === owner) this.byIp.delete(mine.ip);
  }

  claimOf(owner: string): string | undefined {
    const mine = this.byOwner.get(owner);
    return mine && numberToIp(mine.ip);
  }

  size(): number {
    return this.byOwner.size;
  }
}
