import { createHash } from "node:crypto";
import { HOST_COMMAND_TIMEOUT_MS, type HostRunner } from "../exec/host-runner.js";

/**
 * A link-local address for a bridge that has none, unique per host: dnsmasq needs an IPv4 address
 * on its interface (it becomes the DHCP server identifier), and two hosts on one LAN must not
 * share one, or each would take the other's DHCPREQUESTs for its own. Pure.
 */
export function linkLocalFor(host: string): string {
  const h = createHash("sha256").update(host).digest();
  return `169.254.${1 + (h[0]! % 254)}.${1 + (h[1]! % 254)}`;
}

interface IpAddr {
  ifname: string;
  address?: string;
  addr_info?: { family: string; local: string }[];
}

/**
 * Gets a bridge ready to serve DHCP from this host: an IPv4 address (a link-local /32 when it has
 * none; a real host's bridge usually carries the host's LAN address) and a fixed MAC. A bridge
 * whose MAC was never set follows its lowest port's, so it would change as taps come and go —
 * and with it the DHCP server MAC that isolated VMs' filters allow.
 * Idempotent; returns the commands it changed something with.
 */
export async function prepareBridge(
  host: HostRunner,
  bridge: string,
  hostName: string,
): Promise<string[]> {
  const run = (...args: string[]) => host.run("ip", args, { timeoutMs: HOST_COMMAND_TIMEOUT_MS });
  const { stdout } = await run("-j", "addr", "show", "dev", bridge);
  const link = (JSON.parse(stdout || "[]") as IpAddr[])[0];
  if (!link) throw new Error(`bridge ${bridge} does not exist`);
  const changed: string[] = [];
  // `ip link set address` with the current MAC marks it as set (addr_assign_type 3): it stays.
  const { stdout: assign } = await host.run("cat", [`/sys/class/net/${bridge}/addr_assign_type`], {
    timeoutMs: HOST_COMMAND_TIMEOUT_MS,
  });
  if (assign.trim() !== "3" && link.address) {
    await run("link", "set", "dev", bridge, "address", link.address);
    changed.push(`pinned ${bridge} MAC ${link.address}`);
  }
  if (!(link.addr_info ?? []).some((a) => a.family === "inet")) {
    const ip = linkLocalFor(hostName);
    await run("addr", "add", `${ip}/32`, "dev", bridge);
    changed.push(`gave ${bridge} ${ip}/32 for DHCP`);
  }
  return changed;
}
