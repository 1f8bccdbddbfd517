#!/usr/bin/env node
import { KubeConfig } from "@kubernetes/client-node";
import { Command } from "commander";
import { gridvmJobCommand } from "../batch/lease-command.js";
import { GridEngineBackend } from "../batch/gridengine/gridengine-backend.js";
import { createLogger } from "../machinery/log.js";
import { Shutdown } from "../machinery/shutdown.js";
import { Manager } from "../manager.js";
import { cacheAuthorizer } from "../reconcilers/vminstance/authorization-recheck.js";
import { defaultStorageRoots } from "../storage/storage-roots.js";

const env = process.env;
const program = new Command()
  .name("gridvm-controller")
  .description("reconciles gridvm VMGroups, VMTemplates and VMInstances into discs, addresses and Grid Engine jobs")
  .option("--kubeconfig <file>", "kubeconfig (default: in-cluster, else $KUBECONFIG)", env.KUBECONFIG)
  .option("--base-dir <dir>", "parent of the storage, import, iso and images roots", env.GRIDVM_BASE_DIR ?? "/var/lib/gridvm")
  .option("--storage-root <dir>", "template discs and users' overlays (shared with the hosts)", env.GRIDVM_STORAGE_ROOT)
  .option("--import-root <dir>", "images a template may copy or adopt", env.GRIDVM_IMPORT_ROOT)
  .option("--iso-root <dir>", "install media", env.GRIDVM_ISO_ROOT)
  .option("--images-root <dir>", "kernels and initrds for direct kernel boot", env.GRIDVM_IMAGES_ROOT)
  .option("--batch-backend <kind>", "batch system", env.GRIDVM_BATCH_BACKEND ?? "gridengine")
  .option("--sge-root <dir>", "Grid Engine SGE_ROOT", env.SGE_ROOT ?? "/var/lib/gridengine")
  .option("--sge-cell <name>", "Grid Engine SGE_CELL", env.SGE_CELL ?? "default")
  .option("--sge-queue <name>", "queue for VM jobs", env.GRIDVM_SGE_QUEUE ?? "gridvm.q")
  .option("--sge-pe <name>", "parallel environment for cpus > 1", env.GRIDVM_SGE_PE ?? "gvm_smp")
  .option("--sge-mem-complex <name>", "consumable complex for VM memory", env.GRIDVM_SGE_MEM_COMPLEX ?? "gvm_mem")
  .option("--agent-socket <template>", "node agent socket on a host ({host} = its name)", env.GRIDVM_AGENT_SOCKET_TEMPLATE)
  .option("--job-log-dir <dir>", "where job output lands (shared filesystem)", env.GRIDVM_JOB_LOG_DIR)
  .option("--admin-group <name...>", "groups whose members may do everything", (env.GRIDVM_ADMIN_GROUPS ?? "gridvm:admins").split(","))
  .option("--workers <n>", "concurrent VMInstance reconciles", env.GRIDVM_WORKERS ?? "4")
  .option("--job-poll-ms <ms>", "how often the batch system's job list is read", env.GRIDVM_JOB_POLL_MS ?? "2000")
  .option("--metrics-addr <host:port>", "/metrics /healthz /readyz", env.GRIDVM_METRICS_ADDR ?? "127.0.0.1:18080")
  .option("--no-leader-elect", "reconcile without a Lease (only ever run one replica then)")
  .option("--lease-namespace <ns>", "namespace of the leader Lease", env.GRIDVM_LEASE_NAMESPACE ?? "kube-system")
  .option("--lease-name <name>", "name of the leader Lease", "gridvm-controller")
  .parse();

type Opts = Record<string, string | string[] | boolean | undefined>;
const o = program.opts<Opts>();
const str = (k: string): string | undefined => (typeof o[k] === "string" ? (o[k] as string) : undefined);

const log = createLogger("gridvm-controller");
const kc = new KubeConfig();
const kubeconfig = str("kubeconfig");
if (kubeconfig) kc.loadFromFile(kubeconfig);
else kc.loadFromDefault();

const base = defaultStorageRoots(str("baseDir"));
const roots = {
  storage: str("storageRoot") ?? base.storage,
  import: str("importRoot") ?? base.import,
  iso: str("isoRoot") ?? base.iso,
  images: str("imagesRoot") ?? base.images,
};
if (str("batchBackend") !== "gridengine") {
  log.error({ backend: str("batchBackend") }, "unknown --batch-backend; supported: gridengine");
  process.exit(2);
}
const backend = new GridEngineBackend({
  sgeRoot: str("sgeRoot")!,
  sgeCell: str("sgeCell")!,
  queue: str("sgeQueue"),
  parallelEnvironment: str("sgePe")!,
  memoryComplex: str("sgeMemComplex")!,
});
const [metricsHost, metricsPort] = (str("metricsAddr") ?? "127.0.0.1:18080").split(":");
const socketTemplate = str("agentSocket");
const manager = new Manager({
  kc,
  backend,
  roots,
  jobCommand: (ref) => gridvmJobCommand(ref, socketTemplate ? { socketTemplate } : {}),
  authorizer: (caches) => cacheAuthorizer(caches, o.adminGroup as string[]),
  log,
  workers: Number(str("workers")),
  jobPollMs: Number(str("jobPollMs")),
  jobLogDir: str("jobLogDir"),
  leaderElection: o.leaderElect === false ? false : { namespace: str("leaseNamespace")!, name: str("leaseName")! },
  metricsHost,
  metricsPort: Number(metricsPort),
});

const shutdown = new Shutdown(log);
shutdown.register({ name: "manager", run: () => manager.stop(), timeoutMs: 20_000 });
shutdown.listen();
manager.start().catch((err: unknown) => {
  log.error({ err: (err as Error).message }, "could not start");
  process.exit(1);
});
