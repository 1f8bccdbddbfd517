import { observeDhcp } from "../dhcp/dnsmasq.js";
import { observeFilters, observeLinks } from "../network/host-network.js";
import { observeVms } from "../qemu/runtime-dir.js";
import type { HostContext } from "./context.js";
import type { ObservedHost } from "./types.js";

/** Everything the planner needs, read from the host: two commands, the rest from /proc and files. */
export async function observeHost(ctx: HostContext): Promise<ObservedHost> {
  const [links, filters, dhcp, vms] = await Promise.all([
    observeLinks(ctx.host),
    observeFilters(ctx.host, ctx.ebtables),
    observeDhcp(ctx.dhcpStateDir),
    observeVms(ctx.runtimeDir),
  ]);
  return {
    bridges: links.bridges,
    taps: links.taps,
    filters: [...filters.values()],
    dhcpServers: dhcp.servers,
    dhcpHosts: dhcp.hosts,
    vms,
  };
}
