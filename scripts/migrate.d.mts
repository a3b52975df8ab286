/** scripts/migrate.mjs, for the TypeScript that imports it (test/e2e/server.ts). */
export function d1Bindings(toml?: string): string[];
export function migrateAll(
  args: string[],
  opts?: Record<string, unknown>,
): { status: number; binding?: string; stdout?: unknown; stderr?: unknown };
