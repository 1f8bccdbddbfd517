import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { observeDhcp } from "../../../node-agent/dhcp/dnsmasq.js";
import { desiredFilter, filterInSync } from "../../../node-agent/network/ebtables-rules.js";
import { observeFilters, observeLinks } from "../../../node-agent/network/host-network.js";
import type { DesiredVm } from "../../../node-agent/planner/types.js";
import { processAlive, readRssKiB } from "../../../node-agent/qemu/proc.js";
import { vmPaths } from "../../../node-agent/qemu/runtime-dir.js";
import { eventually, guestCommand, TestHost, vncHandshake } from "./host-fixture.js";

const host = new TestHost();

/** A VM running the tiny guest by direct kernel boot, with address 10.9.0.<n>. */
const vm = (n: number, over: Partial<DesiredVm> = {}): DesiredVm => host.desiredVm(n, over);

const consoleOf = (v: DesiredVm) =>
  readFile(vmPaths(host.ctx.runtimeDir, v.key).serialLog, "utf8").catch(() => "");

beforeAll(async () => {
  await host.create();
}, 300_000);

afterAll(async () => {
  await host.destroy();
}, 60_000);

describe("node agent on a real host (netns, ebtables, dnsmasq, qemu)", () => {
  let vm5: DesiredVm;
  let pid5 = 0;

  it("brings a VM up: tap on the bridge, filter, DHCP entry, qemu with password-only VNC", async () => {
    vm5 = vm(5);
    const { results } = await host.reconcile([vm5]);
    expect(results.filter((r) => r.error).map((r) => r.error!.message)).toEqual([]);
    const started = results.find((r) => r.started)?.started;
    expect(started).toBeDefined();
    pid5 = started!.pid;
    expect(processAlive(pid5)).toBe(true);

    const links = await observeLinks(host.ctx.host);
    expect(links.taps).toContainEqual({ name: vm5.tap, master: host.bridge, up: true });
    const filters = await observeFilters(host.ctx.host);
    const want = desiredFilter({ ...vm5, dhcpServerMacs: [host.bridgeMac] });
    expect(filterInSync(want, filters.get(want.id))).toBe(true);
    const dhcp = await observeDhcp(host.ctx.dhcpStateDir);
    expect(dhcp.hosts.map((h) => h.content)).toEqual([`${vm5.mac},10.9.0.5,vm5\n`]);
    expect(dhcp.servers).toHaveLength(1);

    const vnc = await vncHandshake(host, 5900 + started!.vncDisplay);
    expect(vnc.version).toBe("RFB 003.008");
    expect(vnc.securityTypes).toEqual([2]);
  });

  it("the guest gets its fixed address by DHCP and reaches the gateway", async () => {
    const log = await eventually("GRIDVM-DHCP-OK in the guest console", 90_000, async () => {
      const c = await consoleOf(vm5);
      return c.includes("GRIDVM-DHCP-OK") ? c : undefined;
    });
    expect(log).toContain("GRIDVM-DHCP-OK 10.9.0.5");
    const ping = await guestCommand(
      vmPaths(host.ctx.runtimeDir, vm5.key).serialSocket,
      `ping -c 1 -W 2 ${host.bridgeIp}`,
    );
    expect(ping.code).toBe(0);
  });

  it("the filter drops a guest that spoofs its IP address", async () => {
    const sock = vmPaths(host.ctx.runtimeDir, vm5.key).serialSocket;
    const spoofed = await guestCommand(
      sock,
      `ifconfig eth0 10.9.0.77 netmask 255.255.255.0; ping -c 1 -W 2 ${host.bridgeIp}; rc=$?; ifconfig eth0 10.9.0.5 netmask 255.255.255.0; exit $rc`,
    );
    expect(spoofed.code).not.toBe(0);
    const honest = await guestCommand(sock, `ping -c 1 -W 2 ${host.bridgeIp}`);
    expect(honest.code).toBe(0);
  });

  it("a restarted agent adopts the running VM: same pid, empty plan", async () => {
    const p = await host.plan([vm5]);
    expect(p.actions).toEqual([]);
    expect(p.blocked).toEqual([]);
    expect(processAlive(pid5)).toBe(true);
  });

  it("removes an orphan tap and chain left by hand", async () => {
    const orphan = vm(9);
    await host.run("ip", "tuntap", "add", "dev", orphan.tap, "mode", "tap");
    const f = desiredFilter({ ...orphan, dhcpServerMacs: [host.bridgeMac] });
    await host.ctx.host.run("ebtables-nft-restore", ["--noflush"], {
      timeoutMs: 5_000,
      input: `*filter\n:${f.chains[0]!.name} RETURN\n-A ${f.chains[0]!.name} -j DROP\n-A FORWARD -i ${orphan.tap} -j ${f.chains[0]!.name}\nCOMMIT\n`,
    });
    const { plan, results } = await host.reconcile([vm5]);
    expect(plan.actions.map((a) => a.kind)).toEqual(["removeFilter", "removeTap"]);
    expect(results.filter((r) => r.error)).toEqual([]);
    expect((await observeLinks(host.ctx.host)).taps.map((t) => t.name)).toEqual([vm5.tap]);
    expect([...(await observeFilters(host.ctx.host)).keys()]).toHaveLength(1);
    expect(processAlive(pid5)).toBe(true);
  });

  it("a killed qemu is noticed and its tap, chain and DHCP entry are freed", async () => {
    process.kill(pid5, "SIGKILL");
    await eventually("qemu gone", 5_000, async () => (processAlive(pid5) ? undefined : true));
    const { plan, results } = await host.reconcile([vm5]);
    expect(plan.actions.map((a) => a.kind)).toEqual([
      "markExited",
      "removeDhcpHost",
      "removeFilter",
      "removeTap",
      "stopDnsmasq",
    ]);
    expect(results.filter((r) => r.error)).toEqual([]);
    expect((await observeLinks(host.ctx.host)).taps).toEqual([]);
    expect((await observeFilters(host.ctx.host)).size).toBe(0);
    expect((await observeDhcp(host.ctx.dhcpStateDir)).hosts).toEqual([]);
    expect((await host.plan([vm5])).actions).toEqual([]);
    // The run is over; once nobody wants it, its directory goes too.
    expect((await host.reconcile([])).plan.actions.map((a) => a.kind)).toEqual(["removeVmDir"]);
  });

  it("a qemu with a bad disk fails with qemu's own words", async () => {
    const bad = vm(6, {
      disks: [{ name: "root", path: "/nonexistent/gridvm-root.qcow2", format: "qcow2" }],
    });
    const { results } = await host.reconcile([bad]);
    const failed = results.find((r) => r.action.kind === "startQemu");
    expect(failed?.error?.message).toMatch(/exited on start.*\/nonexistent\/gridvm-root\.qcow2/);
    expect(failed?.error?.message).toMatch(/No such file or directory/);
    // Not retried in a loop: the tombstone ends this run, and the network is freed.
    const again = await host.reconcile([bad]);
    expect(again.plan.actions.map((a) => a.kind)).toEqual([
      "removeDhcpHost",
      "removeFilter",
      "removeTap",
      "stopDnsmasq",
    ]);
    expect((await host.reconcile([])).plan.actions.map((a) => a.kind)).toEqual(["removeVmDir"]);
  });

  it("stops a VM nobody wants with an ACPI powerdown and removes everything", async () => {
    const v = vm(7);
    const { results } = await host.reconcile([v]);
    const pid = results.find((r) => r.started)!.started!.pid;
    await eventually("guest up", 90_000, async () =>
      (await consoleOf(v)).includes("GRIDVM-GUEST-UP") ? true : undefined,
    );
    const { plan } = await host.reconcile([]);
    expect(plan.actions.map((a) => a.kind)).toEqual([
      "stopQemu",
      "removeVmDir",
      "removeDhcpHost",
      "removeFilter",
      "removeTap",
      "stopDnsmasq",
    ]);
    expect(processAlive(pid)).toBe(false);
    expect((await host.plan([])).actions).toEqual([]);
  });

  it("isolated guests reach nobody but the gateway; unisolated ones reach each other", async () => {
    const iso = vm(20);
    const a = vm(21, { isolated: false });
    const b = vm(22, { isolated: false });
    const { results } = await host.reconcile([iso, a, b]);
    expect(results.filter((r) => r.error)).toEqual([]);
    await eventually("three guests leased", 120_000, async () => {
      const logs = await Promise.all([iso, a, b].map(consoleOf));
      return logs.every((l) => l.includes("GRIDVM-DHCP-OK")) ? true : undefined;
    });
    const ping = async (from: DesiredVm, to: DesiredVm) =>
      (
        await guestCommand(
          vmPaths(host.ctx.runtimeDir, from.key).serialSocket,
          `ping -c 1 -W 2 ${to.ip}`,
        )
      ).code;
    expect(await ping(a, b)).toBe(0);
    expect(await ping(iso, a)).not.toBe(0);
    expect(await ping(a, iso)).not.toBe(0);
    expect(
      (
        await guestCommand(
          vmPaths(host.ctx.runtimeDir, iso.key).serialSocket,
          `ping -c 1 -W 2 ${host.bridgeIp}`,
        )
      ).code,
    ).toBe(0);
    await host.reconcile([]);
  });

  it("measures start-to-VNC time and qemu's memory beyond guest RAM", async () => {
    const vms = [10, 11, 12, 13, 14].map((n) => vm(n));
    const startMs: number[] = [];
    for (let i = 0; i < vms.length; i++) {
      const t0 = performance.now();
      const { results } = await host.reconcile(vms.slice(0, i + 1));
      const started = results.find((r) => r.started)!.started!;
      startMs.push(performance.now() - t0);
      expect((await vncHandshake(host, 5900 + started.vncDisplay)).securityTypes).toEqual([2]);
    }
    await eventually("all guests leased", 120_000, async () => {
      const logs = await Promise.all(vms.map(consoleOf));
      return logs.every((l) => l.includes("GRIDVM-DHCP-OK")) ? true : undefined;
    });
    const rss: number[] = [];
    for (const o of await (
      await import("../../../node-agent/qemu/runtime-dir.js")
    ).observeVms(host.ctx.runtimeDir)) {
      rss.push(((await readRssKiB(o.pid!)) ?? 0) / 1024);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `node-agent figures (accel ${host.ctx.accel}): reconcile start->VNC ready median ${median(startMs).toFixed(0)} ms ` +
        `[${startMs.map((x) => x.toFixed(0)).join(", ")}]; qemu RSS after DHCP median ${median(rss).toFixed(0)} MiB ` +
        `[${rss.map((x) => x.toFixed(0)).join(", ")}] for -m 128`,
    );
    const t0 = performance.now();
    const resync = await host.plan(vms);
    console.log(
      `node-agent figures: resync (observe + plan) of ${vms.length} running VMs: ${(performance.now() - t0).toFixed(0)} ms`,
    );
    expect(resync.actions).toEqual([]);
    await host.reconcile([]);
  });
});
