import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { InstanceRef } from "../../node-agent/lease/protocol.js";

export interface LeaseCommandOptions {
  /** Node on the execution hosts; default: the one running the controller. */
  nodePath?: string;
  /** Agent socket on the host; "{host}" becomes the host's name. Default: the agent's default. */
  socketTemplate?: string;
  /** How long the job waits for an agent before it fails. */
  waitSeconds?: number;
}

/**
 * argv of `gridvm-job` for a VM, with absolute paths (the job starts in "/" on another host that
 * shares this filesystem layout). From sources (tsx) it runs the .ts through tsx's loader; from
 * the build it runs the compiled .js next to this file's twin in dist/.
 */
export function gridvmJobCommand(instance: InstanceRef, opts: LeaseCommandOptions = {}): string[] {
  const node = opts.nodePath ?? process.execPath;
  const fromSources = import.meta.url.endsWith(".ts");
  const job = fileURLToPath(
    new URL(`../../node-agent/job/gridvm-job.${fromSources ? "ts" : "js"}`, import.meta.url),
  );
  if (!existsSync(job)) throw new Error(`gridvm-job not found at ${job}`);
  const argv = fromSources ? [node, "--import", import.meta.resolve("tsx"), job] : [node, job];
  argv.push("--namespace", instance.namespace, "--name", instance.name, "--uid", instance.uid);
  if (opts.socketTemplate) argv.push("--socket", opts.socketTemplate);
  if (opts.waitSeconds !== undefined) argv.push("--wait-seconds", String(opts.waitSeconds));
  return argv;
}
