import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VMInstance } from "../../controller/api/generated/types.js";
import { OWNER_GROUPS_ANNOTATION } from "../../controller/authorization/owner-identity.js";
import { runCommand } from "../../controller/machinery/command.js";
import { runKey } from "../../node-agent/agent/desired.js";
import { processAlive, readProcessArgv } from "../../node-agent/qemu/proc.js";
import { vmPaths } from "../../node-agent/qemu/runtime-dir.js";
import { createObject, customObjects, deleteObject, kubectl } from "../support/kube.js";
import { ROOT, STATE_DIR } from "../support/paths.js";
import { TINY_GUEST_IMAGES, tinyGuestTemplate } from "../support/tiny-guest.js";
import { waitFor } from "../support/wait.js";
import * as F from "./isolation-probes/frames.js";

/**
 * The paper's security promises proved with packets from inside real guests. Each guest boots the
 * tiny guest plus an overlay (isolation-probes/init.sh + the static gvprobe tool); it fetches
 * numbered shell jobs over HTTP from the gateway (192.168.100.1, netns gvm-lan, which every guest
 * may reach) and writes their output to its serial console, which the test reads. The sender
 * puts hand-built frames on the wire; the receiving guest and the gateway count the frames that
 * arrive carrying each probe's random marker.
 */
const S = randomBytes(3).toString("hex");
const NS = `gvm-probes-${S}`;
const TEMPLATE = `isolation-probes-${S}`;
const LAN_NS = "gvm-lan";
const GATEWAY = { ip: "192.168.100.1", mac: "00:15:5d:07:07:8b" };
const PORT = 20_000 + Math.floor(Math.random() * 20_000);
// Beside the tiny guest, inside the images root the controller accepts kernels and initrds from.
const IMG_DIR = join(TINY_GUEST_IMAGES, "..", `isolation-probes-${S}`);
const WORK = mkdtempSync(join(tmpdir(), "gvm-probes-"));
const WWW = join(WORK, "www");
const GVPROBE = join(WORK, "gvprobe");
const WINDOW_S = 35;
const FRAMES_PER_PROBE = 3;
const FAKE_MAC = "de:ad:be:ef:00:42";
const UNUSED_IP = "192.168.100.251";

const api = customObjects();
const coords = { group: "gridvm.io", version: "v1alpha1", namespace: NS, plural: "vminstances" };
const get = async (name: string) => (await api.getNamespacedCustomObject({ ...coords, name })) as VMInstance;

interface Guest {
  name: string;
  host: string;
  ip: string;
  mac: string;
  console: string;
  seq: number;
}

type Expect = "arrive" | "blocked" | "-";
interface Probe {
  name: string;
  frame: Buffer;
  marker: string;
  peer: Expect;
  gateway: Expect;
}
interface Row {
  pair: string;
  probe: string;
  sent: number;
  peer: number;
  gateway: number;
  expect: { peer: Expect; gateway: Expect };
}
const matrix: Row[] = [];
const pingRows: { pair: string; target: string; exit: number; expectOk: boolean }[] = [];
const qemuPids = new Map<string, number>();

function instance(name: string, isolated: boolean, memory: string) {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMInstance",
    metadata: { name, namespace: NS, annotations: { [OWNER_GROUPS_ANNOTATION]: JSON.stringify(["gridvm:admins"]) } },
    spec: { template: TEMPLATE, owner: "badadmin", running: true, isolated, resources: { memory } },
  };
}

const template = tinyGuestTemplate(TEMPLATE, { initrd: join(IMG_DIR, "initramfs.gz"), extraCmdline: `gvprobe.url=${GATEWAY.ip}:${PORT}` });

/** The tiny guest's initramfs with our /init and gvprobe appended (the kernel unpacks both, later wins). */
async function buildProbeGuest(): Promise<void> {
  const src = join(ROOT, "test/e2e/isolation-probes");
  await runCommand("gcc", ["-static", "-Os", "-s", "-Wall", "-o", GVPROBE, join(src, "gvprobe.c")], { timeoutMs: 120_000 });
  const tree = join(WORK, "overlay");
  mkdirSync(join(tree, "bin"), { recursive: true });
  writeFileSync(join(tree, "bin", "gvprobe"), readFileSync(GVPROBE), { mode: 0o755 });
  writeFileSync(join(tree, "init"), readFileSync(join(src, "init.sh")), { mode: 0o755 });
  const cpio = join(WORK, "overlay.cpio");
  await runCommand("cpio", ["-o", "-H", "newc", "--quiet", "--owner", "0:0", "-F", cpio], { timeoutMs: 30_000, cwd: tree, input: "bin\nbin/gvprobe\ninit\n" });
  await runCommand("gzip", ["-9", "-n", cpio], { timeoutMs: 30_000 });
  mkdirSync(IMG_DIR, { recursive: true });
  writeFileSync(join(IMG_DIR, "initramfs.gz"), Buffer.concat([readFileSync(join(TINY_GUEST_IMAGES, "initramfs.gz")), readFileSync(`${cpio}.gz`)]));
}

/** busybox httpd on the gateway's address, serving the guests' job files; lives at most 20 min. */
function startJobServer(): void {
  mkdirSync(WWW, { recursive: true });
  void runCommand("ip", ["netns", "exec", LAN_NS, "timeout", "1200", "busybox", "httpd", "-f", "-p", `${GATEWAY.ip}:${PORT}`, "-h", WWW], { timeoutMs: 1_230_000 }).catch(() => undefined);
}

/** Our httpd (found by its unique document root), ended by pid. */
async function stopJobServer(): Promise<void> {
  for (const d of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    const argv = await readProcessArgv(Number(d));
    if (argv?.includes(WWW) && argv.includes("httpd")) process.kill(Number(d), "SIGTERM");
  }
}

const consoleText = (g: Guest) => readFileSync(g.console, "utf8").replace(/\r/g, "");

/** Hands the guest its next job and waits until it has run (output goes to its console). */
async function job(g: Guest, script: string, timeoutMs = 60_000): Promise<string> {
  const seq = ++g.seq;
  const dir = join(WWW, g.mac.replace(/:/g, "-"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `.${seq}.tmp`), script + "\n");
  renameSync(join(dir, `.${seq}.tmp`), join(dir, `${seq}.txt`));
  return waitFor(`${g.name} job ${seq}`, () => {
    const m = new RegExp(`GVPROBE-JOB ${seq} START\\n([\\s\\S]*?)GVPROBE-JOB ${seq} END`).exec(consoleText(g));
    return m ? m[1]! : undefined;
  }, timeoutMs, 300);
}

function probesFor(a: Guest, b: Guest, isolated: boolean): Probe[] {
  const reach: Expect = isolated ? "blocked" : "arrive";
  const p = (name: string, build: (m: Buffer) => Buffer, peer: Expect, gateway: Expect): Probe => {
    const m = randomBytes(8);
    return { name, frame: build(m), marker: m.toString("hex"), peer, gateway };
  };
  const B = "ff:ff:ff:ff:ff:ff";
  return [
    p("icmp-to-gateway", (m) => F.ethernet(GATEWAY.mac, a.mac, F.ETH_IPV4, F.ipv4(a.ip, GATEWAY.ip, 1, F.icmpEcho(m))), "-", "arrive"),
    p("tcp-syn-to-gateway", (m) => F.ethernet(GATEWAY.mac, a.mac, F.ETH_IPV4, F.ipv4(a.ip, GATEWAY.ip, 6, F.tcpSyn(9, m))), "-", "arrive"),
    p("arp-who-has-gateway", (m) => F.ethernet(B, a.mac, F.ETH_ARP, F.arp(1, a.mac, a.ip, "00:00:00:00:00:00", GATEWAY.ip, m)), reach, "arrive"),
    p("icmp-to-peer", (m) => F.ethernet(b.mac, a.mac, F.ETH_IPV4, F.ipv4(a.ip, b.ip, 1, F.icmpEcho(m))), reach, "-"),
    p("tcp-syn-to-peer", (m) => F.ethernet(b.mac, a.mac, F.ETH_IPV4, F.ipv4(a.ip, b.ip, 6, F.tcpSyn(22, m))), reach, "-"),
    p("spoof-mac-to-gateway", (m) => F.ethernet(GATEWAY.mac, FAKE_MAC, F.ETH_IPV4, F.ipv4(a.ip, GATEWAY.ip, 1, F.icmpEcho(m))), "-", "blocked"),
    p("spoof-mac-to-peer", (m) => F.ethernet(b.mac, FAKE_MAC, F.ETH_IPV4, F.ipv4(a.ip, b.ip, 1, F.icmpEcho(m))), "blocked", "-"),
    p("spoof-ip(peer's)-to-gateway", (m) => F.ethernet(GATEWAY.mac, a.mac, F.ETH_IPV4, F.ipv4(b.ip, GATEWAY.ip, 1, F.icmpEcho(m))), "-", "blocked"),
    p("spoof-ip-to-peer", (m) => F.ethernet(b.mac, a.mac, F.ETH_IPV4, F.ipv4(UNUSED_IP, b.ip, 1, F.icmpEcho(m))), "blocked", "-"),
    p("gratuitous-arp-claiming-peer-ip", (m) => F.ethernet(B, a.mac, F.ETH_ARP, F.arp(1, a.mac, b.ip, B, b.ip, m)), "blocked", "blocked"),
    p("arp-reply-claiming-gateway-ip", (m) => F.ethernet(b.mac, a.mac, F.ETH_ARP, F.arp(2, a.mac, GATEWAY.ip, b.mac, b.ip, m)), "blocked", "-"),
    p("arp-forged-sender-mac", (m) => F.ethernet(B, a.mac, F.ETH_ARP, F.arp(1, FAKE_MAC, a.ip, "00:00:00:00:00:00", GATEWAY.ip, m)), "blocked", "blocked"),
    p("rogue-dhcp-offer-for-peer", (m) => F.ethernet(B, a.mac, F.ETH_IPV4, F.ipv4(a.ip, "255.255.255.255", 17, F.udp(67, 68, F.dhcpOffer(b.mac, b.ip, a.ip, m)))), "blocked", "blocked"),
    p("rogue-dhcp-offer-unicast-to-peer", (m) => F.ethernet(b.mac, a.mac, F.ETH_IPV4, F.ipv4(a.ip, b.ip, 17, F.udp(67, 68, F.dhcpOffer(b.mac, b.ip, a.ip, m)))), "blocked", "-"),
    p("ipv6-all-nodes-multicast", (m) => F.ethernet("33:33:00:00:00:01", a.mac, F.ETH_IPV6, F.ipv6Udp(F.linkLocal(a.mac), F.ALL_NODES, m)), "blocked", "blocked"),
    p("ipv6-unicast-to-peer", (m) => F.ethernet(b.mac, a.mac, F.ETH_IPV6, F.ipv6Udp(F.linkLocal(a.mac), F.linkLocal(b.mac), m)), "blocked", "-"),
    p("ipv6-unicast-to-gateway", (m) => F.ethernet(GATEWAY.mac, a.mac, F.ETH_IPV6, F.ipv6Udp(F.linkLocal(a.mac), F.linkLocal(GATEWAY.mac), m)), "-", "blocked"),
  ];
}

const countsIn = (text: string): Map<string, number> =>
  new Map([...text.matchAll(/GVPROBE-COUNT ([0-9a-f]+) (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));

/** One sender, one receiving guest, the gateway: every probe once, counted at both receivers. */
async function runPair(pair: string, a: Guest, b: Guest, isolated: boolean): Promise<void> {
  const probes = probesFor(a, b, isolated);
  const markers = probes.map((p) => p.marker);
  const gw = runCommand("ip", ["netns", "exec", LAN_NS, GVPROBE, "count", "lan0", String(WINDOW_S), ...markers], { timeoutMs: (WINDOW_S + 30) * 1000 });
  await job(b, `/bin/gvprobe count eth0 ${WINDOW_S} ${markers.join(" ")} &`);
  await waitFor(`${b.name} counting`, () => consoleText(b).split(`GVPROBE-JOB ${b.seq} START`)[1]?.includes("GVPROBE-COUNTING"), 20_000, 200);
  const out = await job(a, [
    ...probes.map((p) => `echo "GVPROBE-SENT-BY ${p.name} $(/bin/gvprobe send eth0 ${FRAMES_PER_PROBE} ${p.frame.toString("hex")})"`),
    `ping -c 2 -w 4 ${GATEWAY.ip} >/dev/null 2>&1; echo "GVPROBE-PING gateway $?"`,
    `ping -c 2 -w 4 ${b.ip} >/dev/null 2>&1; echo "GVPROBE-PING peer $?"`,
  ].join("\n"), 90_000);
  const gwCounts = countsIn((await gw).stdout);
  const peerCounts = await waitFor(`${b.name} counts`, () => {
    const c = countsIn(consoleText(b));
    return markers.every((m) => c.has(m)) ? c : undefined;
  }, (WINDOW_S + 30) * 1000, 500);
  for (const p of probes) {
    const sent = Number(new RegExp(`GVPROBE-SENT-BY ${p.name.replace(/[()]/g, "\\$&")} GVPROBE-SENT (\\d+)`).exec(out)?.[1] ?? -1);
    matrix.push({ pair, probe: p.name, sent, peer: peerCounts.get(p.marker)!, gateway: gwCounts.get(p.marker)!, expect: { peer: p.peer, gateway: p.gateway } });
  }
  for (const target of ["gateway", "peer"] as const) {
    const exit = Number(new RegExp(`GVPROBE-PING ${target} (\\d+)`).exec(out)?.[1] ?? -1);
    pingRows.push({ pair, target, exit, expectOk: target === "gateway" || !isolated });
  }
}

function printMatrix(): void {
  const cell = (n: number, e: Expect) => `${n}${e === "-" ? "" : e === "arrive" ? " (want all)" : " (want 0)"}`;
  const lines = ["", "isolation probe matrix (frames sent by the first guest / frames that arrived)", "pair | probe | sent | at peer guest | at gateway"];
  for (const r of matrix) lines.push(`${r.pair} | ${r.probe} | ${r.sent} | ${cell(r.peer, r.expect.peer)} | ${cell(r.gateway, r.expect.gateway)}`);
  lines.push("real-stack busybox ping (exit code, 0 = answered):");
  for (const p of pingRows) lines.push(`${p.pair} | ping ${p.target} | exit ${p.exit} (want ${p.expectOk ? "0" : "non-zero"})`);
  console.log(lines.join("\n"));
}

async function scheduled(name: string): Promise<VMInstance> {
  return waitFor(`${name} placed`, async () => {
    const i = await get(name);
    return i.status?.host && i.status.job?.name ? i : undefined;
  }, 240_000, 1_000);
}

/**
 * Grid Engine would happily put every guest on one host (it did in CI), so the placement is
 * forced through the hosts' VM memory (gvm_mem, 4G each, hack/gridengine): three isolated
 * guests of 1.5Gi fit two to a host, so they land 2 + 1; the three unisolated ones of 1Gi then
 * fit exactly 1 + 2 into what is left. Every pair the test needs exists, on any scheduler order.
 * The guests touch only a few MiB of that RAM (TCG allocates on first touch).
 */
async function placeGroup(prefix: string, isolated: boolean, memory: string): Promise<VMInstance[]> {
  const names = [1, 2, 3].map((n) => `${prefix}-${n}`);
  for (const name of names) await createObject(instance(name, isolated, memory));
  const placed: VMInstance[] = [];
  for (const name of names) placed.push(await scheduled(name));
  return placed;
}

async function ready(inst: VMInstance): Promise<Guest> {
  const i = await waitFor(`${inst.metadata!.name} Running`, async () => {
    const x = await get(inst.metadata!.name!);
    return x.status?.phase === "Running" && x.status.network?.ip ? x : undefined;
  }, 300_000, 1_000);
  const paths = vmPaths(join(STATE_DIR, "run", "hosts", i.status!.host!, "vms"), runKey(i.status!.job!.name!));
  const pid = Number((await readFile(paths.pidFile, "utf8").catch(() => "")).trim());
  if (pid > 0) qemuPids.set(i.metadata!.name!, pid);
  const g: Guest = { name: i.metadata!.name!, host: i.status!.host!, ip: i.status!.network!.ip!, mac: i.status!.network!.mac!.toLowerCase(), console: paths.serialLog, seq: 0 };
  await waitFor(`${g.name} lease`, () => readFile(g.console, "utf8").then((t) => t.includes(`GRIDVM-DHCP-OK ${g.ip}`)), 180_000, 500);
  // The job loop answers once the lease is in place: a trivial job proves the channel.
  await job(g, "echo alive", 60_000).catch((err: Error) => {
    throw new Error(`${err.message}; ${g.name}'s console ends with:\n${consoleText(g).slice(-1500)}`);
  });
  return g;
}

/** Two guests on one host and two on different hosts, out of a placed group. */
function pairs(guests: Guest[]): { same?: [Guest, Guest]; cross?: [Guest, Guest] } {
  const out: { same?: [Guest, Guest]; cross?: [Guest, Guest] } = {};
  for (const a of guests) for (const b of guests) {
    if (a === b) continue;
    if (a.host === b.host) out.same ??= [a, b];
    else out.cross ??= [a, b];
  }
  return out;
}

const isolated: Guest[] = [];
const open: Guest[] = [];

beforeAll(async () => {
  await buildProbeGuest();
  startJobServer();
  await kubectl(["create", "namespace", NS]);
  // The paper's lab1 (the gateway and bridge these probes use): a fresh cluster may not have it yet.
  await kubectl(["apply", "-f", join(ROOT, "examples/paper-lab/10-vmgroup-lab1.yaml")]);
  await createObject(template);
  await waitFor(`template ${TEMPLATE} Ready`, async () => {
    const t = (await api.getClusterCustomObject({ group: "gridvm.io", version: "v1alpha1", plural: "vmtemplates", name: TEMPLATE })) as { status?: { phase?: string } };
    return t.status?.phase === "Ready";
  }, 60_000, 500);
  const iso = await placeGroup("iso", true, "1536Mi");
  const uni = await placeGroup("open", false, "1Gi");
  for (const i of iso) isolated.push(await ready(i));
  for (const i of uni) open.push(await ready(i));
  console.log(`placement: ${[...isolated, ...open].map((g) => `${g.name}@${g.host} ${g.ip}`).join(", ")}`);
}, 900_000);

afterAll(async () => {
  printMatrix();
  try {
    await kubectl(["delete", "namespace", NS, "--wait=false"], { okExitCodes: [0, 1] });
    await waitFor(`namespace ${NS} gone`, async () => (await kubectl(["get", "namespace", NS], { okExitCodes: [0, 1] })).exitCode === 1, 300_000, 1_000);
    await deleteObject(template);
  } finally {
    // Even when the instances are slow to go, our server and files do not outlive the test.
    await stopJobServer();
    rmSync(WORK, { recursive: true, force: true });
  }
  // The initrd goes last: a qemu still starting must find it.
  rmSync(IMG_DIR, { recursive: true, force: true });
  const left = [...qemuPids.entries()].filter(([, pid]) => processAlive(pid));
  expect(left, "qemu processes of this test still running").toEqual([]);
}, 600_000);

function verify(pair: string): void {
  const rows = matrix.filter((r) => r.pair === pair);
  expect(rows.length).toBeGreaterThan(0);
  for (const r of rows) {
    expect(r.sent, `${pair} ${r.probe} sent`).toBe(FRAMES_PER_PROBE);
    for (const where of ["peer", "gateway"] as const) {
      const want = r.expect[where];
      if (want === "blocked") expect(r[where], `${pair} ${r.probe} at ${where}`).toBe(0);
      if (want === "arrive") expect(r[where], `${pair} ${r.probe} at ${where}`).toBe(r.sent);
    }
  }
  for (const p of pingRows.filter((x) => x.pair === pair)) {
    if (p.expectOk) expect(p.exit, `${pair} ping ${p.target}`).toBe(0);
    else expect(p.exit, `${pair} ping ${p.target}`).not.toBe(0);
  }
}

describe("isolation proved with packets from real guests", () => {
  for (const [kind, group, isIso] of [["isolated", isolated, true], ["unisolated", open, false]] as const) {
    for (const where of ["same", "cross"] as const) {
      it(`${kind} guests, ${where === "same" ? "same host" : "two hosts"}`, async () => {
        const pair = pairs(group)[where];
        // The placement is forced (placeGroup), so a missing pair is a failure, not a skip.
        expect(pair, `a ${kind} pair on ${where === "same" ? "one host" : "two hosts"}; placement ${group.map((g) => `${g.name}@${g.host}`).join(", ")}`).toBeDefined();
        if (!pair) return;
        const label = `${kind}/${where === "same" ? "same-host" : "cross-host"} ${pair[0].name}@${pair[0].host}->${pair[1].name}@${pair[1].host}`;
        await runPair(label, pair[0], pair[1], isIso);
        verify(label);
      });
    }
  }

  // An isolated guest is out of reach of an unisolated neighbour on its own host too: the
  // neighbour's chain lets the frame on, the isolated guest's own chain must still drop it.
  it("an unisolated guest towards an isolated one on the same host", async () => {
    const a = open.find((o) => isolated.some((i) => i.host === o.host));
    const b = a && isolated.find((i) => i.host === a.host);
    expect(a && b, `an unisolated and an isolated guest on one host; placement ${[...isolated, ...open].map((g) => `${g.name}@${g.host}`).join(", ")}`).toBeTruthy();
    if (!a || !b) return;
    const label = `unisolated->isolated/same-host ${a.name}@${a.host}->${b.name}@${b.host}`;
    await runPair(label, a, b, true);
    verify(label);
  });
});
