import { env } from "cloudflare:workers";

/** The shard bindings of this test project (vitest.config.ts: two, or the main DB alone). */
export const shardBindings = () => [
  ...new Set(
    String(env.SHARDS ?? "DB")
      .split(/[\s,]+/)
      .filter(Boolean),
  ),
];

/** A shard's binding by name. */
export const shardDatabase = (shard: string) => (env as unknown as Record<string, D1Database>)[shard];

/** The shard holding `project` (from the shard map in the main DB), or null before its first write. */
export async function shardOf(project: string): Promise<string | null> {
  const row = await env.DB.prepare("SELECT shard FROM shard_map WHERE project = ?").bind(project).first<{
    shard: string;
  }>();
  return row?.shard ?? null;
}

/** The database holding `project`'s telemetry and monitor rows (it must have written). */
export async function databaseOf(project: string): Promise<D1Database> {
  const shard = await shardOf(project);
  if (!shard) throw new Error(`project ${project} has no shard yet`);
  return shardDatabase(shard);
}

/** Sums a count query over every shard (rows of all projects). */
export async function countAll(query: string, ...params: unknown[]): Promise<number> {
  let n = 0;
  for (const shard of shardBindings()) {
    const row = await shardDatabase(shard)
      .prepare(query)
      .bind(...params)
      .first<Record<string, number>>();
    n += Number(Object.values(row ?? {})[0] ?? 0);
  }
  return n;
}

/**
 * Project names that the placement rule puts on different shards (two shards) — so a test can
 * make sure its fan-out really spans shards. Picks from `prefix-0`, `prefix-1`, … .
 */
export async function projectsOnShards(prefix: string, count = 2): Promise<string[]> {
  const { placementOf } = await import("../../src/db/shards");
  const shards = shardBindings();
  const out: string[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; out.length < count && i < 1000; i++) {
    const name = `${prefix}-${i}`;
    const shard = placementOf(name, shards);
    const k = seen.get(shard) ?? 0;
    // Round-robin over the shards: the first project on each, then the second…
    if (k <= Math.min(...shards.map((s) => seen.get(s) ?? 0))) {
      seen.set(shard, k + 1);
      out.push(name);
    }
  }
  return out;
}
