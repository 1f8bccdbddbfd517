#!/usr/bin/env node
/**
 * gridvm-agent: the node agent of one execution host. Watches the VMInstances placed on this host,
 * accepts the leases of their gridvm-jobs on a unix socket, and makes the host's taps, ebtables
 * chains, dnsmasq entries and qemu processes match (node-agent/agent/agent.ts). Restarting it
 * never restarts a VM: qemu is not its child and is adopted by pidfile.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { Command } from "commander";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { hostname, networkInterfaces } from "node:os";
import path from "node:path";
import { EventRecorder, kubeEventSink } from "../../controller/machinery/events.js";
import { createLogger } from "../../controller/machinery/log.js";
import { Shutdown } from "../../controller/machinery/shutdown.js";
import { NodeAgent } from "../agent/agent.js";
import { Counters, countedRunner } from "../agent/counted-runner.js";
import { localRunner } from "../exec/host-runner.js";
import { DEFAULT_AGENT_SOCKET } from "../lease/protocol.js";
import { executePlan } from "../planner/execute.js";
import { observeHost } from "../planner/observe.js";
import { plan } from "../planner/plan.js";
import { probeAccel, type Accel } from "../qemu/accel-probe.js";

const env = process.env;
const program = new Command()
  .name("gridvm-agent")
  .description(
    "runs the VMs Grid Engine placed on this host: taps, ebtables chains, DHCP entries, qemu",
  )
  .option(
    "--host <name>",
    "this host's name, as Grid Engine and status.host know it",
    env.GRIDVM_HOST ?? hostname(),
  )
  .option(
    "--kubeconfig <file>",
    "kubeconfig (default: in-cluster, else $KUBECONFIG)",
    env.KUBECONFIG,
  )
  .option(
    "--socket <path>",
    "unix socket for gridvm-job leases",
    env.GRIDVM_AGENT_SOCKET ?? DEFAULT_AGENT_SOCKET,
  )
  .option(
    "--runtime-dir <dir>",
    "one directory per VM: pidfile, QMP socket, console",
    env.GRIDVM_RUNTIME_DIR ?? "/run/gridvm/vms",
  )
  .option(
    "--state-dir <dir>",
    "dnsmasq state per bridge, the accelerator verdict",
    env.GRIDVM_STATE_DIR ?? "/var/lib/gridvm/agent",
  )
  .option(
    "--vnc-address <ip>",
    "address VNC listens on and endpoints name (reachable from the head node)",
    env.GRIDVM_VNC_ADDRESS,
  )
  .option(
    "--guest-accel <mode>",
    "auto | kvm | tcg (auto boots a probe guest under KVM once)",
    env.GRIDVM_GUEST_ACCEL ?? "auto",
  )
  .option(
    "--probe-guest <dir>",
    "vmlinuz + initramfs.gz for the KVM probe",
    env.GRIDVM_PROBE_GUEST ?? "/var/lib/gridvm/images/tiny-guest",
  )
  .option(
    "--lease-grace <seconds>",
    "how long a job may stay disconnected before its VM is stopped",
    env.GRIDVM_LEASE_GRACE ?? "30",
  )
  .option(
    "--stop-grace <seconds>",
    "ACPI powerdown wait before quit and kill",
    env.GRIDVM_STOP_GRACE ?? "20",
  )
  .option("--resync <seconds>", "full pass even without changes", env.GRIDVM_RESYNC ?? "30")
  .option(
    "--guest-command-port",
    "give each VM a serial unix socket (the tiny guest's command channel; tests)",
    false,
  )
  .option(
    "--cleanup",
    "stop every VM of this host and remove its taps, chains and DHCP state, then exit",
  )
  .parse();

const o = program.opts<{
  host: string;
  kubeconfig?: string;
  socket: string;
  runtimeDir: string;
  stateDir: string;
  vncAddress?: string;
  guestAccel: string;
  probeGuest: string;
  leaseGrace: string;
  stopGrace: string;
  resync: string;
  guestCommandPort: boolean;
  cleanup?: boolean;
}>();
const log = createLogger("gridvm-agent").child({ host: o.host });

/** The first non-loopback IPv4 address that is not on one of our bridges. */
function defaultVncAddress(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name.startsWith("vbr") || name.startsWith("gvt")) continue;
    const a = addrs?.find((x) => x.family === "IPv4" && !x.internal);
    if (a) return a.address;
  }
  return "127.0.0.1";
}

async function accel(): Promise<Accel> {
  if (o.guestAccel === "kvm" || o.guestAccel === "tcg") return o.guestAccel;
  if (o.guestAccel !== "auto")
    throw new Error(`--guest-accel must be auto, kvm or tcg, not ${o.guestAccel}`);
  const guest = {
    kernel: path.join(o.probeGuest, "vmlinuz"),
    initrd: path.join(o.probeGuest, "initramfs.gz"),
  };
  const verdict = await probeAccel(
    path.join(o.stateDir, "accel.json"),
    existsSync(guest.kernel) && existsSync(guest.initrd) ? guest : undefined,
  );
  log.info(verdict, `guests run under ${verdict.accel}`);
  return verdict.accel;
}

/** The planner with nobody wanted: stops every VM (ACPI first) and frees what they held. */
async function cleanup(): Promise<void> {
  const ctx = {
    host: localRunner,
    runtimeDir: o.runtimeDir,
    dhcpStateDir: path.join(o.stateDir, "dhcp"),
    accel: "tcg" as const,
    vncListen: "127.0.0.1",
    stopGraceMs: Number(o.stopGrace) * 1000,
    log,
  };
  const p = plan([], await observeHost(ctx), { dhcpStateDir: ctx.dhcpStateDir });
  const results = await executePlan(p, ctx);
  const failed = results.filter((r) => r.error);
  log.info({ actions: p.actions.length, failed: failed.length }, "cleanup done");
  if (failed.length) process.exitCode = 1;
}

async function main(): Promise<void> {
  if (o.cleanup) return cleanup();
  const kc = new KubeConfig();
  if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else kc.loadFromDefault();
  const counters = new Counters();
  const dhcpStateDir = path.join(o.stateDir, "dhcp");
  // dnsmasq drops to nobody and must still reach its hosts directory.
  await mkdir(dhcpStateDir, { recursive: true, mode: 0o755 });
  await mkdir(o.runtimeDir, { recursive: true, mode: 0o700 });
  const agent = new NodeAgent({
    kc,
    host: o.host,
    socketPath: o.socket,
    vncAddress: o.vncAddress ?? defaultVncAddress(),
    leaseGraceMs: Number(o.leaseGrace) * 1000,
    resyncMs: Number(o.resync) * 1000,
    counters,
    log,
    events: new EventRecorder({
      component: "gridvm-agent",
      instance: o.host,
      sink: kubeEventSink(kc),
      log,
    }),
    ctx: {
      host: countedRunner(localRunner, counters),
      runtimeDir: o.runtimeDir,
      dhcpStateDir,
      accel: await accel(),
      vncListen: o.vncAddress ?? defaultVncAddress(),
      serialSocket: o.guestCommandPort,
      stopGraceMs: Number(o.stopGrace) * 1000,
      log,
    },
  });
  const shutdown = new Shutdown(log);
  shutdown.register({ name: "agent", run: () => agent.stop(), timeoutMs: 60_000 });
  shutdown.listen();
  await agent.start();
  log.info({ socket: o.socket, runtimeDir: o.runtimeDir, stateDir: o.stateDir }, "agent started");
}

main().catch((err: unknown) => {
  log.error({ err: (err as Error).message }, "could not start");
  process.exit(1);
});
