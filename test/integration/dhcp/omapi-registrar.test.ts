import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VMGroup } from "../../../controller/api/generated/types.js";
import { dhcpHostName, OmapiRegistrar } from "../../../controller/dhcp/host-registrar.js";
import { OmapiClient } from "../../../controller/dhcp/omapi/client.js";
import { kubeConfigFor, kubectl } from "../../support/kube.js";
import { startDhcpd, type TestDhcpd } from "./dhcpd.js";

// The controller's OMAPI path: the key from a real Secret, entries in a real ISC dhcpd.
const NS = `gvm-omapi-${Math.random().toString(36).slice(2, 7)}`;
let dhcpd: TestDhcpd | undefined;
let registrar: OmapiRegistrar;

const group: VMGroup = {
  apiVersion: "gridvm.io/v1alpha1",
  kind: "VMGroup",
  metadata: { name: "lab-omapi" },
  spec: { addresses: "192.168.100.2-192.168.100.254", gateway: { ip: "192.168.100.1", mac: "00:15:5d:07:07:8b" }, dhcp: { mode: "OMAPI", omapi: { host: "dhcpd.invalid", port: 7911, keySecret: { name: "omapi-key", namespace: NS } } } },
};

beforeAll(async () => {
  dhcpd = await startDhcpd();
  await kubectl(["create", "namespace", NS]);
  await kubectl(["create", "secret", "generic", "omapi-key", "-n", NS, `--from-literal=name=${dhcpd.key.name}`, `--from-literal=secret=${dhcpd.key.secret}`]);
  // dhcpd lives in its own network namespace; the test reaches it through the forwarded socket.
  registrar = new OmapiRegistrar(kubeConfigFor(), (opts) => OmapiClient.connect({ ...opts, path: dhcpd!.omapiSocket }));
}, 60_000);

afterAll(async () => {
  await dhcpd?.stop();
  await kubectl(["delete", "namespace", NS, "--wait=false", "--ignore-not-found"]);
});

async function lookup(by: { name: string } | { mac: string }) {
  const c = await OmapiClient.connect({ path: dhcpd!.omapiSocket, key: dhcpd!.key });
  try {
    return await c.lookupHost(by);
  } finally {
    c.close();
  }
}

describe("OMAPI registrar (VMGroup dhcp.mode OMAPI)", () => {
  const name = dhcpHostName("0b1c2d3e-0000-4000-8000-00000000abcd");

  it("creates the fixed-address entry, is idempotent, and replaces a stale one", async () => {
    await registrar.ensureHost(group, { name, mac: "de:af:de:af:64:02", ip: "192.168.100.2" });
    await registrar.ensureHost(group, { name, mac: "de:af:de:af:64:02", ip: "192.168.100.2" });
    expect(await lookup({ name })).toMatchObject({ name, mac: "de:af:de:af:64:02", ip: "192.168.100.2" });
    await registrar.ensureHost(group, { name, mac: "de:af:de:af:64:07", ip: "192.168.100.7" });
    expect(await lookup({ name })).toMatchObject({ mac: "de:af:de:af:64:07", ip: "192.168.100.7" });
    expect(await lookup({ mac: "de:af:de:af:64:02" })).toBeUndefined();
  });

  it("removes it, and removing again is fine", async () => {
    await registrar.removeHost(group, name);
    await registrar.removeHost(group, name);
    expect(await lookup({ name })).toBeUndefined();
  });

  it("says which key is missing when the Secret is incomplete", async () => {
    await kubectl(["create", "secret", "generic", "half-key", "-n", NS, "--from-literal=name=x"]);
    const broken = { ...group, spec: { ...group.spec, dhcp: { mode: "OMAPI" as const, omapi: { host: "x", keySecret: { name: "half-key", namespace: NS } } } } };
    await expect(registrar.ensureHost(broken, { name, mac: "de:af:de:af:64:02", ip: "192.168.100.2" })).rejects.toThrow(/has no "secret" key/);
  });
});
