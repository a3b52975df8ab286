/**
 * Telemetry over shards (src/db/shards.ts): which shard databases a query reads, and the
 * orders answers from several shards merge in. A query naming one project reads that
 * project's shard alone; any other reads the shards of the caller's projects (an admin:
 * all of them), in parallel, merged so the answer is the one a single database would give.
 */
import { type Database, databaseOn } from "../db/client";
import { placementByNumber, seriesProjectNumber, shardDb, shardForRead, shardNames, shardsForRead } from "../db/shards";
import { type ProjectScope, parseSampleId, type SampleRow } from "./chunks";
import { sampleById, type TierContext } from "./cold-page";
import type { SampleQuery } from "./query";

/** One shard as telemetry reads it: its binding (a counted session in a request) and drizzle over it. */
export interface TelemetryShard {
  shard: string;
  d1: D1Database;
  db: Database;
}

export function onShard(env: Env, shard: string): TelemetryShard {
  const d1 = shardDb(env, shard);
  return { shard, d1, db: databaseOn(d1) };
}

/**
 * The shards a query reads: the named project's (none when it has no rows anywhere), else
 * those holding the caller's projects (`scope` null: every shard).
 */
export async function shardsOfQuery(env: Env, q: SampleQuery, scope: string[] | null): Promise<TelemetryShard[]> {
  const named = q.equals.find((e) => e.field === "project_id")?.value;
  if (named !== undefined) {
    const one = await shardForRead(env, named);
    return one ? [onShard(env, one.shard)] : [];
  }
  return (await shardsForRead(env, scope)).map((r) => onShard(env, r.shard));
}

/**
 * SQLite's BINARY order of two texts (UTF-8 bytes, i.e. code points), which JavaScript's
 * `<` (UTF-16 units) differs from only past U+FFFF: so rows merged here keep the index order.
 */
export function binaryOrder(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–DFFF) stand for code points above every BMP unit.
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/** Compares rows by `fields` in turn, each in BINARY order. */
export function byFields<T>(fields: ReadonlyArray<keyof T>) {
  return (x: T, y: T) => {
    for (const f of fields) {
      const d = binaryOrder(String(x[f]), String(y[f]));
      if (d) return d;
    }
    return 0;
  };
}

/**
 * One sample by id wherever it is: the id's series names its project's number, so its
 * shard; an id from before shards (or a legacy content-hash id, which may read as any
 * number) is asked of every shard, in parallel.
 */
export async function findSample(
  env: Env,
  tier: Omit<TierContext, "db">,
  id: string,
  scope: ProjectScope,
): Promise<SampleRow | undefined> {
  const parsed = parseSampleId(id);
  const number = parsed ? seriesProjectNumber(parsed.seriesId) : null;
  const owner = number === null ? null : await placementByNumber(env, number);
  const ask = async (shards: string[]) =>
    (await Promise.all(shards.map((s) => sampleById({ ...tier, db: onShard(env, s).db }, id, scope)))).find(Boolean);
  const all = shardNames(env);
  if (!owner) return ask(all);
  const row = await ask([owner.shard]);
  const rest = all.filter((s) => s !== owner.shard);
  // Not there: it may be a legacy id that only reads as one of this project's.
  return row || !rest.length ? row : ask(rest);
}
