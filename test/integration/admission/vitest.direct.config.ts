import { defineConfig } from "vitest/config";
// Runs this folder against an already running local cluster, without the global setup.
export default defineConfig({
  test: {
    include: ["test/integration/admission/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
