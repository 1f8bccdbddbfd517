import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GridEngineBackend } from "../../controller/batch/gridengine/gridengine-backend.js";
import { runCommand } from "../../controller/machinery/command.js";
import { ROOT, STATE_DIR } from "./paths.js";

/** The local Grid Engine, as the controller sees it (settings from hack/gridengine's env file). */
export function gridEngine(): GridEngineBackend {
  const env = Object.fromEntries(
    readFileSync(join(STATE_DIR, "gridengine.env"), "utf8")
      .split("\n")
      .map((l) => /^([A-Z_]+)=(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, "")]),
  );
  return new GridEngineBackend({
    sgeRoot: env.SGE_ROOT ?? "/var/lib/gridengine",
    sgeCell: env.SGE_CELL ?? "default",
    queue: env.GRIDVM_SGE_QUEUE,
    parallelEnvironment: env.GRIDVM_SGE_PE ?? "gvm_smp",
    memoryComplex: env.GRIDVM_SGE_MEM_COMPLEX ?? "gvm_mem",
  });
}

/** Runs a hack/ script (idempotent ones: controller-up, controller-down, ...). */
export async function hack(script: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await runCommand("bash", [join(ROOT, "hack", script)], { timeoutMs: 180_000, env });
  return stdout;
}

/** Runs a function of hack/lib in a bash that sourced common.sh and control-plane.sh. */
export async function hackLib(call: string): Promise<string> {
  const { stdout } = await runCommand("bash", ["-c", `source "$1/hack/lib/common.sh"; source "$1/hack/lib/control-plane.sh"; ${call}`, "_", ROOT], { timeoutMs: 180_000 });
  return stdout;
}

export function daemonPid(name: string): number | undefined {
  try {
    return Number(readFileSync(join(STATE_DIR, "run", `${name}.pid`), "utf8").trim());
  } catch {
    return undefined;
  }
}
