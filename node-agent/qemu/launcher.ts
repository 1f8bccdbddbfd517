import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, mkdir, readFile, writeFile, rm } from "node:fs/promises";
import type { HostRunner } from "../exec/host-runner.js";
import { QmpClient } from "./qmp-client.js";
import { qemuArgs, type QemuSpec } from "./qemu-args.js";
import { vmPaths, writeTombstone } from "./runtime-dir.js";

export const QEMU_BINARY = "qemu-system-x86_64";

export class QemuStartError extends Error {
  constructor(
    readonly key: string,
    readonly stderrTail: string,
    reason: string,
  ) {
    super(`qemu for ${key} ${reason}${stderrTail ? `: ${stderrTail}` : ""}`);
    this.name = "QemuStartError";
  }
}

export interface StartedVm {
  pid: number;
  vncDisplay: number;
  vncPassword: string;
}

export type LaunchSpec = Omit<QemuSpec, "files" | "serialSocket"> & { withSerialSocket?: boolean };

/**
 * Starts qemu detached from the agent — own session, stdio in files, not waited for — so the
 * agent can exit or crash and the VM keeps running (DESIGN invariant 3). Waits until QMP answers,
 * then sets a fresh VNC password (VNC refuses everyone before that). A qemu that dies on start
 * raises QemuStartError with its stderr tail and leaves a tombstone, so it is not retried in a loop.
 */
export async function startQemu(
  host: HostRunner,
  runtimeDir: string,
  key: string,
  launch: LaunchSpec,
  startTimeoutMs = 10_000,
): Promise<StartedVm> {
  const p = vmPaths(runtimeDir, key);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  await rm(p.exited, { force: true });
  const spec: QemuSpec = {
    ...launch,
    files: { pidFile: p.pidFile, qmpSocket: p.qmpSocket, serialLog: p.serialLog },
    ...(launch.withSerialSocket ? { serialSocket: p.serialSocket } : {}),
  };
  await writeFile(p.spec, JSON.stringify(spec, null, 2) + "\n");
  await writeFile(p.vncDisplay, `${spec.vnc.display}\n`);

  const out = await open(p.stdout, "w");
  const err = await open(p.stderr, "w");
  const argv = [...host.prefix, QEMU_BINARY, ...qemuArgs(spec)];
  let exitCode: number | null | undefined;
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ["ignore", out.fd, err.fd],
    });
    child.on("exit", (code, sig) => (exitCode = code ?? (sig ? 128 : null)));
    child.on("error", () => (exitCode = -1));
    child.unref();
  } finally {
    await out.close();
    await err.close();
  }

  const deadline = Date.now() + startTimeoutMs;
  let qmp: QmpClient | undefined;
  while (!qmp) {
    if (exitCode !== undefined) return fail(`exited on start (code ${exitCode})`);
    if (Date.now() > deadline) return fail(`did not answer on QMP within ${startTimeoutMs} ms`);
    qmp = await QmpClient.connect(p.qmpSocket, 2_000).catch(() => undefined);
    if (!qmp) await sleep(20);
  }
  try {
    const vncPassword = randomBytes(6).toString("base64url").slice(0, 8); // VNC auth uses 8 chars
    await qmp.execute("set_password", { protocol: "vnc", password: vncPassword });
    await writeFile(p.vncPassword, vncPassword + "\n", { mode: 0o600 });
    const pid = Number((await readFile(p.pidFile, "utf8")).trim());
    return { pid, vncDisplay: spec.vnc.display, vncPassword };
  } finally {
    qmp.close();
  }

  async function fail(reason: string): Promise<never> {
    const tail = await stderrTail(p.stderr);
    await writeTombstone(runtimeDir, key, {
      reason: "start-failed",
      at: new Date().toISOString(),
      message: `${reason}: ${tail}`,
    });
    throw new QemuStartError(key, tail, reason);
  }
}

/** The last lines of qemu's stderr, one line, for Events and conditions. */
export async function stderrTail(file: string, lines = 5): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.trim().split("\n").slice(-lines).join(" | ");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
