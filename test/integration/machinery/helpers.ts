import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../../../controller/machinery/kube-request.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** The admin kubeconfig of the local cluster (hack/local-up.sh), or $KUBECONFIG. */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG ?? path.join(repo, ".local/kubeconfig"));
  return kc;
}

/** The same credentials pointed at another server URL (e.g. a proxy in front of the apiserver). */
export function withServer(kc: KubeConfig, server: string): KubeConfig {
  const copy = new KubeConfig();
  copy.loadFromString(kc.exportConfig());
  const cluster = copy.getCurrentCluster();
  if (!cluster) throw new Error("no current cluster");
  copy.clusters = copy.clusters.map((c) => (c.name === cluster.name ? { ...c, server } : c));
  return copy;
}

export async function createNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  await kubeRequest(kc, "POST", "/api/v1/namespaces", {
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name } },
  });
  return name;
}

export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kubeRequest(kc, "DELETE", `/api/v1/namespaces/${name}`).catch(() => undefined);
}

/** Polls until check() is truthy; fails with what it last saw. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A TCP proxy on loopback in front of the apiserver, so a test can cut every connection (a network
 * failure) or freeze them (a stalled, half-open connection) while the apiserver itself stays up.
 */
export class TcpProxy {
  private server = net.createServer((client) => this.accept(client));
  private pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly upstreamPort: number,
  ) {}

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  connections(): number {
    return this.pairs.size;
  }

  /** Destroys every open connection (new ones still work). */
  cutAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Stops forwarding on every open connection without closing it. */
  freezeAll(): void {
    for (const p of this.pairs) {
      p.upstream.unpipe(p.client);
      p.client.unpipe(p.upstream);
      p.upstream.pause();
    }
    this.pairs.clear(); // close() still destroys the frozen sockets
  }

  private allSockets: net.Socket[] = [];

  async close(): Promise<void> {
    this.cutAll();
    for (const s of this.allSockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.upstreamPort, this.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    this.allSockets.push(client, upstream);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
