/**
 * What the admission webhook adds to a VMInstance create, measured on the local cluster:
 * N creates by a real student identity (doraz) without the webhook registered, then N with it
 * (mutating + validating, the standalone server in this process, facts by direct list calls).
 * Prints median / p95 / mean of each and the ratio. Everything it makes is unique to the run,
 * scoped by a namespace label, and removed at the end.
 *
 *   npx tsx hack/bench-admission.ts [N=100]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureCertificates } from "../controller/admission/certs.js";
import { webhookConfigurations } from "../controller/admission/configurations.js";
import { ApiFactSource, informerFacts, type FactSource } from "../controller/admission/facts.js";
import { registerWebhooks, unregisterWebhooks } from "../controller/admission/register.js";
import {
  startAdmissionServer,
  type RunningAdmissionServer,
} from "../controller/admission/server.js";
import { DEFAULT_ADMIN_GROUPS } from "../controller/authorization/evaluate.js";
import { createLogger } from "../controller/machinery/log.js";
import {
  createObject,
  customObjects,
  deleteObject,
  kubeConfigFor,
  kubectl,
} from "../test/support/kube.js";

const N = Number(process.argv[2] ?? 100);
const WARMUP = 5;
const RUN = Math.random().toString(36).slice(2, 7);
const NS = `gvm-bench-adm-${RUN}`;
const LABEL = "gridvm.io/admission-bench";
const CONFIG = `gridvm-admission-bench-${RUN}`;
const template = {
  apiVersion: "gridvm.io/v1alpha1",
  kind: "VMTemplate",
  metadata: { name: `bench-${RUN}` },
  // A VM group that does not exist: a controller running beside the bench never places these.
  spec: {
    vmGroup: `bench-${RUN}`,
    derivable: true,
    resources: { memory: "128Mi" },
    disks: [{ name: "root", size: "1Gi" }],
  },
};
const permission = {
  apiVersion: "gridvm.io/v1alpha1",
  kind: "Permission",
  metadata: { name: `bench-${RUN}` },
  spec: {
    subjects: [{ kind: "Group", name: "studs" }],
    target: { template: template.metadata.name },
    allow: ["derive"],
  },
};

const doraz = customObjects("doraz");
function create(name: string): Promise<unknown> {
  return doraz.createNamespacedCustomObject({
    group: "gridvm.io",
    version: "v1alpha1",
    plural: "vminstances",
    namespace: NS,
    body: {
      apiVersion: "gridvm.io/v1alpha1",
      kind: "VMInstance",
      metadata: { name },
      spec: { template: template.metadata.name, owner: "doraz", diskPolicy: "Delete" },
    },
  });
}

async function measure(prefix: string): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await create(`${prefix}-warm-${i}`);
  const ms: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await create(`${prefix}-${i}`);
    ms.push(performance.now() - t0);
  }
  return ms;
}

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { median: q(0.5), p95: q(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function webhookActive(): Promise<void> {
  const admin = customObjects("badadmin");
  for (let i = 0; i < 100; i++) {
    const probe = (await admin
      .createNamespacedCustomObject({
        group: "gridvm.io",
        version: "v1alpha1",
        plural: "vminstances",
        namespace: NS,
        body: {
          apiVersion: "gridvm.io/v1alpha1",
          kind: "VMInstance",
          metadata: { name: `probe-${i}` },
          spec: { template: "x" },
        },
        dryRun: "All",
      })
      .catch(() => undefined)) as { spec?: { owner?: string } } | undefined;
    if (probe?.spec?.owner === "badadmin") return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the webhook configurations never took effect");
}

const certDir = mkdtempSync(join(tmpdir(), "gridvm-bench-admission-"));
let server: RunningAdmissionServer | undefined;
let stopCache: (() => Promise<void>) | undefined;
try {
  await kubectl(["create", "namespace", NS]);
  await kubectl(["label", "namespace", NS, `${LABEL}=${RUN}`]);
  await kubectl([
    "create",
    "rolebinding",
    "gridvm-user",
    "-n",
    NS,
    "--clusterrole=gridvm:user",
    "--user=doraz",
  ]);
  await createObject(template);
  await createObject(permission);
  const certs = await ensureCertificates(certDir);
  const direct = new ApiFactSource(kubeConfigFor());
  const cached = await informerFacts(kubeConfigFor());
  stopCache = cached.stop;
  let current: FactSource = direct;
  server = await startAdmissionServer({
    port: 0,
    cert: readFileSync(certs.certFile),
    key: readFileSync(certs.keyFile),
    facts: { factsFor: (owner) => current.factsFor(owner) },
    adminGroups: DEFAULT_ADMIN_GROUPS,
    log: createLogger("admission-bench", process.env.BENCH_LOG ?? "warn"),
  });

  const without = stats(await measure("without"));
  await registerWebhooks(
    kubeConfigFor(),
    webhookConfigurations({
      name: CONFIG,
      baseUrl: `https://127.0.0.1:${server.port}`,
      caPem: readFileSync(certs.caFile),
      namespaceSelector: { matchLabels: { [LABEL]: RUN } },
    }),
  );
  await webhookActive();
  const withWebhook = stats(await measure("direct"));
  current = cached.source;
  const withCache = stats(await measure("cached"));

  const f = (x: number) => `${x.toFixed(1)} ms`;
  const row = (label: string, r: ReturnType<typeof stats>) =>
    console.log(
      `  ${label.padEnd(34)} median ${f(r.median).padStart(9)}  p95 ${f(r.p95).padStart(9)}  mean ${f(r.mean).padStart(9)}` +
        (r === without
          ? ""
          : `   added median ${f(r.median - without.median)}, ratio ${(r.median / without.median).toFixed(2)}x (p95 ${(r.p95 / without.p95).toFixed(2)}x)`),
    );
  console.log(
    `VMInstance create as doraz, ${N} sequential requests per row (after ${WARMUP} warm-up):`,
  );
  row("without webhook", without);
  row("with webhook, facts by list calls", withWebhook);
  row("with webhook, facts from informers", withCache);
} finally {
  await unregisterWebhooks(kubeConfigFor(), CONFIG).catch((err: unknown) =>
    console.error(`unregister ${CONFIG}: ${String(err)}`),
  );
  await server?.close();
  await stopCache?.();
  await kubectl(["delete", "vminstances", "--all", "-n", NS, "--wait=false"], {
    okExitCodes: [1],
  }).catch(() => undefined);
  await kubectl(["delete", "namespace", NS, "--wait=false", "--ignore-not-found"]).catch(
    () => undefined,
  );
  await deleteObject(permission);
  await deleteObject(template);
  rmSync(certDir, { recursive: true, force: true });
}
