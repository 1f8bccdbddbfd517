import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { runCommand } from "../../../controller/machinery/command.js";
import { createLogger } from "../../../controller/machinery/log.js";
import { netnsRunner } from "../../../node-agent/exec/host-runner.js";
import { executePlan, type ActionResult } from "../../../node-agent/planner/execute.js";
import type { HostContext } from "../../../node-agent/planner/context.js";
import { observeHost } from "../../../node-agent/planner/observe.js";
import { plan } from "../../../node-agent/planner/plan.js";
import type { DesiredVm, Plan } from "../../../node-agent/planner/types.js";
import { tapNameFor } from "../../../node-agent/network/names.js";
import { probeAccel, TINY_GUEST_CMDLINE } from "../../../node-agent/qemu/accel-probe.js";
import { processAlive } from "../../../node-agent/qemu/proc.js";
import { observeVms } from "../../../node-agent/qemu/runtime-dir.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
export const CACHE =
  process.env.GRIDVM_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "gridvm");
export const GUEST = {
  kernel: path.join(CACHE, "guest/vmlinuz"),
  initrd: path.join(CACHE, "guest/initramfs.gz"),
};

/**
 * A throwaway "host": its own network namespace with a bridge (10.9.0.1/24, also the gateway),
 * and private runtime/DHCP directories. Everything is removed by destroy(), even after failures.
 */
export class TestHost {
  readonly netns = `gvmt-${randomBytes(4).toString("hex")}`;
  readonly bridge = "vbr0";
  readonly bridgeIp = "10.9.0.1";
  bridgeMac = "";
  dir = "";
  ctx!: HostContext;

  async create(): Promise<void> {
    await runCommand("bash", [path.join(ROOT, "hack/build-tiny-guest.sh")], { timeoutMs: 300_000 });
    this.dir = await mkdtemp(path.join(tmpdir(), "gridvm-agent-it-"));
    await chmod(this.dir, 0o755); // dnsmasq drops to nobody and must still read its hosts dir
    await runCommand("ip", ["netns", "add", this.netns], { timeoutMs: 5_000 });
    const ip = (...args: string[]) =>
      runCommand("ip", ["-n", this.netns, ...args], { timeoutMs: 5_000 });
    await ip("link", "set", "lo", "up");
    // A fixed MAC: a bridge without one takes its lowest port's, which would change under the VMs.
    await ip("link", "add", this.bridge, "address", "02:00:0a:09:00:01", "type", "bridge");
    await ip("addr", "add", `${this.bridgeIp}/24`, "dev", this.bridge);
    await ip("link", "set", this.bridge, "up");
    const links = JSON.parse((await ip("-j", "link", "show", this.bridge)).stdout) as {
      address: string;
    }[];
    this.bridgeMac = links[0]!.address;
    const accel = await probeAccel(path.join(CACHE, "accel.json"), GUEST);
    this.ctx = {
      host: netnsRunner(this.netns),
      runtimeDir: path.join(this.dir, "vms"),
      dhcpStateDir: path.join(this.dir, "dhcp"),
      accel: accel.accel,
      vncListen: this.bridgeIp,
      serialSocket: true,
      stopGraceMs: 5_000,
      log: createLogger("node-agent-test", "warn"),
    };
  }

  /**
   * VM number `n` (1..254) of this host: isolated, on its bridge, address 10.9.0.n, booting the
   * tiny guest. Its uid names this host's namespace, so its tap never collides with another run's.
   */
  desiredVm(n: number, over: Partial<DesiredVm> = {}): DesiredVm {
    const uid = `it-uid-${n}-${this.netns}`;
    return {
      key: `run-${n}`,
      namespace: "doraz",
      name: `vm${n}`,
      uid,
      tap: tapNameFor(uid),
      mac: `de:af:de:af:00:${n.toString(16).padStart(2, "0")}`,
      ip: `10.9.0.${n}`,
      bridge: this.bridge,
      subnet: "10.9.0.0/24",
      isolated: true,
      gateway: { ip: this.bridgeIp, mac: this.bridgeMac },
      dhcp: "Dnsmasq",
      disks: [],
      memoryMiB: 128,
      cpus: 1,
      boot: { kernel: GUEST.kernel, initrd: GUEST.initrd, cmdline: TINY_GUEST_CMDLINE },
      ...over,
    };
  }

  /** One pass of the agent: observe, plan, execute. */
  async reconcile(desired: DesiredVm[]): Promise<{ plan: Plan; results: ActionResult[] }> {
    const p = await this.plan(desired);
    return { plan: p, results: await executePlan(p, this.ctx) };
  }

  async plan(desired: DesiredVm[]): Promise<Plan> {
    return plan(desired, await observeHost(this.ctx), { dhcpStateDir: this.ctx.dhcpStateDir });
  }

  /** Runs a command inside the namespace. */
  run(file: string, ...args: string[]) {
    return this.ctx.host.run(file, args, { timeoutMs: 15_000 });
  }

  async destroy(): Promise<void> {
    if (!this.dir) return;
    for (const vm of await observeVms(path.join(this.dir, "vms")).catch(() => [])) {
      if (vm.pid && processAlive(vm.pid)) process.kill(vm.pid, "SIGKILL");
    }
    for (const pidFile of await listPidFiles(path.join(this.dir, "dhcp"))) {
      const pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
      if (pid > 0 && processAlive(pid)) process.kill(pid, "SIGKILL");
    }
    await runCommand("ip", ["netns", "del", this.netns], { timeoutMs: 5_000 }).catch(
      () => undefined,
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function listPidFiles(dhcpDir: string): Promise<string[]> {
  const { readdir } = await import("node:fs/promises");
  const bridges = await readdir(dhcpDir).catch(() => [] as string[]);
  return bridges.map((b) => path.join(dhcpDir, b, "dnsmasq.pid"));
}

/** Polls `check` until it returns a value, or throws after `ms`. */
export async function eventually<T>(
  what: string,
  ms: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Runs one shell command in the tiny guest over its command serial port (a unix socket on the
 * host side) and returns its output and exit code.
 */
export function guestCommand(
  socketPath: string,
  command: string,
  timeoutMs = 20_000,
): Promise<{ output: string; code: number }> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let buf = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`guest command timed out: ${command}; got: ${buf}`));
    }, timeoutMs);
    s.setEncoding("utf8");
    s.on("connect", () => s.write(command + "\n"));
    s.on("data", (d: string) => {
      buf += d;
      const m = /GRIDVM-CMD-DONE (\d+)\n/.exec(buf);
      if (m) {
        clearTimeout(timer);
        s.destroy();
        resolve({
          output: buf.slice(0, m.index).replace(/^GRIDVM-CMD-READY\n/, ""),
          code: Number(m[1]),
        });
      }
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * Speaks the first steps of RFB from inside the namespace (a node one-liner under `ip netns
 * exec`): the server's version line and, after we answer 3.8, its list of security types.
 */
export async function vncHandshake(
  host: TestHost,
  port: number,
): Promise<{ version: string; securityTypes: number[] }> {
  const script = `
    const s = require("net").connect(${port}, ${JSON.stringify(host.bridgeIp)});
    let buf = Buffer.alloc(0), sent = false;
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!sent && buf.length >= 12) { sent = true; s.write("RFB 003.008\\n"); }
      if (buf.length >= 13 && buf.length >= 13 + buf[12]) {
        console.log(JSON.stringify({ version: buf.subarray(0, 12).toString().trim(), securityTypes: [...buf.subarray(13, 13 + buf[12])] }));
        process.exit(0);
      }
    });
    s.on("error", (e) => { console.error(e.message); process.exit(1); });
    setTimeout(() => process.exit(2), 5000);`;
  const { stdout } = await host.run(process.execPath, "-e", script);
  return JSON.parse(stdout) as { version: string; securityTypes: number[] };
}
