import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../controller/machinery/command.js";
import { ADMIN_KUBECONFIG, ROOT } from "./paths.js";

/**
 * The integration project's global setup: brings the real local cluster up with the same
 * hack/local-up.sh a person uses (idempotent), and takes it down afterwards when this run was the
 * one that started it — unless GRIDVM_KEEP_CLUSTER=1.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const wasUp = existsSync(ADMIN_KUBECONFIG) && (await apiserverAnswers());
  const started = Date.now();
  await runCommand("bash", [join(ROOT, "hack/local-up.sh")], { timeoutMs: 45 * 60_000 }).catch((err: Error) => {
    throw new Error(`hack/local-up.sh failed — the integration tests need the local cluster:\n${err.message}`);
  });
  console.log(`[global-setup] local cluster ${wasUp ? "already up" : "started"} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return async () => {
    if (wasUp || process.env.GRIDVM_KEEP_CLUSTER === "1") return;
    await runCommand("bash", [join(ROOT, "hack/local-down.sh")], { timeoutMs: 5 * 60_000 });
  };
}

async function apiserverAnswers(): Promise<boolean> {
  try {
    await runCommand("bash", ["-c", 'source "$1/hack/lib/common.sh"; source "$1/hack/lib/control-plane.sh"; apiserver_ready', "_", ROOT], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}
