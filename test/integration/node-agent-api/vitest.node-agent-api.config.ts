import { defineConfig } from "vitest/config";

// Runs only these tests against an already running local cluster (hack/local-up.sh), without the
// global setup: `npx vitest run -c test/integration/node-agent-api/vitest.node-agent-api.config.ts`.
export default defineConfig({
  test: {
    include: ["test/integration/node-agent-api/**/*.test.ts"],
    environment: "node",
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
