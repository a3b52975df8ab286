import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** Test files that run with small vars (page sizes…), in a project of their own. */
const SMALL_VARS_TESTS = ["test/monitor-small-pages.test.ts"];

/** Test files that also run with the main DB as the only shard (SHARDS = "DB"), the other supported layout. */
const SINGLE_SHARD_TESTS = ["test/telemetry.test.ts", "test/telemetry-query.test.ts", "test/monitor.test.ts"];

/** Several workerd suites share two cores (as on CI's machine): a limit for hangs, not for speed. */
const TEST_TIMEOUT = 30_000;

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  // Test-only bindings: the migrations for test/setup.ts and a known admin token.
  const workers = (vars: Record<string, string> = {}) =>
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: { TEST_MIGRATIONS: migrations, ADMIN_TOKEN: "test-admin-token", ...vars } },
    });
  return {
    test: {
      projects: [
        {
          plugins: [workers()],
          test: {
            name: "workers",
            testTimeout: TEST_TIMEOUT,
            include: ["test/**/*.test.ts"],
            exclude: SMALL_VARS_TESTS,
            setupFiles: ["./test/setup.ts"],
          },
        },
        {
          plugins: [workers({ MONITOR_PAGE_SIZE: "3", MONITOR_MAX_METRICS_READ: "40" })],
          test: {
            name: "small-vars",
            testTimeout: TEST_TIMEOUT,
            include: SMALL_VARS_TESTS,
            setupFiles: ["./test/setup.ts"],
          },
        },
        {
          plugins: [workers({ SHARDS: "DB" })],
          test: {
            name: "single-shard",
            testTimeout: TEST_TIMEOUT,
            include: SINGLE_SHARD_TESTS,
            setupFiles: ["./test/setup.ts"],
          },
        },
      ],
    },
  };
});
