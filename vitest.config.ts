import { defineConfig } from "vitest/config";

// Two projects: `unit` is pure and fast (no daemons); `integration` runs against the real
// kube-apiserver, Grid Engine, ebtables and qemu that hack/ brings up, started by the test run
// itself through a global setup.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
          // Projects run one after another: integration and e2e share one machine-wide cluster
          // (a test that restarts the apiserver must not run beside one that boots 30 VMs).
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          sequence: { groupOrder: 1 },
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          // The local cluster is one shared machine-wide resource; files run one at a time.
          fileParallelism: false,
        },
      },
      {
        // The paper's walkthrough, exam day and packet-level security on real guests.
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          sequence: { groupOrder: 2 },
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
