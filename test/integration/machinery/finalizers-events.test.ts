import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject } from "../../../controller/machinery/cache.js";
import {
  EventRecorder,
  kubeEventSink,
  type CoreEvent,
} from "../../../controller/machinery/events.js";
import { patchFinalizer } from "../../../controller/machinery/finalizers.js";
import { errorCode, kubeRequest } from "../../../controller/machinery/kube-request.js";
import { createNamespace, deleteNamespace, loadKubeConfig, waitFor } from "./helpers.js";

let kc: KubeConfig;
let ns: string;
const F = "gridvm.io/cleanup";

beforeAll(async () => {
  kc = loadKubeConfig();
  ns = await createNamespace(kc, "gridvm-finalizers");
});

afterAll(async () => {
  if (!ns) return;
  // Strip finalizers left by a failed test, or the namespace would hang in Terminating.
  const list = await kubeRequest<{ items: KubeObject[] }>(
    kc,
    "GET",
    `/api/v1/namespaces/${ns}/configmaps`,
  ).catch(() => ({ items: [] }));
  for (const cm of list.items) {
    await kubeRequest(kc, "PATCH", `/api/v1/namespaces/${ns}/configmaps/${cm.metadata?.name}`, {
      body: { metadata: { finalizers: null } },
      contentType: "application/merge-patch+json",
    }).catch(() => undefined);
  }
  await deleteNamespace(kc, ns);
});

async function configMap(name: string): Promise<KubeObject> {
  return kubeRequest<KubeObject>(kc, "POST", `/api/v1/namespaces/${ns}/configmaps`, {
    body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { a: "1" } },
  });
}

describe("finalizer patches on the real apiserver", () => {
  it("adds and removes; a deleted object waits for the finalizer, then goes", async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps/cm1`;
    const cm = await configMap("cm1");
    const withF = await patchFinalizer(kc, path, cm, F, "present");
    expect(withF.metadata?.finalizers).toEqual([F]);
    expect(await patchFinalizer(kc, path, withF, F, "present")).toBe(withF); // no-op, no request
    await kubeRequest(kc, "DELETE", path);
    const terminating = await kubeRequest<KubeObject>(kc, "GET", path);
    expect(terminating.metadata?.deletionTimestamp).toBeTruthy();
    await patchFinalizer(kc, path, terminating, F, "absent");
    await waitFor(
      "the object to be gone",
      async () => (await kubeRequest(kc, "GET", path).catch((e: unknown) => errorCode(e))) === 404,
    );
  });

  it("refuses to clobber a concurrent writer's finalizer change", async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps/cm2`;
    const cm = await configMap("cm2");
    const stale = await patchFinalizer(kc, path, cm, F, "present");
    // Someone else adds theirs after we read.
    await kubeRequest(kc, "PATCH", path, {
      body: [{ op: "add", path: "/metadata/finalizers/-", value: "example.com/other" }],
      contentType: "application/json-patch+json",
    });
    const err = await patchFinalizer(kc, path, stale, F, "absent").catch((e: unknown) => e);
    expect(errorCode(err)).toBe(422);
    const now = await kubeRequest<KubeObject>(kc, "GET", path);
    expect(now.metadata?.finalizers).toEqual([F, "example.com/other"]);
    // The stale "no finalizers yet" guard (resourceVersion) refuses too.
    const err2 = await patchFinalizer(kc, path, cm, "x.io/y", "present").catch((e: unknown) => e);
    expect(errorCode(err2)).toBe(422);
  });
});

describe("events on the real apiserver", () => {
  it("creates an Event about the object and aggregates a repeat into count 2", async () => {
    const cm = await configMap("evented");
    const rec = new EventRecorder({ component: "gridvm-test", sink: kubeEventSink(kc) });
    const obj = { ...cm, apiVersion: "v1", kind: "ConfigMap" };
    await rec.warning(obj, "Overlap", "overlaps lab2");
    await rec.warning(obj, "Overlap", "overlaps lab2");
    const events = await kubeRequest<{ items: CoreEvent[] }>(
      kc,
      "GET",
      `/api/v1/namespaces/${ns}/events`,
    );
    const mine = events.items.filter((e) => e.involvedObject.uid === cm.metadata?.uid);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      reason: "Overlap",
      message: "overlaps lab2",
      type: "Warning",
      count: 2,
    });
    expect(mine[0]?.involvedObject).toMatchObject({
      kind: "ConfigMap",
      name: "evented",
      namespace: ns,
    });
  });
});
