import type { KubeConfig } from "@kubernetes/client-node";
import type { VMGroup } from "../api/generated/types.js";
import { kubeRequest } from "../machinery/kube-request.js";
import { OmapiClient, type OmapiConnectOptions, type OmapiKey } from "./omapi/client.js";

export interface DhcpHost {
  /** Stable per instance: the entry is found again after a restart. */
  name: string;
  mac: string;
  ip: string;
}

/** Fixed-address entries in a central DHCP server (the paper's OMAPI mode). */
export interface DhcpRegistrar {
  ensureHost(group: VMGroup, host: DhcpHost): Promise<void>;
  removeHost(group: VMGroup, name: string): Promise<void>;
}

/** The entry's name in dhcpd: derived from the instance UID, so renames and restarts find it. */
export function dhcpHostName(uid: string): string {
  return `gvm-${uid}`;
}

/**
 * OMAPI against an ISC dhcpd: the key comes from the Secret the VMGroup names (keys "name" and
 * "secret"). Idempotent: an entry that already says the right thing is left alone, a stale one
 * (another MAC or IP under our name) is replaced.
 */
export class OmapiRegistrar implements DhcpRegistrar {
  constructor(
    private readonly kc: KubeConfig,
    private readonly connect: (opts: OmapiConnectOptions) => Promise<OmapiClient> = (o) => OmapiClient.connect(o),
  ) {}

  async ensureHost(group: VMGroup, host: DhcpHost): Promise<void> {
    await this.withClient(group, async (client) => {
      const existing = await client.lookupHost({ name: host.name });
      if (existing && existing.ip === host.ip && existing.mac?.toLowerCase() === host.mac) return;
      if (existing) await client.deleteHost({ name: host.name });
      // Another entry may hold the MAC (left by a crash before our name was known): replace it too.
      if (await client.lookupHost({ mac: host.mac })) await client.deleteHost({ mac: host.mac });
      await client.createHost(host);
    });
  }

  async removeHost(group: VMGroup, name: string): Promise<void> {
    await this.withClient(group, async (client) => {
      await client.deleteHost({ name });
    });
  }

  private async withClient(group: VMGroup, use: (c: OmapiClient) => Promise<void>): Promise<void> {
    const omapi = group.spec.dhcp?.omapi;
    if (!omapi) throw new Error(`vmgroup "${group.metadata.name}" has dhcp.mode OMAPI but no dhcp.omapi`);
    const key = await this.readKey(omapi.keySecret.namespace, omapi.keySecret.name);
    const client = await this.connect({ host: omapi.host, port: omapi.port ?? 7911, key, timeoutMs: 5_000 });
    try {
      await use(client);
    } finally {
      client.close();
    }
  }

  private async readKey(namespace: string, name: string): Promise<OmapiKey> {
    const secret = await kubeRequest<{ data?: Record<string, string> }>(this.kc, "GET", `/api/v1/namespaces/${namespace}/secrets/${name}`, { timeoutMs: 10_000 });
    const field = (k: string): string => {
      const v = secret.data?.[k];
      if (!v) throw new Error(`secret ${namespace}/${name} has no "${k}" key (it needs "name" and "secret", the dhcpd OMAPI key)`);
      return Buffer.from(v, "base64").toString("utf8").trim();
    };
    return { name: field("name"), secret: field("secret") };
  }
}
