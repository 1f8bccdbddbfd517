import type { Logger } from "../../controller/machinery/log.js";
import type { HostRunner } from "../exec/host-runner.js";
import type { EbtablesTools } from "../network/host-network.js";
import type { Accel } from "../qemu/accel-probe.js";

/** Where and how the agent acts on its host. */
export interface HostContext {
  host: HostRunner;
  /** VM directories (pidfile, QMP socket, ...), e.g. /run/gridvm/vms. */
  runtimeDir: string;
  /** One directory per bridge for its dnsmasq, e.g. /run/gridvm/dhcp. */
  dhcpStateDir: string;
  ebtables?: EbtablesTools;
  accel: Accel;
  /** Address VNC listens on: one a client on the head node can reach. */
  vncListen: string;
  tcgTbSizeMiB?: number;
  /** Give each VM the tiny guest's command channel (tests). */
  serialSocket?: boolean;
  stopGraceMs: number;
  log: Logger;
}
