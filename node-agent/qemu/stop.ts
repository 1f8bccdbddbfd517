import { QmpClient } from "./qmp-client.js";
import { processAlive } from "./proc.js";

export interface StopOptions {
  /** How long the guest gets to power off after the ACPI button. */
  graceMs: number;
  /** How long `quit` gets before SIGKILL. */
  quitMs?: number;
}

export type StopOutcome = "powered-off" | "quit" | "killed" | "already-gone";

/**
 * Stops a VM the polite way first: ACPI powerdown over QMP, `quit` after the grace period,
 * SIGKILL as the last resort. Without QMP, SIGTERM (qemu exits cleanly on it), then SIGKILL.
 */
export async function stopQemu(
  pid: number,
  qmpSocket: string,
  opts: StopOptions,
): Promise<StopOutcome> {
  if (!processAlive(pid)) return "already-gone";
  const quitMs = opts.quitMs ?? 3_000;
  const qmp = await QmpClient.connect(qmpSocket, 2_000).catch(() => undefined);
  if (qmp) {
    try {
      await qmp.execute("system_powerdown").catch(() => undefined);
      if (await untilGone(pid, opts.graceMs)) return "powered-off";
      await qmp.execute("quit").catch(() => undefined);
      if (await untilGone(pid, quitMs)) return "quit";
    } finally {
      qmp.close();
    }
  } else {
    kill(pid, "SIGTERM");
    if (await untilGone(pid, quitMs)) return "quit";
  }
  kill(pid, "SIGKILL");
  await untilGone(pid, 2_000);
  return "killed";
}

async function untilGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !processAlive(pid);
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}
