import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OmapiClient, type OmapiKey } from "../../../controller/dhcp/omapi/client.js";
import { readLeases, startDhcpd, type TestDhcpd } from "./dhcpd.js";

let dhcpd: TestDhcpd | undefined;
const clients: OmapiClient[] = [];

beforeAll(async () => {
  dhcpd = await startDhcpd();
}, 60_000);

afterAll(async () => {
  clients.forEach((c) => c.close());
  await dhcpd?.stop();
});

/** null: connect without a key. */
async function connect(key: OmapiKey | null | undefined = dhcpd?.key): Promise<OmapiClient> {
  if (!dhcpd) throw new Error("dhcpd did not start");
  const path = dhcpd.omapiSocket;
  // dhcpd may still be opening its OMAPI listener right after daemonizing.
  for (let attempt = 0; ; attempt++) {
    try {
      const c = await OmapiClient.connect({ path, key: key ?? undefined, timeoutMs: 3_000 });
      clients.push(c);
      return c;
    } catch (err) {
      if (attempt >= 20 || !/closed|ECONNREFUSED|failed/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("OMAPI against a real ISC dhcpd", () => {
  it("creates a host, finds it by name and MAC, deletes it", async () => {
    const c = await connect();
    const vm = { name: "gvm-doraz-myvm", mac: "de:af:de:af:64:02", ip: "192.168.100.2" };
    expect(await c.lookupHost({ name: vm.name })).toBeUndefined();
    const created = await c.createHost(vm);
    expect(created).toMatchObject(vm);
    expect(await c.lookupHost({ name: vm.name })).toMatchObject(vm);
    expect(await c.lookupHost({ mac: vm.mac })).toMatchObject(vm);
    // dhcpd itself recorded it (independent of our decoder).
    const leases = readLeases(dhcpd as TestDhcpd);
    expect(leases).toMatch(
      /host gvm-doraz-myvm \{[^}]*hardware ethernet de:af:de:af:64:02;[^}]*fixed-address 192\.168\.100\.2;/s,
    );
    expect(await c.deleteHost({ name: vm.name })).toBe(true);
    expect(await c.lookupHost({ name: vm.name })).toBeUndefined();
    expect(await c.lookupHost({ mac: vm.mac })).toBeUndefined();
    expect(await c.deleteHost({ name: vm.name })).toBe(false);
    // A second connection agrees.
    const c2 = await connect();
    expect(await c2.lookupHost({ mac: vm.mac })).toBeUndefined();
  });

  it("refuses a second host with the same name, MAC or address", async () => {
    const c = await connect();
    await c.createHost({ name: "dup", mac: "de:af:de:af:64:03", ip: "192.168.100.3" });
    try {
      await expect(
        c.createHost({ name: "dup", mac: "de:af:de:af:64:04", ip: "192.168.100.4" }),
      ).rejects.toThrow(/create host dup: .*already exists/);
      await expect(
        c.createHost({ name: "dup2", mac: "de:af:de:af:64:03", ip: "192.168.100.5" }),
      ).rejects.toThrow(/create host dup2/);
    } finally {
      await c.deleteHost({ name: "dup" });
    }
  });

  it("refuses a wrong secret, an unknown key and a missing key, each with a clear error", async () => {
    const d = dhcpd as TestDhcpd;
    const wrongSecret = await connect({
      name: d.key.name,
      secret: Buffer.alloc(32, 7).toString("base64"),
    });
    await expect(
      wrongSecret.createHost({ name: "intruder", mac: "de:af:de:af:64:09", ip: "192.168.100.9" }),
    ).rejects.toThrow(/create host intruder: .*signature rejected: wrong key secret/);
    await expect(connect({ name: "no-such-key", secret: d.key.secret })).rejects.toThrow(
      /authenticate with key "no-such-key": dhcpd says "no object matches specification"/,
    );
    const anonymous = await connect(null);
    await expect(anonymous.lookupHost({ name: "x" })).rejects.toThrow(/requires a key/);
    // Nothing was created by the refused attempts.
    expect(await (await connect()).lookupHost({ name: "intruder" })).toBeUndefined();
  });

  it("create+delete round trip: median over 50", async () => {
    const c = await connect();
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await c.createHost({
        name: `rt${i}`,
        mac: `de:af:de:af:65:${(i + 16).toString(16)}`,
        ip: `192.168.101.${i + 2}`,
      });
      await c.deleteHost({ name: `rt${i}` });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[25] as number;
    console.log(
      `OMAPI create+delete round trip: median ${median.toFixed(2)} ms, p95 ${(times[47] as number).toFixed(2)} ms`,
    );
    expect(median).toBeLessThan(500);
  });
});
