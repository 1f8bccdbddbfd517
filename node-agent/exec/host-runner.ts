import { runCommand, type RunOptions, type RunResult } from "../../controller/machinery/command.js";

/**
 * How the agent runs a host command. In production the agent runs on (or, for simulated hosts,
 * inside the namespaces of) its host, so commands run as they are; tests drive a network
 * namespace from outside, so every command is prefixed with `ip netns exec NS`.
 */
export interface HostRunner {
  run(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult>;
  /** The argv prefix that puts a command into the host's namespaces (empty in production). */
  readonly prefix: readonly string[];
}

export const localRunner: HostRunner = {
  prefix: [],
  run: (file, args, opts) => runCommand(file, args, opts),
};

export function netnsRunner(netns: string): HostRunner {
  const prefix = ["ip", "netns", "exec", netns];
  return {
    prefix,
    run: (file, args, opts) => runCommand("ip", ["netns", "exec", netns, file, ...args], opts),
  };
}

/** Every external command gets a hard limit; host commands are fast, so this is generous. */
export const HOST_COMMAND_TIMEOUT_MS = 10_000;
