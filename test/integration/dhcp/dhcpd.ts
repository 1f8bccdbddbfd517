import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "../../../controller/machinery/command.js";
import type { OmapiKey } from "../../../controller/dhcp/omapi/client.js";

const here = path.dirname(fileURLToPath(import.meta.url));

export interface TestDhcpd {
  netns: string;
  dir: string;
  /** Unix socket forwarded to dhcpd's OMAPI port inside the namespace. */
  omapiSocket: string;
  key: OmapiKey;
  leasesFile: string;
  stop(): Promise<void>;
}

const ip = (...args: string[]) => runCommand("ip", args, { timeoutMs: 10_000 });

/**
 * A real ISC dhcpd in a network namespace of its own (veth pair inside it holding 192.168.100.1/24,
 * so nothing touches the host's network), with an OMAPI key, reachable from the test through a
 * Unix socket. stop() kills everything started in the namespace and removes it and the files.
 */
export async function startDhcpd(): Promise<TestDhcpd> {
  const netns = `gvomapi-${process.pid}-${randomBytes(3).toString("hex")}`;
  const dir = mkdtempSync(path.join(tmpdir(), "gridvm-dhcpd-"));
  const key: OmapiKey = { name: "gridvm-omapi", secret: randomBytes(32).toString("base64") };
  const omapiSocket = path.join(dir, "omapi.sock");
  const leasesFile = path.join(dir, "dhcpd.leases");
  let forwarder: ChildProcess | undefined;

  const stop = async (): Promise<void> => {
    forwarder?.kill("SIGTERM");
    // Everything running in our namespace is ours (dhcpd, the forwarder).
    const pids = await ip("netns", "pids", netns).then(
      (r) => r.stdout.split(/\s+/).filter(Boolean),
      () => [],
    );
    for (const pid of pids) safeKill(Number(pid), "SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of pids) safeKill(Number(pid), "SIGKILL");
    await ip("netns", "del", netns).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await ip("netns", "add", netns);
    await ip("-n", netns, "link", "set", "lo", "up");
    await ip("-n", netns, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
    await ip("-n", netns, "addr", "add", "192.168.100.1/24", "dev", "v0");
    await ip("-n", netns, "link", "set", "v0", "up");
    await ip("-n", netns, "link", "set", "v1", "up");
    const conf = path.join(dir, "dhcpd.conf");
    writeFileSync(
      conf,
      [
        "omapi-port 7911;",
        `key ${key.name} { algorithm hmac-md5; secret "${key.secret}"; };`,
        `omapi-key ${key.name};`,
        "authoritative;",
        "ddns-update-style none;",
        "default-lease-time 600;",
        "subnet 192.168.100.0 netmask 255.255.255.0 { }",
        "",
      ].join("\n"),
    );
    writeFileSync(leasesFile, "");
    // Without -f dhcpd daemonizes once its sockets are open; it writes its pid file.
    await runCommand(
      "ip",
      [
        "netns",
        "exec",
        netns,
        "/usr/sbin/dhcpd",
        "-4",
        "-q",
        "-cf",
        conf,
        "-lf",
        leasesFile,
        "-pf",
        path.join(dir, "dhcpd.pid"),
        "v0",
      ],
      { timeoutMs: 15_000 },
    );
    forwarder = spawn(
      "ip",
      [
        "netns",
        "exec",
        netns,
        process.execPath,
        path.join(here, "unix-forward.mjs"),
        omapiSocket,
        "127.0.0.1",
        "7911",
      ],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("OMAPI forwarder did not start")), 10_000);
      forwarder?.stdout?.once("data", () => {
        clearTimeout(timer);
        resolve();
      });
      forwarder?.once("exit", (code) => reject(new Error(`OMAPI forwarder exited (${code})`)));
    });
    return { netns, dir, omapiSocket, key, leasesFile, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function safeKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function readLeases(d: TestDhcpd): string {
  return readFileSync(d.leasesFile, "utf8");
}
