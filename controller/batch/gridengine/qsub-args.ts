import type { JobSpec } from "../batch-backend.js";

export interface QsubSettings {
  /** Queue to submit to; undefined lets Grid Engine pick. */
  queue?: string;
  /** Parallel environment with allocation_rule $pe_slots, for cpus > 1. */
  parallelEnvironment: string;
  /** Consumable complex (MEMORY, consumable JOB) that holds each host's VM memory. */
  memoryComplex: string;
}

const NAME_OK = /^[A-Za-z][^/:@\\*?\s]*$/;
const ENV_NAME_OK = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * JobSpec -> qsub argv (everything after "qsub"). Pure, so the mapping is table-tested.
 * -b y -shell n: the command is executed directly, never through a shell (invariant 6).
 * -notify: SIGUSR2 comes `notify` seconds (queue setting) before qdel's or h_rt's SIGKILL,
 * the VM's window for a graceful powerdown. -r n: a VM is not silently restarted elsewhere.
 */
export function qsubArgs(spec: JobSpec, settings: QsubSettings): string[] {
  if (!NAME_OK.test(spec.name)) {
    throw new Error(
      `invalid Grid Engine job name ${JSON.stringify(spec.name)}: must start with a letter, no / : @ \\ * ? or spaces`,
    );
  }
  const [program, ...programArgs] = spec.command;
  if (!program || !program.startsWith("/"))
    throw new Error(`job command must start with an absolute path, got ${JSON.stringify(program)}`);
  const args = ["-terse", "-b", "y", "-shell", "n", "-notify", "-r", "n", "-N", spec.name];
  if (settings.queue) args.push("-q", settings.queue);
  args.push("-wd", spec.workingDirectory ?? "/");
  args.push("-o", spec.outputPath ?? "/dev/null", "-j", "y");
  const resources: string[] = [];
  if (spec.memoryBytes !== undefined) {
    if (!Number.isSafeInteger(spec.memoryBytes) || spec.memoryBytes <= 0)
      throw new Error(`memoryBytes must be a positive integer, got ${spec.memoryBytes}`);
    resources.push(`${settings.memoryComplex}=${spec.memoryBytes}`);
  }
  if (spec.timeLimitSeconds !== undefined) {
    if (!Number.isSafeInteger(spec.timeLimitSeconds) || spec.timeLimitSeconds <= 0)
      throw new Error(`timeLimitSeconds must be a positive integer, got ${spec.timeLimitSeconds}`);
    resources.push(`h_rt=${spec.timeLimitSeconds}`);
  }
  if (resources.length > 0) args.push("-l", resources.join(","));
  const cpus = spec.cpus ?? 1;
  if (!Number.isSafeInteger(cpus) || cpus < 1)
    throw new Error(`cpus must be an integer >= 1, got ${cpus}`);
  if (cpus > 1) args.push("-pe", settings.parallelEnvironment, String(cpus));
  for (const [key, value] of Object.entries(spec.env ?? {})) {
    if (!ENV_NAME_OK.test(key))
      throw new Error(`invalid environment variable name ${JSON.stringify(key)}`);
    // qsub splits -v on commas; a value with one would silently become two variables.
    if (value.includes(","))
      throw new Error(`environment value of ${key} must not contain a comma`);
    args.push("-v", `${key}=${value}`);
  }
  args.push(program, ...programArgs);
  return args;
}

/** `qsub -terse` prints "42" (or "42.1-10:1" for array jobs). */
export function parseQsubTerse(stdout: string): string {
  const m = /^(\d+)(?:\.|\s|$)/.exec(stdout.trim());
  if (!m) throw new Error(`qsub -terse printed no job id: ${JSON.stringify(stdout.slice(0, 200))}`);
  return m[1]!;
}
