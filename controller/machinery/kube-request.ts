import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/**
 * A plain JSON request to the apiserver with the kubeconfig's credentials. The reflector and the
 * leader elector use it instead of the generated clients because those turn some objects into
 * classes (Dates, MicroTime) while watch events stay raw JSON; one raw shape everywhere keeps the
 * cache and the stored objects comparable.
 */
export class KubeRequestError extends Error {
  constructor(
    readonly code: number,
    readonly status: KubeStatus | undefined,
    message: string,
  ) {
    super(message);
    this.name = "KubeRequestError";
  }
}

/** meta/v1 Status, as returned in error bodies and in watch ERROR events. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { field?: string; message?: string }[] };
}

export interface KubeRequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export async function kubeRequest<T>(
  kc: KubeConfig,
  method: string,
  path: string,
  opts: KubeRequestOptions = {},
): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const url = new URL(cluster.server + path);
  for (const [k, v] of Object.entries(opts.query ?? {})) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  const reqOpts: https.RequestOptions = { method, headers: { Accept: "application/json" } };
  await kc.applyToHTTPSOptions(reqOpts);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  if (payload !== undefined) {
    reqOpts.headers = {
      ...reqOpts.headers,
      "Content-Type": opts.contentType ?? "application/json",
      "Content-Length": Buffer.byteLength(payload),
    };
  }
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const transport = url.protocol === "http:" ? http : https;
  return new Promise<T>((resolve, reject) => {
    const req = transport.request(url, reqOpts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const code = res.statusCode ?? 0;
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        if (code >= 200 && code < 300) return resolve(parsed as T);
        const status = parsed as KubeStatus | undefined;
        reject(
          new KubeRequestError(
            code,
            status,
            `${method} ${path}: ${code} ${status?.reason ?? ""} ${status?.message ?? text.slice(0, 200)}${causesOf(status)}`.trim(),
          ),
        );
      });
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)),
    );
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** The REST path of a collection, e.g. ("v1","configmaps","ns") -> /api/v1/namespaces/ns/configmaps. */
export function collectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${root}/namespaces/${namespace}/${plural}` : `${root}/${plural}`;
}

export function isNotFound(err: unknown): boolean {
  return errorCode(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return errorCode(err) === 409;
}

/** HTTP code of a KubeRequestError, a client-node ApiException or a Watch error. */
export function errorCode(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === "number") return e.code;
  if (typeof e.statusCode === "number") return e.statusCode;
  return undefined;
}

/** A 422's field-level causes ("spec.x: must be ..."), which the generic message leaves out. */
function causesOf(status: KubeStatus | undefined): string {
  const causes = status?.details?.causes ?? [];
  return causes.length ? `: ${causes.map((c) => `${c.field ?? ""}: ${c.message ?? ""}`).join("; ")}` : "";
}
