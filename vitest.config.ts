import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** Test files that run with small vars (page sizes…), in a project of their own. */
const SMALL_VARS_TESTS = ["test/monitor-small-pages.test.ts"];

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
      // Several workerd suites share two cores (and CI's machine): time limits are for hangs, not speed.
      testTimeout: 30_000,
      projects: [
        {
          plugins: [workers()],
          test: { name: "workers", include: ["test/**/*.test.ts"], exclude: SMALL_VARS_TESTS, setupFiles: ["./test/setup.ts"] },
        },
        {
          plugins: [workers({ MONITOR_PAGE_SIZE: "3" })],
          test: { name: "small-vars", include: SMALL_VARS_TESTS, setupFiles: ["./test/setup.ts"] },
        },
      ],
    },
  };
});
