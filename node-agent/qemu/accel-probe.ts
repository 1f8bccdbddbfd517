import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { runCommand } from "../../controller/machinery/command.js";
import { QEMU_BINARY } from "./launcher.js";

/**
 * The tiny guest's kernel command line (hack/build-tiny-guest.sh). no_timer_check: a vCPU starved
 * by many booting TCG guests fails the kernel's IO-APIC timer check and panics.
 */
export const TINY_GUEST_CMDLINE = "console=ttyS0 quiet mitigations=off no_timer_check";

export type Accel = "kvm" | "tcg";

export interface AccelVerdict {
  accel: Accel;
  reason: string;
  /** What the verdict depends on; a changed qemu or kernel probes again. */
  key: string;
}

export interface ProbeGuest {
  kernel: string;
  initrd: string;
}

/**
 * KVM or TCG? /dev/kvm existing proves nothing (FACTS.md: here a Linux guest hangs under KVM),
 * so boot the tiny guest under KVM and look for its serial marker within a few seconds. The
 * verdict is cached in `cacheFile` per qemu version and host kernel, so only the first start pays.
 */
export async function probeAccel(
  cacheFile: string,
  guest: ProbeGuest | undefined,
  timeoutMs = 8_000,
): Promise<AccelVerdict> {
  const { stdout: version } = await runCommand(QEMU_BINARY, ["--version"], { timeoutMs: 5_000 });
  const { stdout: kernel } = await runCommand("uname", ["-r"], { timeoutMs: 5_000 });
  const key = `${version.split("\n")[0]} / ${kernel}`;
  const cached = await readFile(cacheFile, "utf8")
    .then((t) => JSON.parse(t) as AccelVerdict)
    .catch(() => undefined);
  if (cached?.key === key) return cached;

  const verdict = await decide(guest, key, timeoutMs);
  await mkdir(path.dirname(cacheFile), { recursive: true });
  await writeFile(cacheFile, JSON.stringify(verdict) + "\n");
  return verdict;
}

async function decide(
  guest: ProbeGuest | undefined,
  key: string,
  timeoutMs: number,
): Promise<AccelVerdict> {
  if (!existsSync("/dev/kvm")) return { accel: "tcg", reason: "no /dev/kvm", key };
  if (!guest) return { accel: "kvm", reason: "/dev/kvm present (no probe guest to check it)", key };
  const ms = await bootsWithin(guest, timeoutMs);
  return ms === undefined
    ? {
        accel: "tcg",
        reason: `a guest under KVM showed no console output within ${timeoutMs} ms`,
        key,
      }
    : { accel: "kvm", reason: `a guest booted under KVM in ${ms} ms`, key };
}

/** Boots the guest under KVM with no devices; ms until its marker, or undefined. Always kills it. */
export async function bootsWithin(
  guest: ProbeGuest,
  timeoutMs: number,
): Promise<number | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), "gridvm-kvm-probe-"));
  const log = path.join(dir, "console.log");
  const child = spawn(
    QEMU_BINARY,
    [
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-machine",
      "q35",
      "-accel",
      "kvm",
      "-cpu",
      "host",
      "-m",
      "128",
      "-kernel",
      guest.kernel,
      "-initrd",
      guest.initrd,
      "-append",
      TINY_GUEST_CMDLINE,
      "-serial",
      `file:${log}`,
    ],
    { stdio: "ignore" },
  );
  const started = Date.now();
  try {
    while (Date.now() - started < timeoutMs && child.exitCode === null) {
      if ((await readFile(log, "utf8").catch(() => "")).includes("GRIDVM-GUEST-UP"))
        return Date.now() - started;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  } finally {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  }
}
