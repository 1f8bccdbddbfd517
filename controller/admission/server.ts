import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../machinery/log.js";
import { mutate, validate, type HandlerOptions, type Verdict } from "./handlers.js";
import { reviewResponse, type AdmissionReview } from "./review.js";

export const MUTATE_PATH = "/mutate-vminstance";
export const VALIDATE_PATH = "/validate-vminstance";

/** AdmissionReviews are one object; anything bigger than the apiserver's own limit is not one. */
const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface AdmissionServerOptions extends HandlerOptions {
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  cert: string | Buffer;
  key: string | Buffer;
  log: Logger;
}

export interface RunningAdmissionServer {
  port: number;
  close(): Promise<void>;
}

/** The webhook over HTTPS (the apiserver accepts nothing else): two review paths and /healthz. */
export async function startAdmissionServer(
  opts: AdmissionServerOptions,
): Promise<RunningAdmissionServer> {
  const server = https.createServer(
    { cert: opts.cert, key: opts.key, minVersion: "TLSv1.2" },
    (req, res) => {
      handle(opts, req, res).catch((err: unknown) => {
        opts.log.error({ err }, "admission request failed");
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
        res.end(String(err));
      });
    },
  );
  // The apiserver's Go client keeps idle connections for 90 s; Node closes them after 5 s, and a
  // request written into a connection we just closed fails with "broken pipe" — under a burst of
  // creates that refused VMInstances. Outlive the client's idle timeout instead.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "127.0.0.1", () => resolve());
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
  opts: AdmissionServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? "/", "https://localhost").pathname;
  if (path === "/healthz" && req.method === "GET") {
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
    return;
  }
  if (path !== MUTATE_PATH && path !== VALIDATE_PATH) {
    res.writeHead(404).end();
    return;
  }
  if (req.method !== "POST") {
    res.writeHead(405).end();
    return;
  }
  const review = await readReview(req);
  const request = review?.request;
  if (!request?.uid) {
    res
      .writeHead(400, { "Content-Type": "text/plain" })
      .end("expected an admission.k8s.io/v1 AdmissionReview with a request");
    return;
  }
  const started = performance.now();
  const verdict: Verdict =
    path === MUTATE_PATH ? mutate(request, opts.adminGroups) : await validate(request, opts);
  opts.log.info(
    {
      path,
      operation: request.operation,
      vminstance: `${request.namespace ?? ""}/${request.name ?? ""}`,
      user: request.userInfo.username,
      allowed: verdict.response.allowed,
      detail: verdict.detail,
      ms: Math.round((performance.now() - started) * 10) / 10,
    },
    "admission review",
  );
  res
    .writeHead(200, { "Content-Type": "application/json" })
    .end(JSON.stringify(reviewResponse(verdict.response)));
}

async function readReview(req: IncomingMessage): Promise<AdmissionReview | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as AdmissionReview;
  } catch {
    return undefined;
  }
}
