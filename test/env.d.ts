declare namespace Cloudflare {
  interface Env {
    /** Set by vitest.config.ts for test/setup.ts. */
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
  }
}
