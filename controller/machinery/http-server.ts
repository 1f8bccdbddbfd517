import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** A named health check: resolves true when healthy; a throw or false is unhealthy. */
export type HealthCheck = () => boolean | Promise<boolean>;

export interface HttpServerOptions {
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  registry?: Registry;
  /** Liveness: is the process able to make progress at all? */
  healthz?: Record<string, HealthCheck>;
  /** Readiness: caches synced, leader elected or standing by, ... */
  readyz?: Record<string, HealthCheck>;
}

export interface RunningHttpServer {
  port: number;
  close(): Promise<void>;
}

/**
 * /metrics, /healthz and /readyz, answering like the apiserver's own health endpoints: 200 "ok", or
 * 503 with one line per check ("[+]informers ok", "[-]leader failed") so a probe failure explains
 * itself. `?verbose` lists the checks on success too.
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const server = http.createServer((req, res) => {
    void handle(opts, req, res).catch((err: unknown) => {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  opts: HttpServerOptions,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405).end();
    return;
  }
  switch (url.pathname) {
    case "/metrics": {
      if (!opts.registry) break;
      const body = await opts.registry.metrics();
      res.writeHead(200, { "Content-Type": opts.registry.contentType });
      res.end(body);
      return;
    }
    case "/healthz":
    case "/livez":
      return respondChecks(res, opts.healthz ?? {}, url.searchParams.has("verbose"));
    case "/readyz":
      return respondChecks(res, opts.readyz ?? {}, url.searchParams.has("verbose"));
  }
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found\n");
}

async function respondChecks(
  res: http.ServerResponse,
  checks: Record<string, HealthCheck>,
  verbose: boolean,
): Promise<void> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        return { name, ok: await check() };
      } catch {
        return { name, ok: false };
      }
    }),
  );
  const ok = results.every((r) => r.ok);
  const lines = results.map((r) => `[${r.ok ? "+" : "-"}]${r.name} ${r.ok ? "ok" : "failed"}`);
  res.writeHead(ok ? 200 : 503, { "Content-Type": "text/plain" });
  res.end(ok && !verbose ? "ok\n" : `${lines.join("\n")}\n${ok ? "ok" : "check failed"}\n`);
}
