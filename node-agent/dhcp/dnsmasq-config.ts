import path from "node:path";

/** One dnsmasq per bridge, serving static leases only, for every VMGroup network on that bridge. */
export interface DnsmasqConfig {
  bridge: string;
  /**
   * The VMGroups' networks on this bridge (several groups may share one bridge), each with the
   * router it hands out. The bridge needs an IPv4 address, but not one inside them:
   * --shared-network serves a subnet on the bridge whatever its own address (a host whose bridge
   * has no address on the lab's LAN gets a link-local one from the agent).
   */
  networks: DhcpNetwork[];
}

export interface DhcpNetwork {
  /** e.g. 10.9.0.0/24 */
  subnet: string;
  /** Handed out as the default route. */
  gateway: string;
}

/** Where one bridge's dnsmasq keeps its files, under the agent's DHCP state directory. */
export function dnsmasqPaths(stateDir: string, bridge: string) {
  const dir = path.join(stateDir, bridge);
  return {
    dir,
    hostsDir: path.join(dir, "hosts"),
    pidFile: path.join(dir, "dnsmasq.pid"),
    leaseFile: path.join(dir, "dnsmasq.leases"),
    logFile: path.join(dir, "dnsmasq.log"),
  };
}

/**
 * The dnsmasq argv (FACTS.md): `static` ranges serve only the hosts in --dhcp-hostsdir, which
 * dnsmasq re-reads by inotify; no DNS (--port=0); bound to the bridge only. Each network's range
 * sets a tag that selects its router. dnsmasq forks into its own session by itself, so the agent's
 * exit never touches it. The observer compares a running dnsmasq's /proc/<pid>/cmdline with this
 * argv to tell whether its config is current, so networks come in a fixed order. Pure.
 */
export function dnsmasqArgs(stateDir: string, cfg: DnsmasqConfig): string[] {
  const p = dnsmasqPaths(stateDir, cfg.bridge);
  const args = [
    "--conf-file=/dev/null",
    `--pid-file=${p.pidFile}`,
    `--dhcp-leasefile=${p.leaseFile}`,
    `--log-facility=${p.logFile}`,
    "--log-dhcp",
    "--bind-interfaces",
    `--interface=${cfg.bridge}`,
    "--except-interface=lo",
    "--port=0",
    "--dhcp-authoritative",
  ];
  [...cfg.networks]
    .sort((a, b) => a.subnet.localeCompare(b.subnet))
    .forEach((n, i) => {
      const { network, mask } = splitCidr(n.subnet);
      args.push(
        `--dhcp-range=set:gvn${i},${network},static,${mask}`,
        `--shared-network=${cfg.bridge},${network}`,
        `--dhcp-option=tag:gvn${i},option:router,${n.gateway}`,
      );
    });
  args.push(`--dhcp-hostsdir=${p.hostsDir}`);
  return args;
}

/** One dhcp-hostsdir file per VM: `MAC,IP,hostname`. */
export interface DhcpHostEntry {
  bridge: string;
  file: string;
  content: string;
}

export function dhcpHostEntry(vm: {
  bridge: string;
  tap: string;
  mac: string;
  ip: string;
  name: string;
}): DhcpHostEntry {
  // Named after the tap: already unique per instance and a safe file name.
  return {
    bridge: vm.bridge,
    file: vm.tap,
    content: `${vm.mac.toLowerCase()},${vm.ip},${hostLabel(vm.name)}\n`,
  };
}

/** A DNS-label-safe hostname for the guest. */
function hostLabel(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 63) || "vm"
  );
}

export function splitCidr(cidr: string): { network: string; mask: string; prefix: number } {
  const [addr, bits] = cidr.split("/");
  const prefix = Number(bits);
  if (!addr || !Number.isInteger(prefix) || prefix < 0 || prefix > 32)
    throw new Error(`bad CIDR ${cidr}`);
  const octets = addr.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255))
    throw new Error(`bad CIDR ${cidr}`);
  const value = octets.reduce((acc, o) => acc * 256 + o, 0);
  const maskValue = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (value & maskValue) >>> 0;
  return { network: toDotted(net), mask: toDotted(maskValue), prefix };
}

function toDotted(v: number): string {
  return [24, 16, 8, 0].map((s) => (v >>> s) & 255).join(".");
}
