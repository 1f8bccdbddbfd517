import { describe, expect, it } from "vitest";
import {
  findConflicts,
  ipToNumber,
  macForIp,
  nextFree,
  numberToIp,
  parseAddresses,
  poolFor,
  poolUsage,
  ReservationTable,
  type AddressPool,
} from "../../../controller/allocation/index.js";

const ips = (...list: string[]) => new Set(list.map(ipToNumber));
const pool = (addresses: string, gateway?: string): AddressPool => {
  const p = poolFor(addresses, gateway);
  if (!p.ok) throw new Error(p.error);
  return p.value;
};

describe("parseAddresses", () => {
  it.each([
    {
      spec: "192.168.100.2-192.168.100.254",
      first: "192.168.100.2",
      last: "192.168.100.254",
      excluded: [],
    },
    { spec: " 10.0.0.5 - 10.0.0.5 ", first: "10.0.0.5", last: "10.0.0.5", excluded: [] },
    {
      spec: "192.168.100.0/24",
      first: "192.168.100.0",
      last: "192.168.100.255",
      excluded: ["192.168.100.0", "192.168.100.255"],
    },
    { spec: "10.1.0.0/31", first: "10.1.0.0", last: "10.1.0.1", excluded: [] },
    { spec: "10.1.0.7/32", first: "10.1.0.7", last: "10.1.0.7", excluded: [] },
  ])("$spec", ({ spec, first, last, excluded }) => {
    const r = parseAddresses(spec);
    expect(
      r.ok && {
        first: numberToIp(r.value.first),
        last: numberToIp(r.value.last),
        excluded: r.value.excluded.map(numberToIp),
      },
    ).toEqual({ first, last, excluded });
  });

  it.each([
    { spec: "192.168.100.10-192.168.100.2", error: /ends before it starts/ },
    { spec: "192.168.100.0/33", error: /not an IPv4 CIDR/ },
    { spec: "192.168.100.1/24", error: /host bits set \(network is 192.168.100.0\/24\)/ },
    { spec: "192.168.300.1-192.168.300.9", error: /not a range of two IPv4/ },
    { spec: "lab1", error: /neither a range/ },
    { spec: "", error: /neither a range/ },
  ])("rejects $spec", ({ spec, error }) => {
    const r = parseAddresses(spec);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it("refuses pools wider than the 16-bit MAC scheme and bad gateways", () => {
    expect(poolFor("10.0.0.0/16").ok).toBe(true);
    const wide = poolFor("10.0.0.0/15");
    expect(!wide.ok && wide.error).toMatch(/at most 65536/);
    expect(poolFor("10.0.0.0/24", "10.0.0.300").ok).toBe(false);
  });
});

describe("MAC convention", () => {
  it.each([
    { ip: "192.168.100.2", mac: "de:af:de:af:64:02" },
    { ip: "192.168.100.254", mac: "de:af:de:af:64:fe" },
    { ip: "10.0.0.1", mac: "de:af:de:af:00:01" },
    { ip: "10.20.255.0", mac: "de:af:de:af:ff:00" },
  ])("$ip -> $mac", ({ ip, mac }) => {
    expect(macForIp("de:af:de:af", ipToNumber(ip))).toBe(mac);
  });

  it("lower-cases the prefix and rejects malformed ones", () => {
    expect(macForIp("DE:AF:00:01", ipToNumber("1.2.3.4"))).toBe("de:af:00:01:03:04");
    expect(() => macForIp("de:af:de", 1)).toThrow(/four hex bytes/);
  });
});

describe("nextFree", () => {
  const lab = pool("192.168.100.1-192.168.100.5", "192.168.100.1");
  it.each([
    { held: [], want: "192.168.100.2" },
    { held: ["192.168.100.2"], want: "192.168.100.3" },
    { held: ["192.168.100.2", "192.168.100.3", "192.168.100.5"], want: "192.168.100.4" },
    { held: ["10.0.0.1"], want: "192.168.100.2" },
  ])("held $held -> $want (gateway never)", ({ held, want }) => {
    const set = ips(...held);
    const r = nextFree(lab, "de:af:de:af", (ip) => set.has(ip));
    expect(r).toMatchObject({
      kind: "allocated",
      ip: want,
      mac: macForIp("de:af:de:af", ipToNumber(want)),
    });
  });

  it("reports exhaustion as a value, not an exception", () => {
    const set = ips("192.168.100.2", "192.168.100.3", "192.168.100.4", "192.168.100.5");
    expect(nextFree(lab, "de:af:de:af", (ip) => set.has(ip))).toEqual({
      kind: "exhausted",
      size: 4,
      held: 4,
    });
  });

  it("skips a CIDR's network and broadcast addresses", () => {
    const tiny = pool("10.9.0.0/30", "10.9.0.1");
    expect(nextFree(tiny, "de:af:de:af", () => false)).toMatchObject({ ip: "10.9.0.2" });
    expect(nextFree(tiny, "de:af:de:af", (ip) => ip === ipToNumber("10.9.0.2")).kind).toBe(
      "exhausted",
    );
  });
});

describe("poolUsage", () => {
  it("counts only held addresses inside the pool, once each", () => {
    const lab = pool("192.168.100.0/24", "192.168.100.1");
    const held = [
      ...ips("192.168.100.2", "192.168.100.3", "10.0.0.1", "192.168.100.1"),
      ipToNumber("192.168.100.2"),
    ];
    expect(poolUsage(lab, held)).toEqual({ size: 253, allocated: 2, free: 251 });
  });
});

describe("ReservationTable", () => {
  const lab = pool("192.168.100.1-192.168.100.4", "192.168.100.1");
  it("two concurrent reconciles never get the same address; a retry gets the same one", () => {
    const t = new ReservationTable();
    const held = ips("192.168.100.2");
    const a = t.reserve("lab", lab, "de:af:de:af", "uid-a", held);
    const b = t.reserve("lab", lab, "de:af:de:af", "uid-b", held);
    expect([a.kind === "allocated" && a.ip, b.kind === "allocated" && b.ip]).toEqual([
      "192.168.100.3",
      "192.168.100.4",
    ]);
    expect(t.reserve("lab", lab, "de:af:de:af", "uid-a", held)).toEqual(a);
    const c = t.reserve("lab", lab, "de:af:de:af", "uid-c", held);
    expect(c).toEqual({ kind: "exhausted", size: 3, held: 3 });
    t.release("uid-b");
    expect(t.reserve("lab", lab, "de:af:de:af", "uid-c", held)).toMatchObject({
      ip: "192.168.100.4",
    });
    expect(t.claimOf("uid-c")).toBe("192.168.100.4");
    expect(t.size()).toBe(2);
  });

  it("moving an owner to another group drops its old claim", () => {
    const t = new ReservationTable();
    t.reserve("lab", lab, "de:af:de:af", "uid-a", new Set());
    const other = pool("10.0.0.10-10.0.0.20");
    expect(t.reserve("other", other, "de:af:de:00", "uid-a", new Set())).toMatchObject({
      ip: "10.0.0.10",
      mac: "de:af:de:00:00:0a",
    });
    expect(t.reserve("lab", lab, "de:af:de:af", "uid-b", new Set())).toMatchObject({
      ip: "192.168.100.2",
    });
  });
});

describe("findConflicts", () => {
  it.each([
    {
      name: "disjoint ranges",
      groups: [
        { name: "lab1", addresses: "192.168.100.0/24" },
        { name: "lab2", addresses: "192.168.101.0/24", macPrefix: "de:af:de:b0" },
      ],
      want: [],
    },
    {
      name: "overlapping range and CIDR",
      groups: [
        { name: "lab2", addresses: "192.168.100.200-192.168.101.10" },
        { name: "lab1", addresses: "192.168.100.0/24" },
      ],
      want: [
        {
          a: "lab1",
          b: "lab2",
          reason: "AddressesOverlap",
          message: "lab1 and lab2 both contain 192.168.100.200-192.168.100.255",
        },
      ],
    },
    {
      name: "three groups, every pair overlapping",
      groups: [
        { name: "c", addresses: "10.0.0.0/16" },
        { name: "a", addresses: "10.0.1.0/24" },
        { name: "b", addresses: "10.0.1.128-10.0.2.5" },
      ],
      want: ["a|b", "a|c", "b|c"],
    },
    {
      name: "same MAC prefix on disjoint ranges with equal low 16 bits",
      groups: [
        { name: "x", addresses: "10.0.100.0/24" },
        { name: "y", addresses: "192.168.100.0/24" },
      ],
      want: [{ a: "x", b: "y", reason: "MacCollision" }],
    },
    {
      name: "different MAC prefixes make that fine",
      groups: [
        { name: "x", addresses: "10.0.100.0/24" },
        { name: "y", addresses: "192.168.100.0/24", macPrefix: "de:af:de:b0" },
      ],
      want: [],
    },
    {
      name: "an unparsable group is skipped",
      groups: [
        { name: "bad", addresses: "nope" },
        { name: "ok", addresses: "10.0.0.0/24" },
      ],
      want: [],
    },
  ])("$name", ({ groups, want }) => {
    const got = findConflicts(groups);
    if (want.length > 0 && typeof want[0] === "string")
      expect(got.map((c) => `${c.a}|${c.b}`)).toEqual(want);
    else expect(got).toEqual(want.map((w) => expect.objectContaining(w as object)));
  });
});

describe("performance sanity", () => {
  it("a /16 with 60k held: next free and usage in well under 100 ms", () => {
    const big = pool("10.20.0.0/16", "10.20.0.1");
    const held = new Set<number>();
    for (let ip = big.first + 2; held.size < 60_000; ip++) held.add(ip);
    const t0 = performance.now();
    const r = new ReservationTable().reserve("big", big, "de:af:de:af", "uid-x", held);
    const usage = poolUsage(big, held);
    const ms = performance.now() - t0;
    expect(r).toMatchObject({ kind: "allocated", ip: numberToIp(big.first + 2 + 60_000) });
    expect(usage).toEqual({ size: 65_533, allocated: 60_000, free: 5_533 });
    expect(ms).toBeLessThan(100);
  });
});
