import { describe, expect, it } from "vitest";
import { Shutdown } from "../../../controller/machinery/shutdown.js";

describe("Shutdown", () => {
  it("runs steps once, in order, past failures and stuck steps", async () => {
    const order: string[] = [];
    const s = new Shutdown(undefined, 1_000)
      .register({ name: "ready", run: () => void order.push("ready") })
      .register({ name: "broken", run: () => Promise.reject(new Error("boom")) })
      .register({ name: "stuck", run: () => new Promise(() => order.push("stuck")), timeoutMs: 50 })
      .register({ name: "http", run: async () => void order.push("http") });
    const p1 = s.run("test");
    const p2 = s.run("again");
    expect(s.isShuttingDown()).toBe(true);
    await Promise.all([p1, p2]);
    expect(order).toEqual(["ready", "stuck", "http"]);
  });

  it("first signal shuts down then exits 0; a second exits 1 at once", async () => {
    const exits: number[] = [];
    let release = (): void => {};
    const s = new Shutdown().register({
      name: "slow",
      run: () => new Promise<void>((r) => (release = r)),
    });
    s.listen(["SIGUSR2"], (code) => void exits.push(code));
    try {
      process.emit("SIGUSR2");
      await new Promise((r) => setTimeout(r, 10));
      expect(exits).toEqual([]);
      process.emit("SIGUSR2");
      expect(exits).toEqual([1]);
      release();
      await s.run();
      await new Promise((r) => setTimeout(r, 10));
      expect(exits).toEqual([1, 0]);
    } finally {
      s.unlisten();
    }
  });
});
