import { removeDhcpHost, startDnsmasq, stopDnsmasq, writeDhcpHost } from "../dhcp/dnsmasq.js";
import {
  applyFilter,
  attachTap,
  createTap,
  removeFilter,
  removeTap,
} from "../network/host-network.js";
import { startQemu, type StartedVm } from "../qemu/launcher.js";
import { removeVmDir, vmPaths, writeTombstone } from "../qemu/runtime-dir.js";
import { stopQemu } from "../qemu/stop.js";
import type { HostContext } from "./context.js";
import type { Action, Plan } from "./types.js";

export interface ActionResult {
  action: Action;
  error?: Error;
  started?: StartedVm;
}

/**
 * Runs a plan, one action after another. A failing action is recorded and the rest still run:
 * one VM's broken disk must not keep the others from starting. Thin: every decision was made
 * by the planner.
 */
export async function executePlan(plan: Plan, ctx: HostContext): Promise<ActionResult[]> {
  // Stops come first and are independent: each guest gets its ACPI grace period at the same
  // time, so the end of an exam takes one grace period, not one per VM.
  const stops = plan.actions.filter((a) => a.kind === "stopQemu");
  const rest = plan.actions.filter((a) => a.kind !== "stopQemu");
  const results = await Promise.all(stops.map((a) => runOne(a, ctx)));
  for (const action of rest) results.push(await runOne(action, ctx));
  return results;
}

async function runOne(action: Action, ctx: HostContext): Promise<ActionResult> {
  try {
    const started = await run(action, ctx);
    ctx.log.info({ action: describe(action) }, "done");
    return started ? { action, started } : { action };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    ctx.log.error({ action: describe(action), err: error.message }, "failed");
    return { action, error };
  }
}

async function run(a: Action, ctx: HostContext): Promise<StartedVm | void> {
  switch (a.kind) {
    case "stopQemu": {
      const outcome = await stopQemu(a.pid, vmPaths(ctx.runtimeDir, a.key).qmpSocket, {
        graceMs: ctx.stopGraceMs,
      });
      ctx.log.info({ key: a.key, outcome }, "qemu stopped");
      return;
    }
    case "markExited":
      return writeTombstone(ctx.runtimeDir, a.key, {
        reason: "exited",
        at: new Date().toISOString(),
      });
    case "removeVmDir":
      return removeVmDir(ctx.runtimeDir, a.key);
    case "removeDhcpHost":
      return removeDhcpHost(ctx.dhcpStateDir, a.bridge, a.file, a.dnsmasqPid);
    case "removeFilter":
      return removeFilter(ctx.host, a.observed, ctx.ebtables);
    case "removeTap":
      return removeTap(ctx.host, a.tap);
    case "stopDnsmasq":
      return stopDnsmasq(a.pid);
    case "startDnsmasq":
      return startDnsmasq(ctx.host, ctx.dhcpStateDir, a.config);
    case "createTap":
      return createTap(ctx.host, a.tap, a.bridge);
    case "attachTap":
      return attachTap(ctx.host, a.tap, a.bridge);
    case "applyFilter":
      return applyFilter(ctx.host, a.desired, a.observed, ctx.ebtables);
    case "writeDhcpHost":
      return writeDhcpHost(ctx.dhcpStateDir, a.entry);
    case "startQemu":
      return startQemu(ctx.host, ctx.runtimeDir, a.vm.key, {
        name: `${a.vm.namespace}/${a.vm.name}`,
        accel: ctx.accel,
        memoryMiB: a.vm.memoryMiB,
        cpus: a.vm.cpus,
        disks: a.vm.disks,
        ...(a.vm.cdrom ? { cdrom: a.vm.cdrom } : {}),
        ...(a.vm.boot ? { boot: a.vm.boot } : {}),
        net: { tap: a.vm.tap, mac: a.vm.mac },
        vnc: { listen: ctx.vncListen, display: a.vncDisplay },
        ...(ctx.tcgTbSizeMiB ? { tcgTbSizeMiB: ctx.tcgTbSizeMiB } : {}),
        withSerialSocket: ctx.serialSocket ?? false,
      });
  }
}

/** A short, log-friendly name for an action. */
export function describe(a: Action): string {
  switch (a.kind) {
    case "stopQemu":
    case "markExited":
    case "removeVmDir":
      return `${a.kind} ${a.key}`;
    case "startQemu":
      return `startQemu ${a.vm.key} :${a.vncDisplay}`;
    case "removeDhcpHost":
      return `removeDhcpHost ${a.bridge}/${a.file}`;
    case "writeDhcpHost":
      return `writeDhcpHost ${a.entry.bridge}/${a.entry.file}`;
    case "removeFilter":
      return `removeFilter ${a.observed.id}`;
    case "applyFilter":
      return `applyFilter ${a.tap} ${a.desired.hash}`;
    case "startDnsmasq":
      return `startDnsmasq ${a.config.bridge}`;
    case "stopDnsmasq":
      return `stopDnsmasq ${a.bridge}`;
    default:
      return `${a.kind} ${a.tap}`;
  }
}
