import { describe, expect, it } from "vitest";
import {
  applyFilterScript,
  desiredFilter,
  gridvmFilters,
  parseEbtablesListing,
  removeFilterScript,
  type VmFilterSpec,
} from "../../../node-agent/network/ebtables-rules.js";
import { tapId, tapNameFor } from "../../../node-agent/network/names.js";

const spec: VmFilterSpec = {
  tap: tapNameFor("uid-1"),
  mac: "DE:AF:DE:AF:00:05",
  ip: "10.9.0.5",
  isolated: true,
  gateway: { ip: "10.9.0.1", mac: "00:15:5d:07:07:8b" },
  dhcpServerMacs: ["aa:bb:cc:00:00:01"],
};

describe("tap names", () => {
  it("are short, stable and ours", () => {
    const t = tapNameFor("a-uid");
    expect(t.length).toBeLessThanOrEqual(15);
    expect(tapNameFor("a-uid")).toBe(t);
    expect(tapNameFor("another")).not.toBe(t);
    expect(tapId(t)).toBeDefined();
    expect(tapId("eth0")).toBeUndefined();
  });
});

describe("ebtables filter", () => {
  const f = desiredFilter(spec);
  const from = f.chains[0]!.rules;

  it("drops spoofed MACs first and everything unknown last", () => {
    expect(from[0]).toBe("-s ! de:af:de:af:00:05 -j DROP");
    expect(from.at(-1)).toBe("-j DROP");
  });

  it("drops a rogue DHCP server before it allows the DHCP client", () => {
    const rogue = from.indexOf("-p IPv4 --ip-proto udp --ip-sport 67 -j DROP");
    const client = from.indexOf("-p IPv4 --ip-proto udp --ip-sport 68 --ip-dport 67 -j RETURN");
    const ipCheck = from.indexOf("-p IPv4 --ip-src ! 10.9.0.5 -j DROP");
    expect(rogue).toBeGreaterThanOrEqual(0);
    expect(rogue).toBeLessThan(client);
    expect(client).toBeLessThan(ipCheck);
  });

  it("lets allowed frames RETURN, never ACCEPT, so the receiving VM's to-vm chain still runs", () => {
    for (const open of [f, desiredFilter({ ...spec, isolated: false })]) {
      expect(open.chains.flatMap((c) => c.rules).filter((r) => r.endsWith("-j ACCEPT"))).toEqual([]);
    }
    expect(from).toContain("-p IPv4 -j RETURN");
  });

  it("checks ARP's MAC and IP", () => {
    expect(from).toContain("-p ARP --arp-mac-src ! de:af:de:af:00:05 -j DROP");
    expect(from).toContain("-p ARP --arp-ip-src ! 10.9.0.5 -j DROP");
  });

  it("lets an isolated VM reach only gateway, DHCP server and broadcast, and hear only them", () => {
    expect(from).toContain(
      "--among-dst ! 00:15:5d:07:07:8b,aa:bb:cc:00:00:01,ff:ff:ff:ff:ff:ff -j DROP",
    );
    expect(f.chains[1]!.rules).toEqual([
      "--among-src ! 00:15:5d:07:07:8b,aa:bb:cc:00:00:01 -j DROP",
    ]);
    expect(f.jumps.map((j) => `${j.chain} ${j.rule}`)).toEqual([
      `FORWARD -i ${spec.tap} -j ${f.chains[0]!.name}`,
      `INPUT -i ${spec.tap} -j ${f.chains[0]!.name}`,
      `FORWARD -o ${spec.tap} -j ${f.chains[1]!.name}`,
    ]);
  });

  it("has no isolation rules and a different name when not isolated", () => {
    const open = desiredFilter({ ...spec, isolated: false });
    expect(open.chains).toHaveLength(1);
    expect(open.chains[0]!.rules.some((r) => r.includes("among"))).toBe(false);
    expect(open.hash).not.toBe(f.hash);
  });

  it("replaces an old filter in one script: new chains, jumps swapped, old chains flushed then deleted", () => {
    const old = desiredFilter({ ...spec, isolated: false });
    const observed = {
      id: old.id,
      chains: [{ name: old.chains[0]!.name, ruleCount: 9 }],
      jumps: old.jumps,
    };
    const lines = applyFilterScript(f, observed).split("\n");
    expect(lines[0]).toBe("*filter");
    expect(lines).toContain(`:${f.chains[0]!.name} RETURN`);
    const del = lines.indexOf(`-D FORWARD -i ${spec.tap} -j ${old.chains[0]!.name}`);
    const flush = lines.indexOf(`-F ${old.chains[0]!.name}`);
    const remove = lines.indexOf(`-X ${old.chains[0]!.name}`);
    expect(del).toBeGreaterThan(0);
    expect(del).toBeLessThan(flush);
    expect(flush).toBeLessThan(remove);
    expect(lines.at(-2)).toBe("COMMIT");
  });

  it("reads our filters back from an ebtables listing, duplicates included", () => {
    const name = f.chains[0]!.name;
    const listing = [
      "Bridge table: filter",
      "",
      "Bridge chain: INPUT, entries: 1, policy: ACCEPT",
      `-i ${spec.tap} -j ${name}`,
      "",
      "Bridge chain: FORWARD, entries: 3, policy: ACCEPT",
      `-i ${spec.tap} -j ${name}`,
      `-i ${spec.tap} -j ${name}`,
      "-i eth0 -j SOMEONE-ELSE",
      "",
      `Bridge chain: ${name}, entries: 2, policy: RETURN`,
      "-s ! de:af:de:af:0:5 -j DROP",
      "-j DROP",
      "Bridge chain: SOMEONE-ELSE, entries: 0, policy: RETURN",
    ].join("\n");
    const filters = gridvmFilters(parseEbtablesListing(listing));
    expect([...filters.keys()]).toEqual([f.id]);
    const o = filters.get(f.id)!;
    expect(o.chains).toEqual([{ name, ruleCount: 2 }]);
    expect(o.jumps).toHaveLength(3);
    expect(
      removeFilterScript(o)
        .split("\n")
        .filter((l) => l.startsWith("-D")),
    ).toHaveLength(3);
  });
});
