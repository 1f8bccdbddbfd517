import { defineConfig } from "vitest/config";

// Runs only the node agent's integration tests, without the cluster-wide global setup (they
// need no apiserver): `npx vitest run -c test/integration/node-agent/vitest.node-agent.config.ts`.
export default defineConfig({
  test: {
    include: ["test/integration/node-agent/**/*.test.ts"],
    environment: "node",
    testTimeout: 180_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
