import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject } from "../../../controller/machinery/cache.js";
import { Informer, kubeListWatch } from "../../../controller/machinery/informer.js";
import { kubeRequest } from "../../../controller/machinery/kube-request.js";
import { Reflector } from "../../../controller/machinery/reflector.js";
import {
  createNamespace,
  deleteNamespace,
  loadKubeConfig,
  TcpProxy,
  waitFor,
  withServer,
} from "./helpers.js";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

let kc: KubeConfig;
let ns: string;
const proxy = new TcpProxy("127.0.0.1", 16443);
const informers: Informer<ConfigMap>[] = [];
const reflectors: Reflector<ConfigMap>[] = [];

const cmPath = (name?: string) => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ""}`;

async function putConfigMap(name: string, value: string): Promise<void> {
  const body = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: ns },
    data: { v: value },
  };
  try {
    await kubeRequest(kc, "PUT", cmPath(name), { body });
  } catch {
    await kubeRequest(kc, "POST", cmPath(), { body });
  }
}

function informer(
  kubeconfig: KubeConfig,
  opts: ConstructorParameters<typeof Informer<ConfigMap>>[2] = {},
) {
  const inf = new Informer<ConfigMap>(
    kubeconfig,
    { apiVersion: "v1", plural: "configmaps", namespace: ns },
    {
      backoffInitialMs: 100,
      backoffMaxMs: 1000,
      ...opts,
    },
  );
  informers.push(inf);
  inf.start();
  return inf;
}

const valueOf = (inf: Informer<ConfigMap>, name: string) => inf.store.get(`${ns}/${name}`)?.data?.v;

beforeAll(async () => {
  kc = loadKubeConfig();
  ns = await createNamespace(kc, "gridvm-reflector");
  await proxy.start();
});

afterAll(async () => {
  await Promise.all([...informers.map((i) => i.stop()), ...reflectors.map((r) => r.stop())]);
  await proxy.close();
  if (ns) await deleteNamespace(kc, ns);
});

describe("reflector against the real kube-apiserver", () => {
  it("lists what exists, then sees create, update and delete", async () => {
    await putConfigMap("before", "0");
    const events: string[] = [];
    const inf = informer(kc);
    inf.addEventHandler({
      onAdd: (o) => events.push(`add ${o.metadata?.name}`),
      onUpdate: (_o, n) => events.push(`update ${n.metadata?.name}=${n.data?.v}`),
      onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
    });
    expect(await inf.waitForSync(10_000)).toBe(true);
    expect(valueOf(inf, "before")).toBe("0");
    await putConfigMap("a", "1");
    await waitFor("a=1", () => valueOf(inf, "a") === "1");
    await putConfigMap("a", "2");
    await waitFor("a=2", () => valueOf(inf, "a") === "2");
    await kubeRequest(kc, "DELETE", cmPath("a"));
    await waitFor("a deleted", () => !inf.store.get(`${ns}/a`));
    expect(events).toContain("update a=2");
    expect(events).toContain("delete a");
  });

  it("recovers when every connection to the apiserver is cut, and catches up on what it missed", async () => {
    const inf = informer(withServer(kc, `https://127.0.0.1:${proxy.port}`));
    expect(await inf.waitForSync(10_000)).toBe(true);
    // A change seen through the watch proves the watch's own connection is up (a counted watch
    // whose connection was still opening would survive the cut and make this test pass by luck).
    await putConfigMap("before-cut", "w");
    await waitFor("a live watch through the proxy", () => valueOf(inf, "before-cut") === "w");
    const watchesBefore = inf.reflector.stats.watches;
    proxy.cutAll();
    await putConfigMap("while-cut", "x");
    await waitFor("the change made while cut", () => valueOf(inf, "while-cut") === "x");
    expect(inf.reflector.stats.watches).toBeGreaterThan(watchesBefore); // a new connection, not luck
    await putConfigMap("after-cut", "y");
    await waitFor("a change after recovery", () => valueOf(inf, "after-cut") === "y");
  });

  it("reconnects a frozen (half-open) watch after the idle timeout", async () => {
    const inf = informer(withServer(kc, `https://127.0.0.1:${proxy.port}`), {
      idleTimeoutMs: 2_000,
      minWatchTimeoutSeconds: 300,
      maxWatchTimeoutSeconds: 300,
    });
    expect(await inf.waitForSync(10_000)).toBe(true);
    await waitFor("a watch through the proxy", () => proxy.connections() > 0);
    proxy.freezeAll();
    await putConfigMap("while-frozen", "z");
    await waitFor("the stall to be noticed", () => inf.reflector.stats.stalls > 0, 10_000);
    await waitFor(
      "the change made while frozen",
      () => valueOf(inf, "while-frozen") === "z",
      10_000,
    );
  });

  it("re-watches without relisting when the server ends a watch at its timeout", async () => {
    const inf = informer(kc, { minWatchTimeoutSeconds: 1, maxWatchTimeoutSeconds: 1 });
    expect(await inf.waitForSync(10_000)).toBe(true);
    await waitFor("a second watch", () => inf.reflector.stats.watches >= 3, 10_000);
    expect(inf.reflector.stats.lists).toBe(1);
    await putConfigMap("after-rewatch", "w");
    await waitFor("a change on a later watch", () => valueOf(inf, "after-rewatch") === "w");
  });

  it("relists on 410 Gone when watching from a compacted resourceVersion", async () => {
    const { list, watch } = kubeListWatch<ConfigMap>(kc, {
      apiVersion: "v1",
      plural: "configmaps",
      namespace: ns,
    });
    let first = true;
    const r = new Reflector<ConfigMap>({
      name: "gone",
      // The first list claims an ancient version, as if we had been away for a long time.
      list: async () => {
        const res = await list();
        if (first) {
          first = false;
          return { ...res, resourceVersion: "1" };
        }
        return res;
      },
      watch,
      backoffInitialMs: 100,
    });
    reflectors.push(r);
    r.start();
    await waitFor("a relist after 410", () => r.stats.expired > 0 && r.stats.lists >= 2, 10_000);
    await putConfigMap("after-gone", "g");
    await waitFor(
      "a change after the relist",
      () => r.store.get(`${ns}/after-gone`)?.data?.v === "g",
    );
  });
});
