import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { readProcessArgv } from "./proc.js";

/**
 * Each VM this host runs has a directory `<runtimeDir>/<vm-key>/`; it is how a restarted agent
 * finds and adopts its VMs (DESIGN invariant 3) instead of starting them again:
 *   qemu.pid      written by qemu itself (-pidfile)
 *   qmp.sock      the QMP socket
 *   vnc-display   the VNC display number
 *   spec.json     what the VM was started with
 *   exited.json   written once qemu is gone (exit or start failure): a tombstone that stops the
 *                 planner from starting the same run again
 */
export function vmPaths(runtimeDir: string, key: string) {
  const dir = path.join(runtimeDir, key);
  return {
    dir,
    pidFile: path.join(dir, "qemu.pid"),
    qmpSocket: path.join(dir, "qmp.sock"),
    serialSocket: path.join(dir, "serial1.sock"),
    serialLog: path.join(dir, "console.log"),
    stdout: path.join(dir, "qemu.stdout"),
    stderr: path.join(dir, "qemu.stderr"),
    vncDisplay: path.join(dir, "vnc-display"),
    vncPassword: path.join(dir, "vnc-password"),
    spec: path.join(dir, "spec.json"),
    exited: path.join(dir, "exited.json"),
  };
}

export interface Tombstone {
  reason: "exited" | "start-failed";
  at: string;
  message?: string;
}

export interface ObservedVm {
  key: string;
  /** Set only when the pidfile names a live qemu started for this very directory. */
  pid: number | undefined;
  vncDisplay: number | undefined;
  tap: string | undefined;
  exited: Tombstone | undefined;
}

/** Every VM directory and whether its qemu really runs (/proc/<pid>/cmdline names our pidfile). */
export async function observeVms(runtimeDir: string): Promise<ObservedVm[]> {
  const entries = await readdir(runtimeDir, { withFileTypes: true }).catch(() => []);
  const out: ObservedVm[] = [];
  for (const e of entries
    .filter((x) => x.isDirectory())
    .sort((a, b) => a.name.localeCompare(b.name))) {
    const p = vmPaths(runtimeDir, e.name);
    const pid = Number((await readFile(p.pidFile, "utf8").catch(() => "")).trim());
    const display = Number((await readFile(p.vncDisplay, "utf8").catch(() => "")).trim());
    const spec = await readJson<{ net?: { tap?: string } }>(p.spec);
    out.push({
      key: e.name,
      pid: pid > 0 && (await isOurQemu(pid, p.pidFile)) ? pid : undefined,
      vncDisplay: Number.isInteger(display) && display > 0 ? display : undefined,
      tap: spec?.net?.tap,
      exited: await readJson<Tombstone>(p.exited),
    });
  }
  return out;
}

/** A pid can be reused after a reboot or crash: only trust it if it is qemu with our pidfile. */
export async function isOurQemu(pid: number, pidFile: string): Promise<boolean> {
  const argv = await readProcessArgv(pid);
  if (!argv) return false;
  const i = argv.indexOf("-pidfile");
  return (
    path.basename(argv[0] ?? "").startsWith("qemu-system") && i >= 0 && argv[i + 1] === pidFile
  );
}

export async function writeTombstone(runtimeDir: string, key: string, t: Tombstone): Promise<void> {
  const p = vmPaths(runtimeDir, key);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  await writeFile(p.exited, JSON.stringify(t) + "\n");
}

export async function removeVmDir(runtimeDir: string, key: string): Promise<void> {
  await rm(vmPaths(runtimeDir, key).dir, { recursive: true, force: true });
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}
