import { defineConfig } from "vitest/config";

// End-to-end checks: Node-side tests against a real `wrangler dev` (see server.ts),
// calling it over HTTP the way the real clients do.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.ts"],
    globalSetup: ["test/e2e/server.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
