// Measures the controller against the real local cluster (hack/local-up.sh must be up):
//  1. create -> job submitted latency, one instance at a time (the baseline), median/p95 over N;
//  2. the same N applied at once (a class arriving at 7 a.m.), per-instance latency and total;
//  3. controller RSS with 0, 1,000 and 10,000 VMInstances in its cache (running: false).
// The bench's jobs ask for more memory than any host has, so they are submitted but never start
// a VM. Usage: npx tsx bench/controller.bench.ts [--instances 100] [--cache 1000,10000]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { API_VERSION, type VMInstance } from "../controller/api/generated/types.js";
import { Informer } from "../controller/machinery/informer.js";
import { createLogger } from "../controller/machinery/log.js";
import { customObjects, kubeConfigFor, kubectl } from "../test/support/kube.js";
import { STATE_DIR } from "../test/support/paths.js";

const o = new Command().option("--instances <n>", "instances for the latency runs", "100").option("--cache <list>", "cache sizes for the RSS run", "1000,10000").parse().opts<{ instances: string; cache: string }>();
const N = Number(o.instances);
const S = Math.random().toString(36).slice(2, 7);
const NS = `gvm-bench-${S}`;
const api = customObjects();
const kc = kubeConfigFor();
const owner = { owner: "badadmin", annotations: { "gridvm.io/owner-groups": JSON.stringify(["gridvm:admins"]) } };

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (ms: number): string => `${ms.toFixed(0)} ms`;
function controllerRssMiB(): number {
  const pid = readFileSync(join(STATE_DIR, "run", "controller.pid"), "utf8").trim();
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

function instance(name: string, running: boolean): object {
  return { apiVersion: API_VERSION, kind: "VMInstance", metadata: { name, namespace: NS, annotations: owner.annotations }, spec: { template: `bench-${S}`, owner: owner.owner, running, isolated: true, diskPolicy: "Delete" } };
}
const create = (obj: object) => api.createNamespacedCustomObject({ group: "gridvm.io", version: "v1alpha1", namespace: NS, plural: "vminstances", body: obj });

async function inBatches<T>(items: T[], width: number, f: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(f));
}

// Watch status.job.id appear, event-driven through the same reflector the controller uses.
const submittedAt = new Map<string, number>();
const waiters = new Map<string, () => void>();
const informer = new Informer<VMInstance>(kc, { apiVersion: API_VERSION, plural: "vminstances", namespace: NS }, { log: createLogger("bench", "warn") });
const seen = (i: VMInstance): void => {
  const name = i.metadata.name ?? "";
  if (i.status?.job?.id && !submittedAt.has(name)) {
    submittedAt.set(name, performance.now());
    waiters.get(name)?.();
  }
};
informer.addEventHandler({ onAdd: seen, onUpdate: (_a, b) => seen(b) });
const submitted = (name: string): Promise<void> => (submittedAt.has(name) ? Promise.resolve() : new Promise((r) => waiters.set(name, r)));

async function main(): Promise<void> {
  await kubectl(["create", "namespace", NS]);
  await kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: API_VERSION, kind: "VMGroup", metadata: { name: `bench-${S}` }, spec: { addresses: "10.250.0.0/20", gateway: { ip: "10.250.0.1", mac: "00:15:5d:00:00:fa" }, macPrefix: "de:be:4c:00" } },
        // 64Gi: more than any host offers, so every job is submitted and stays pending.
        { apiVersion: API_VERSION, kind: "VMTemplate", metadata: { name: `bench-${S}` }, spec: { vmGroup: `bench-${S}`, derivable: true, resources: { memory: "64Gi" }, disks: [{ name: "root", size: "16Mi" }] } },
      ],
    }),
  });
  while ((await kubectl(["get", "vmtemplate", `bench-${S}`, "-o", "jsonpath={.status.phase}"])).stdout !== "Ready") await new Promise((r) => setTimeout(r, 200));
  informer.start();
  await informer.waitForSync();

  console.log(`\n1. create -> job submitted, one at a time (baseline), n=${N}`);
  const serial: number[] = [];
  for (let i = 0; i < N; i++) {
    const name = `serial-${i}`;
    const t0 = performance.now();
    await create(instance(name, true));
    await submitted(name);
    serial.push(submittedAt.get(name)! - t0);
  }
  console.log(`   median ${fmt(pct(serial, 50))}, p95 ${fmt(pct(serial, 95))}, max ${fmt(Math.max(...serial))}`);

  console.log(`\n2. ${N} applied at once`);
  const t0 = performance.now();
  const names = Array.from({ length: N }, (_, i) => `burst-${i}`);
  await Promise.all(names.map((n) => create(instance(n, true))));
  const created = performance.now() - t0;
  await Promise.all(names.map(submitted));
  const burst = names.map((n) => submittedAt.get(n)! - t0);
  const total = Math.max(...burst);
  console.log(`   all created in ${fmt(created)}; all submitted after ${fmt(total)}; per instance median ${fmt(pct(burst, 50))}, p95 ${fmt(pct(burst, 95))}`);
  console.log(`   ratio to the serial baseline: ${(total / serial.reduce((a, b) => a + b, 0)).toFixed(2)}x the time of ${N} serial creates`);
  const t1 = performance.now();
  await kubectl(["delete", "vminstances", "--all", "-n", NS, "--wait=false"]);
  while ((await kubectl(["get", "vminstances", "-n", NS, "-o", "name"])).stdout.trim() !== "") await new Promise((r) => setTimeout(r, 500));
  console.log(`   deleting all ${2 * N} (jobs removed, finalizers released) took ${fmt(performance.now() - t1)}`);

  console.log("\n3. controller RSS by VMInstances in its cache (running: false)");
  const base = controllerRssMiB();
  console.log(`   ${"0".padStart(6)}: ${base.toFixed(0)} MiB`);
  let made = 0;
  for (const target of o.cache.split(",").map(Number)) {
    const names = Array.from({ length: target - made }, (_, i) => `idle-${made + i}`);
    await inBatches(names, 25, (n) => create(instance(n, false)));
    made = target;
    await new Promise((r) => setTimeout(r, 15_000)); // let the controller reconcile them all
    const rss = controllerRssMiB();
    console.log(`   ${String(target).padStart(6)}: ${rss.toFixed(0)} MiB (+${(((rss - base) / target) * 1024).toFixed(1)} KiB per instance over the empty baseline)`);
  }
}

main()
  .catch((err: unknown) => {
    console.error(`bench failed: ${(err as Error).message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await informer.stop();
    await kubectl(["delete", "namespace", NS, "--wait=false"]).catch(() => undefined);
    await kubectl(["delete", "vmtemplate", `bench-${S}`, "--wait=false"]).catch(() => undefined);
    await kubectl(["delete", "vmgroup", `bench-${S}`, "--wait=false"]).catch(() => undefined);
  });
