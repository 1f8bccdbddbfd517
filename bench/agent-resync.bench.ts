// Measures the node agent's restart cost on a host with many real VMs, and what a VM costs the
// host beyond its guest RAM. No cluster needed: a scratch network namespace with a bridge plays
// the host, the agent's own planner/executor starts real qemu (the tiny guest, TCG or KVM), real
// taps, ebtables chains and dnsmasq. Then, as a restarted agent does on its first pass, it
// observes the host and plans — with a fresh exec counter — and must find nothing to do.
//   baseline: the same resync with 1 VM, in the same process; figures are medians of --passes.
// Usage: npx tsx bench/agent-resync.bench.ts [--vms 100] [--memory 96] [--passes 5]
// Needs ~200 MiB of host memory per VM at --memory 96 (TCG); cleans up everything it made.
import { Command } from "commander";
import { readFile } from "node:fs/promises";
import { TestHost, eventually } from "../test/integration/node-agent/host-fixture.js";
import { Counters, countedRunner } from "../node-agent/agent/counted-runner.js";
import { executePlan } from "../node-agent/planner/execute.js";
import { observeHost } from "../node-agent/planner/observe.js";
import { plan } from "../node-agent/planner/plan.js";
import type { DesiredVm } from "../node-agent/planner/types.js";
import { vmPaths } from "../node-agent/qemu/runtime-dir.js";

const o = new Command()
  .option("--vms <n>", "VMs on the host", "100")
  .option("--memory <MiB>", "guest RAM per VM (the tiny guest needs 96)", "96")
  .option("--passes <n>", "resync passes per measurement", "5")
  .parse()
  .opts<{ vms: string; memory: string; passes: string }>();
const N = Number(o.vms);
const MEM = Number(o.memory);
const PASSES = Number(o.passes);
if (!(N >= 1 && N <= 250)) throw new Error("--vms must be 1..250 (one /24 on the bench bridge)");
const host = new TestHost();

/** VM number n of the bench: addresses from 10.9.0.2 on, the tiny guest at --memory. */
const vm = (n: number): DesiredVm => host.desiredVm(n + 2, { memoryMiB: MEM });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A restarted agent's host-side pass: observe, plan, execute, with its own exec counter. */
async function resync(desired: DesiredVm[]): Promise<{ ms: number; execCalls: number; actions: number }> {
  const counters = new Counters();
  const ctx = { ...host.ctx, host: countedRunner(host.ctx.host, counters) };
  const t0 = performance.now();
  const p = plan(desired, await observeHost(ctx), { dhcpStateDir: ctx.dhcpStateDir });
  await executePlan(p, ctx);
  return { ms: performance.now() - t0, execCalls: counters.execCalls, actions: p.actions.length };
}

async function measure(desired: DesiredVm[]): Promise<{ ms: number; execCalls: number; actions: number }> {
  const runs = [];
  for (let i = 0; i < PASSES; i++) runs.push(await resync(desired));
  return { ms: median(runs.map((r) => r.ms)), execCalls: Math.max(...runs.map((r) => r.execCalls)), actions: Math.max(...runs.map((r) => r.actions)) };
}

/** qemu's resident memory split into the guest-RAM mapping and everything else (from smaps). */
async function qemuMemory(pid: number, guestMiB: number): Promise<{ rssKiB: number; guestKiB: number }> {
  const smaps = await readFile(`/proc/${pid}/smaps`, "utf8");
  let rssKiB = 0;
  let guestKiB = 0;
  let inGuest = false;
  for (const line of smaps.split("\n")) {
    const size = /^Size:\s+(\d+) kB/.exec(line);
    if (size) inGuest = Number(size[1]) === guestMiB * 1024;
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      rssKiB += Number(rss[1]);
      if (inGuest) guestKiB += Number(rss[1]);
    }
  }
  return { rssKiB, guestKiB };
}

async function startAll(desired: DesiredVm[]): Promise<number> {
  const t0 = performance.now();
  for (let pass = 0; pass < 5; pass++) {
    const p = plan(desired, await observeHost(host.ctx), { dhcpStateDir: host.ctx.dhcpStateDir });
    if (p.actions.length === 0) break;
    const failed = (await executePlan(p, host.ctx)).filter((r) => r.error);
    if (failed.length) console.log(`pass ${pass}: ${failed.length} actions failed, first: ${failed[0]!.error!.message}`);
  }
  return performance.now() - t0;
}

/** Waits until every guest printed its DHCP line on its console; returns how long that took. */
async function leased(desired: DesiredVm[]): Promise<number> {
  const t0 = performance.now();
  await eventually("guests leased", 900_000, async () => {
    const logs = await Promise.all(desired.map((v) => readFile(vmPaths(host.ctx.runtimeDir, v.key).serialLog, "utf8").catch(() => "")));
    return logs.every((l) => l.includes("GRIDVM-DHCP-OK")) ? true : undefined;
  });
  return performance.now() - t0;
}

async function main(): Promise<void> {
  await host.create();
  host.ctx = { ...host.ctx, serialSocket: false }; // as the production agent runs them
  const all = Array.from({ length: N }, (_, i) => vm(i));
  console.log(`agent resync bench: ${N} VMs at -m ${MEM} (${host.ctx.accel}), netns ${host.netns}`);

  // Resync is measured on settled hosts: booting TCG guests would steal the CPU it is timed on.
  await startAll(all.slice(0, 1));
  await leased(all.slice(0, 1));
  const base = await measure(all.slice(0, 1));
  console.log(`baseline, 1 VM: resync ${base.ms.toFixed(0)} ms, ${base.execCalls} host commands, ${base.actions} actions`);

  const startMs = await startAll(all);
  console.log(`started ${N} VMs (taps, chains, DHCP entries, qemu) in ${(startMs / 1000).toFixed(1)} s`);
  const bootMs = await leased(all);
  console.log(`all ${N} guests booted and leased their address ${(bootMs / 1000).toFixed(1)} s later`);
  const many = await measure(all);
  console.log(`${N} VMs: resync ${many.ms.toFixed(0)} ms, ${many.execCalls} host commands, ${many.actions} actions`);
  console.log(`ratio ${N} VMs / 1 VM: time x${(many.ms / base.ms).toFixed(1)}, host commands x${(many.execCalls / base.execCalls).toFixed(1)}`);

  // Memory once the guests have booted and taken their leases (their RAM use has settled).
  const sample = all.filter((_, i) => i % Math.max(1, Math.floor(N / 10)) === 0);
  const mem = await Promise.all(
    sample.map(async (v) => qemuMemory(Number((await readFile(vmPaths(host.ctx.runtimeDir, v.key).pidFile, "utf8")).trim()), MEM)),
  );
  const over = mem.map((m) => (m.rssKiB - m.guestKiB) / 1024);
  console.log(
    `per-VM host memory beyond guest RAM (${sample.length} sampled, after DHCP): median ${median(over).toFixed(0)} MiB ` +
      `(qemu RSS median ${median(mem.map((m) => m.rssKiB / 1024)).toFixed(0)} MiB, of which guest RAM touched ${median(mem.map((m) => m.guestKiB / 1024)).toFixed(0)} MiB)`,
  );
}

// Ctrl-C must not leave 100 qemu processes and a namespace behind.
process.once("SIGINT", () => void host.destroy().finally(() => process.exit(130)));
try {
  await main();
} finally {
  await host.destroy();
}
