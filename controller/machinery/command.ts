import { execa, type Options } from "execa";

/** Raised when an external command fails; carries the argv and the command's stderr. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
    reason: string,
  ) {
    super(`${argv.join(" ")}: ${reason}${stderr ? `: ${stderr.trim().split("\n").slice(-5).join(" | ")}` : ""}`);
    this.name = "CommandError";
  }
}

export interface RunOptions {
  /** Hard limit; the child is killed (SIGTERM, then SIGKILL) when it passes. */
  timeoutMs: number;
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Exit codes that are not failures (e.g. `qstat -j` answers 1 for "no such job"). */
  okExitCodes?: readonly number[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs one external command from an argv array — never through a shell (DESIGN invariant 6) —
 * with a mandatory timeout. A failure raises CommandError whose message ends with stderr, so the
 * reason reaches conditions and Events without anyone reading logs.
 */
export async function runCommand(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const argv = [file, ...args];
  const execaOpts: Options = {
    timeout: opts.timeoutMs,
    forceKillAfterDelay: 2_000,
    reject: false,
    shell: false,
    stripFinalNewline: true,
    env: opts.env,
    extendEnv: true,
    cwd: opts.cwd,
    input: opts.input,
    stdin: opts.input === undefined ? "ignore" : undefined,
  };
  const result = await execa(file, [...args], execaOpts);
  const stdout = String(result.stdout ?? "");
  const stderr = String(result.stderr ?? "");
  if (result.timedOut) {
    throw new CommandError(argv, undefined, stderr, `timed out after ${opts.timeoutMs} ms`);
  }
  if (result.failed && result.exitCode === undefined) {
    throw new CommandError(argv, undefined, stderr, result.shortMessage ?? "could not start");
  }
  const exitCode = result.exitCode ?? 0;
  if (exitCode !== 0 && !(opts.okExitCodes ?? []).includes(exitCode)) {
    throw new CommandError(argv, exitCode, stderr || stdout, `exit code ${exitCode}`);
  }
  return { stdout, stderr, exitCode };
}
