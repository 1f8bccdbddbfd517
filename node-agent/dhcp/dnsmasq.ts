import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { HOST_COMMAND_TIMEOUT_MS, type HostRunner } from "../exec/host-runner.js";
import { readProcessArgv } from "../qemu/proc.js";
import {
  dnsmasqArgs,
  dnsmasqPaths,
  type DhcpHostEntry,
  type DnsmasqConfig,
} from "./dnsmasq-config.js";

export interface ObservedDnsmasq {
  bridge: string;
  pid: number;
  /** argv[1..] of the running process, to compare with the desired argv. */
  args: string[];
}

/** Running dnsmasqs (by pidfile, verified through /proc) and every host file, per bridge. */
export async function observeDhcp(
  stateDir: string,
): Promise<{ servers: ObservedDnsmasq[]; hosts: DhcpHostEntry[] }> {
  const servers: ObservedDnsmasq[] = [];
  const hosts: DhcpHostEntry[] = [];
  for (const bridge of await listDir(stateDir)) {
    const p = dnsmasqPaths(stateDir, bridge);
    const pid = Number((await readFile(p.pidFile, "utf8").catch(() => "")).trim());
    if (pid > 0) {
      const argv = await readProcessArgv(pid);
      if (argv && path.basename(argv[0] ?? "") === "dnsmasq")
        servers.push({ bridge, pid, args: argv.slice(1) });
    }
    for (const file of await listDir(p.hostsDir)) {
      if (file.startsWith(".")) continue; // a half-written entry; dnsmasq ignores these too
      hosts.push({
        bridge,
        file,
        content: await readFile(path.join(p.hostsDir, file), "utf8").catch(() => ""),
      });
    }
  }
  return { servers, hosts };
}

/**
 * Starts one bridge's dnsmasq; it daemonizes itself and writes its pidfile before we return.
 * It then runs as nobody, so `stateDir` and its parents must be traversable by others (0755).
 */
export async function startDnsmasq(
  host: HostRunner,
  stateDir: string,
  cfg: DnsmasqConfig,
): Promise<void> {
  const p = dnsmasqPaths(stateDir, cfg.bridge);
  await mkdir(p.hostsDir, { recursive: true, mode: 0o755 });
  await chmod(p.dir, 0o755);
  await chmod(p.hostsDir, 0o755);
  await host.run("dnsmasq", dnsmasqArgs(stateDir, cfg), { timeoutMs: HOST_COMMAND_TIMEOUT_MS });
}

export async function stopDnsmasq(pid: number): Promise<void> {
  signal(pid, "SIGTERM");
  for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  if (alive(pid)) signal(pid, "SIGKILL");
}

/** Atomic: dnsmasq's inotify ignores dotfiles, then sees the rename as one complete file. */
export async function writeDhcpHost(stateDir: string, entry: DhcpHostEntry): Promise<void> {
  const dir = dnsmasqPaths(stateDir, entry.bridge).hostsDir;
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${entry.file}.tmp`);
  await writeFile(tmp, entry.content, { mode: 0o644 });
  await rename(tmp, path.join(dir, entry.file));
}

/** dnsmasq does not notice deletions by inotify: SIGHUP makes it re-read the directory. */
export async function removeDhcpHost(
  stateDir: string,
  bridge: string,
  file: string,
  pid: number | undefined,
): Promise<void> {
  await rm(path.join(dnsmasqPaths(stateDir, bridge).hostsDir, file), { force: true });
  if (pid) signal(pid, "SIGHUP");
}

export async function removeDnsmasqState(stateDir: string, bridge: string): Promise<void> {
  await rm(dnsmasqPaths(stateDir, bridge).dir, { recursive: true, force: true });
}

async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
