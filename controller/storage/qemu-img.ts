import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { runCommand } from "../machinery/command.js";

export interface ImageInfo {
  virtualSize: number;
  actualSize?: number;
  format: string;
  backingFile?: string;
}

const QEMU_IMG = "qemu-img";

/**
 * qcow2 discs through qemu-img. Every file is made under a temporary name and renamed into place,
 * so a crash never leaves a half-written disc that a later reconcile would take for finished.
 */
export async function createBlankDisk(path: string, sizeBytes: bigint): Promise<void> {
  await writeAtomically(path, (tmp) => runCommand(QEMU_IMG, ["create", "-q", "-f", "qcow2", tmp, sizeBytes.toString()], { timeoutMs: 60_000 }));
}

/** A copy-on-write overlay; the backing path is stored absolute (`-F` is required by qemu 7). */
export async function createOverlay(path: string, backingPath: string): Promise<void> {
  await writeAtomically(path, (tmp) =>
    runCommand(QEMU_IMG, ["create", "-q", "-f", "qcow2", "-b", backingPath, "-F", "qcow2", tmp], { timeoutMs: 60_000 }),
  );
}

/** A full copy of an image (any format qemu-img reads) as qcow2. Large images take a while. */
export async function copyImage(source: string, path: string): Promise<void> {
  await writeAtomically(path, (tmp) => runCommand(QEMU_IMG, ["convert", "-q", "-O", "qcow2", source, tmp], { timeoutMs: 60 * 60_000 }));
}

export async function imageInfo(path: string): Promise<ImageInfo> {
  const { stdout } = await runCommand(QEMU_IMG, ["info", "--output=json", "-U", path], { timeoutMs: 30_000 });
  const raw = JSON.parse(stdout) as { "virtual-size": number; "actual-size"?: number; format: string; "full-backing-filename"?: string; "backing-filename"?: string };
  return {
    virtualSize: raw["virtual-size"],
    actualSize: raw["actual-size"],
    format: raw.format,
    backingFile: raw["full-backing-filename"] ?? raw["backing-filename"],
  };
}

export async function fileExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function writeAtomically(path: string, make: (tmp: string) => Promise<unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  const tmp = `${path}.partial`;
  await rm(tmp, { force: true });
  try {
    await make(tmp);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
