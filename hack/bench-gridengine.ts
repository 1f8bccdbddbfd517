/**
 * Measures the local Grid Engine (hack/sim-hosts/up.sh + hack/gridengine/up.sh must be up):
 *   1. qsub -> Running on a simulated host, median of BENCH_RUNS (20), tuned scheduler vs the
 *      package default (schedule_interval 15 s, no flush on submit/finish);
 *   2. `qstat -xml -u '*'` (and its parse) with BENCH_JOBS (300) jobs in the system.
 * Leaves the scheduler configuration as it found it and deletes every job it submitted.
 * Run: npx tsx hack/bench-gridengine.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GridEngineBackend,
  gridEngineConfigFromEnvFile,
} from "../controller/batch/gridengine/gridengine-backend.js";
import { parseQstatJobList } from "../controller/batch/gridengine/qstat-xml.js";
import { runCommand } from "../controller/machinery/command.js";

const root = new URL("../", import.meta.url).pathname;
const state = process.env.GRIDVM_STATE ?? join(root, ".local");
const runs = Number(process.env.BENCH_RUNS ?? "20");
const jobs = Number(process.env.BENCH_JOBS ?? "300");
const env = {
  SGE_ROOT: process.env.SGE_ROOT ?? "/var/lib/gridengine",
  SGE_CELL: process.env.SGE_CELL ?? "default",
};
const sge = (tool: string, args: string[]) =>
  runCommand(`/usr/bin/${tool}`, args, { timeoutMs: 60_000, env });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * Submits one job at a time and waits until it runs. Before each submit it waits a random part of
 * the schedule interval: a controller submits at arbitrary moments, and back-to-back runs would
 * otherwise fall into step with the scheduler's clock.
 */
async function submitToRunning(
  backend: GridEngineBackend,
  label: string,
  intervalMs: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await new Promise((r) => setTimeout(r, Math.random() * intervalMs));
    const t0 = performance.now();
    const id = await backend.submit({
      name: `gvm-bench-${label}-${i}`,
      command: ["/bin/sleep", "300"],
    });
    for (;;) {
      const s = await backend.get(id);
      if (s.phase === "Running") break;
      if (s.phase === "Error" || performance.now() - t0 > 120_000)
        throw new Error(`job ${id}: ${s.phase} ${s.reason ?? ""}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    times.push(performance.now() - t0);
    await backend.delete(id, { force: true });
    // Let the deletion settle so every run starts with an idle cluster.
    while ((await backend.list()).some((j) => j.id === id))
      await new Promise((r) => setTimeout(r, 100));
    process.stderr.write(`  ${label} ${i + 1}/${runs}: ${fmt(times.at(-1)!)}\n`);
  }
  return times;
}

async function withSchedulerConfig<T>(
  edit: (key: string) => string | undefined,
  body: () => Promise<T>,
): Promise<T> {
  const saved = (await sge("qconf", ["-ssconf"])).stdout;
  const dir = mkdtempSync(join(tmpdir(), "gvm-bench-"));
  const apply = async (text: string) => {
    writeFileSync(join(dir, "sconf"), `${text}\n`);
    await sge("qconf", ["-Msconf", join(dir, "sconf")]);
  };
  try {
    await apply(
      saved
        .split("\n")
        .map((line) => {
          const key = line.split(/\s+/)[0] ?? "";
          const value = edit(key);
          return value === undefined ? line : `${key} ${value}`;
        })
        .join("\n"),
    );
    return await body();
  } finally {
    await apply(saved);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const backend = new GridEngineBackend(
    await gridEngineConfigFromEnvFile(join(state, "gridengine.env")),
  );
  if ((await backend.list()).length > 0)
    throw new Error("the cluster has jobs; run the benchmark on an idle cluster");

  console.log(`qsub -> Running on a simulated host, ${runs} sequential jobs each:`);
  const tuned = await submitToRunning(backend, "tuned", 2_000);
  const defaults = {
    schedule_interval: "0:0:15",
    flush_submit_sec: "0",
    flush_finish_sec: "0",
  } as Record<string, string>;
  const dflt = await withSchedulerConfig(
    (k) => defaults[k],
    () => submitToRunning(backend, "default", 15_000),
  );
  console.log(
    `  tuned   (schedule_interval 0:0:2, flush_submit_sec 1, flush_finish_sec 1): median ${fmt(median(tuned))}, min ${fmt(Math.min(...tuned))}, max ${fmt(Math.max(...tuned))}`,
  );
  console.log(
    `  default (schedule_interval 0:0:15, flush_submit_sec 0, flush_finish_sec 0): median ${fmt(median(dflt))}, min ${fmt(Math.min(...dflt))}, max ${fmt(Math.max(...dflt))}`,
  );
  console.log(`  ratio default/tuned: ${(median(dflt) / median(tuned)).toFixed(1)}x`);

  // Held jobs stay in the system without running: a fair picture of a busy qmaster's listing.
  const ids: string[] = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < jobs; i++) {
      ids.push(
        (
          await sge("qsub", [
            "-terse",
            "-h",
            "-b",
            "y",
            "-shell",
            "n",
            "-o",
            "/dev/null",
            "-j",
            "y",
            "-N",
            `gvm-bench-held-${i}`,
            "/bin/true",
          ])
        ).stdout.trim(),
      );
    }
    const submitMs = performance.now() - t0;
    const qstat: number[] = [];
    const parse: number[] = [];
    let count = 0;
    for (let i = 0; i < 10; i++) {
      const a = performance.now();
      const { stdout } = await sge("qstat", ["-xml", "-u", "*"]);
      const b = performance.now();
      count = parseQstatJobList(stdout).length;
      parse.push(performance.now() - b);
      qstat.push(b - a);
    }
    console.log(
      `qstat -xml -u '*' with ${count} jobs in the system (median of 10): ${qstat.length ? median(qstat).toFixed(0) : "?"} ms, parse ${median(parse).toFixed(1)} ms`,
    );
    console.log(
      `  (submitting the ${jobs} jobs with one qsub each took ${fmt(submitMs)}, ${(submitMs / jobs).toFixed(0)} ms per qsub)`,
    );
  } finally {
    for (let i = 0; i < ids.length; i += 100)
      await sge("qdel", ["-f", ...ids.slice(i, i + 100)]).catch(() => undefined);
  }
}

await main();
