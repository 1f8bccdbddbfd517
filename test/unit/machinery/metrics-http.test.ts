import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../../controller/machinery/clock.js";
import {
  startHttpServer,
  type RunningHttpServer,
} from "../../../controller/machinery/http-server.js";
import { ControllerMetrics } from "../../../controller/machinery/metrics.js";
import { WorkQueue } from "../../../controller/machinery/workqueue.js";

let server: RunningHttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const get = async (path: string) => {
  const res = await fetch(`http://127.0.0.1:${server?.port}${path}`);
  return { status: res.status, body: await res.text() };
};

describe("metrics and health endpoints", () => {
  it("exports queue depth, reconcile duration/errors by kind and jobs by phase", async () => {
    const m = new ControllerMetrics();
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ name: "vminstance", clock, metrics: m.workqueueSink() });
    q.add("a");
    q.add("b");
    await m.timeReconcile("VMInstance", async () => "ok");
    await expect(
      m.timeReconcile("VMInstance", async () => Promise.reject(new Error("x"))),
    ).rejects.toThrow("x");
    m.setJobsByPhase({ Running: 3, Queued: 1 }, ["Pending", "Running", "Queued"]);
    server = await startHttpServer({ host: "127.0.0.1", port: 0, registry: m.registry });
    const { status, body } = await get("/metrics");
    expect(status).toBe(200);
    expect(body).toContain('gridvm_workqueue_depth{name="vminstance"} 2');
    expect(body).toContain('gridvm_workqueue_adds_total{name="vminstance"} 2');
    expect(body).toContain('gridvm_reconcile_duration_seconds_count{kind="VMInstance"} 2');
    expect(body).toContain('gridvm_reconcile_errors_total{kind="VMInstance"} 1');
    expect(body).toContain('gridvm_reconcile_total{kind="VMInstance",result="success"} 1');
    expect(body).toContain('gridvm_jobs{phase="Running"} 3');
    expect(body).toContain('gridvm_jobs{phase="Pending"} 0');
  });

  it("healthz/readyz answer ok, or 503 naming the failing check", async () => {
    let synced = false;
    server = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      healthz: { ping: () => true },
      readyz: {
        informers: () => synced,
        leader: async () => true,
        broken: () => synced || Promise.reject(new Error("x")),
      },
    });
    expect(await get("/healthz")).toEqual({ status: 200, body: "ok\n" });
    const notReady = await get("/readyz");
    expect(notReady.status).toBe(503);
    expect(notReady.body).toContain("[-]informers failed");
    expect(notReady.body).toContain("[+]leader ok");
    expect(notReady.body).toContain("[-]broken failed");
    synced = true;
    expect(await get("/readyz")).toEqual({ status: 200, body: "ok\n" });
    expect((await get("/readyz?verbose")).body).toContain("[+]informers ok");
    expect((await get("/nope")).status).toBe(404);
  });
});
