import { readFile } from "node:fs/promises";

/** argv of a live process from /proc, or undefined when it is gone (or a zombie). */
export async function readProcessArgv(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8");
    if (!raw) return undefined;
    return raw.replace(/\0$/, "").split("\0");
  } catch {
    return undefined;
  }
}

/** Resident set size in KiB (VmRSS), or undefined. */
export async function readRssKiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
