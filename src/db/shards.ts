/**
 * Shards (docs/deploy.md, "Shards"): telemetry and monitor rows live in shard databases,
 * each a D1 binding; which shard holds a project is the shard map in the main `DB`,
 * cached per isolate. A project is placed on its first write by rendezvous hashing over
 * the shards open to new projects, and keeps its place until a move (shard-move.ts).
 *
 * Writes are fenced: every write batch starts with `fenceGuard`, which fails the batch
 * when the shard no longer (or not yet) holds the project, so a writer with a stale map
 * re-reads it and goes where the project is now; a move's last pass holds writers back
 * (`frozen`) for the moment it takes.
 */
import { type SQL, sql } from "drizzle-orm";
import { ApiError } from "../http/errors";

/** The main database: tokens, access, scheduler, daemons, logs, alarms and the shard map. */
export const MAIN = "DB";

/**
 * How long an isolate trusts a project's place. Only a move changes it: writes never rely
 * on it (the fence), reads of a moved project may see its frozen source copy this long,
 * which a move keeps at least twice this after its switch (shard-move.ts).
 */
export const SHARD_MAP_TTL_MS = 60_000;

/** Most places an isolate keeps. */
const CACHE_MAX = 10_000;

/**
 * Project numbers are the base of id ranges: telemetry series ids ((n+1)·2^24 …, kept
 * under 2^39 so a sample's order key stays a safe integer) and monitor rowids (n·2^40 …,
 * so the monitor takes numbers below 8192).
 */
export const PROJECT_NUMBER_MAX = 32_766;

/** How long a write waits for a move's last pass before answering 503. */
const FROZEN_WAIT_MS = 10_000;
const FROZEN_POLL_MS = 200;

type Vars = { SHARDS?: string; SHARDS_OPEN?: string };

const names = (raw: string | undefined) =>
  (raw ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** The shard bindings (`SHARDS`, comma or space separated; unset: the main DB alone). */
export function shardNames(env: Env): string[] {
  const listed = names((env as unknown as Vars).SHARDS);
  return listed.length ? [...new Set(listed)] : [MAIN];
}

/** The shards new projects are placed on (`SHARDS_OPEN`; unset: every shard). */
export function openShardNames(env: Env): string[] {
  const all = shardNames(env);
  const open = names((env as unknown as Vars).SHARDS_OPEN).filter((s) => all.includes(s));
  return open.length ? open : all;
}

/** A shard's D1 binding (in a request: its counted session, src/http/d1-cost.ts). */
export function shardDb(env: Env, shard: string): D1Database {
  const db = (env as unknown as Record<string, unknown>)[shard] as D1Database | undefined;
  if (!db || typeof (db as { prepare?: unknown }).prepare !== "function")
    throw new Error(`Shard ${shard} is not a D1 binding of this Worker (wrangler.toml, SHARDS)`);
  return db;
}

/** FNV-1a, 32 bits. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  // A final mix, so shard names that differ in their last character spread too.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * The placement rule: the open shard with the highest hash of (shard, project) —
 * rendezvous hashing. Deterministic, no reads; adding a shard takes only its share of
 * new projects and moves nothing already placed.
 */
export function placementOf(project: string, open: readonly string[]): string {
  let best = open[0];
  let bestScore = -1;
  for (const shard of open) {
    const score = hash32(`${shard}\u0000${project}`);
    if (score > bestScore || (score === bestScore && shard < best)) {
      best = shard;
      bestScore = score;
    }
  }
  return best;
}

/** A project's place. */
export interface Placement {
  project: string;
  number: number;
  shard: string;
  frozen: boolean;
}

/** Places this isolate knows, each until it expires. Absence is never kept: a project placed elsewhere shows at once. */
const cache = new Map<string, { placement: Placement; expires: number }>();

/** Forgets every cached place (tests; a move forgets its project here at once). */
export function forgetPlacements(project?: string) {
  if (project === undefined) cache.clear();
  else cache.delete(project);
}

function remember(p: Placement, now = Date.now()) {
  if (p.frozen) return; // a frozen project is read fresh until its move lets go
  cache.delete(p.project);
  while (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(p.project, { placement: p, expires: now + SHARD_MAP_TTL_MS });
}

type MapRow = { project: string; number: number; shard: string; frozen: number };
const placementOfRow = (r: MapRow): Placement => ({
  project: r.project,
  number: r.number,
  shard: r.shard,
  frozen: r.frozen === 1,
});

/** The main DB as the request sees it, or its primary when `fresh`. */
function mainDb(env: Env, fresh: boolean): D1Database {
  return fresh ? (env.DB.withSession("first-primary") as unknown as D1Database) : env.DB;
}

const MAP_LOOKUP =
  "SELECT project, number, shard, frozen FROM shard_map WHERE project IN (SELECT value FROM json_each(?1))";

/**
 * The places of `projects` that have one (an unplaced project has no rows anywhere): from
 * the cache, the rest in one query of the main DB (`fresh`: on its primary, cache bypassed).
 */
export async function placementsOf(
  env: Env,
  projects: readonly string[],
  opts: { fresh?: boolean } = {},
): Promise<Map<string, Placement>> {
  const out = new Map<string, Placement>();
  const now = Date.now();
  const missing: string[] = [];
  for (const project of new Set(projects)) {
    const hit = opts.fresh ? undefined : cache.get(project);
    if (hit && hit.expires > now) out.set(project, hit.placement);
    else missing.push(project);
  }
  if (missing.length) {
    const { results } = await mainDb(env, opts.fresh === true)
      .prepare(MAP_LOOKUP)
      .bind(JSON.stringify(missing))
      .all<MapRow>();
    for (const row of results) {
      const p = placementOfRow(row);
      remember(p, now);
      out.set(p.project, p);
    }
  }
  return out;
}

/**
 * The places of `projects`, placing those that have none (one batch on the main DB's
 * primary: an insert per new project, numbered after the highest, then a read-back, so
 * two isolates placing one project at once agree on the first one's place).
 */
export async function place(env: Env, projects: readonly string[]): Promise<Map<string, Placement>> {
  const known = await placementsOf(env, projects);
  const fresh = [...new Set(projects)].filter((p) => !known.has(p));
  if (!fresh.length) return known;
  const open = openShardNames(env);
  const main = mainDb(env, true);
  const inserts = fresh.map((project) =>
    main
      .prepare(
        `INSERT INTO shard_map (project, number, shard)
         SELECT ?1, coalesce(max(number), -1) + 1, ?2 FROM shard_map WHERE true
         ON CONFLICT (project) DO NOTHING`,
      )
      .bind(project, placementOf(project, open)),
  );
  const results = await main.batch<MapRow>([...inserts, main.prepare(MAP_LOOKUP).bind(JSON.stringify(fresh))]);
  for (const row of results.at(-1)?.results ?? []) {
    const p = placementOfRow(row);
    if (p.number > PROJECT_NUMBER_MAX)
      throw new ApiError("other", `This deployment numbers at most ${PROJECT_NUMBER_MAX + 1} projects`, {
        status: 507,
      });
    remember(p);
    known.set(p.project, p);
  }
  return known;
}

/** The shards a request reads, each with the projects of the caller's scope it holds (null: all of them). */
export interface ShardRead {
  shard: string;
  db: D1Database;
  projects: Placement[] | null;
}

/**
 * Where a read over `scope` goes: every shard when the scope is all projects (null, an
 * admin); else the shards holding its projects, each with its own (unplaced projects
 * have no rows and add none), in the order of SHARDS.
 */
export async function shardsForRead(env: Env, scope: readonly string[] | null): Promise<ShardRead[]> {
  if (scope === null) return shardNames(env).map((shard) => ({ shard, db: shardDb(env, shard), projects: null }));
  const byShard = groupByShard((await placementsOf(env, scope)).values());
  const order = shardNames(env);
  return [...byShard]
    .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b))
    .map(([shard, projects]) => ({ shard, db: shardDb(env, shard), projects }));
}

/** Places grouped by the shard that holds them, in the order met. */
function groupByShard(placements: Iterable<Placement>): Map<string, Placement[]> {
  const byShard = new Map<string, Placement[]>();
  for (const p of placements) {
    const list = byShard.get(p.shard);
    if (list) list.push(p);
    else byShard.set(p.shard, [p]);
  }
  return byShard;
}

/** The project numbered `number` (a telemetry series id names it), or null. */
export async function placementByNumber(env: Env, number: number): Promise<Placement | null> {
  const now = Date.now();
  for (const e of cache.values()) if (e.placement.number === number && e.expires > now) return e.placement;
  const row = await env.DB.prepare("SELECT project, number, shard, frozen FROM shard_map WHERE number = ?1")
    .bind(number)
    .first<MapRow>();
  if (!row) return null;
  const p = placementOfRow(row);
  remember(p, now);
  return p;
}

/** One project's shard for a read, or null when the project has no rows anywhere. */
export async function shardForRead(env: Env, project: string): Promise<(ShardRead & { placement: Placement }) | null> {
  const placement = (await placementsOf(env, [project])).get(project);
  if (!placement) return null;
  return { shard: placement.shard, db: shardDb(env, placement.shard), projects: [placement], placement };
}

/**
 * The first statement of every write batch on a shard: re-inserts the fence rows of the
 * batch's projects, which fails the batch on the primary key of `shard_fences` when this
 * shard does not hold one of them (nothing is read or written when it holds them all).
 */
export function fenceGuard(projects: readonly string[]): SQL {
  return sql`${sql.raw(FENCE_GUARD)} (SELECT value FROM json_each(${JSON.stringify([...new Set(projects)])}))`;
}

/** The same guard as a prepared D1 statement, for stores that batch D1 statements themselves. */
export function fenceGuardStatement(db: D1Database, projects: readonly string[]): D1PreparedStatement {
  return db.prepare(`${FENCE_GUARD} (SELECT value FROM json_each(?1))`).bind(JSON.stringify([...new Set(projects)]));
}

const FENCE_GUARD = "INSERT INTO shard_fences (project) SELECT project FROM shard_fences WHERE project IN";

/** Whether a failed batch was stopped by `fenceGuard`. */
export function isFenced(e: unknown): boolean {
  const text = `${String((e as Error)?.message ?? e)} ${String((e as Error)?.cause ?? "")}`;
  return /UNIQUE constraint failed: shard_fences\.project/.test(text);
}

/** A shard a write goes to, with the written projects it holds. */
export interface ShardWrite {
  shard: string;
  db: D1Database;
  projects: Placement[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A write that waited FROZEN_WAIT_MS for a move's last pass: the client is told to come back. */
const stillMoving = (project: string) =>
  new ApiError("other", `Project ${project} is moving between shards: retry in a few seconds`, {
    status: 503,
    headers: { "Retry-After": "5" },
  });

/**
 * Runs a write of `projects` on the shards that hold them (placing new ones): `write` is
 * called once per shard with the projects there (in parallel), and must start its batch with
 * `fenceGuard` of them. A fenced batch wrote nothing: the map is read again from the
 * primary and the write goes where the projects are now, after waiting out a move's last
 * pass (503 with Retry-After past FROZEN_WAIT_MS). Each shard's part is all or nothing;
 * parts on two shards are two batches, each safe to retry (the families' writes are
 * idempotent).
 */
export async function writeToShards<T>(
  env: Env,
  projects: readonly string[],
  write: (target: ShardWrite) => Promise<T>,
): Promise<T[]> {
  const deadline = Date.now() + FROZEN_WAIT_MS;
  let placed = await place(env, projects);
  const out: T[] = [];
  let pending = [...new Set(projects)];
  while (pending.length) {
    const frozen = pending.filter((p) => placed.get(p)?.frozen);
    if (frozen.length) {
      if (Date.now() > deadline) throw stillMoving(frozen[0]);
      await sleep(FROZEN_POLL_MS);
      placed = await placementsOf(env, pending, { fresh: true });
      continue;
    }
    const byShard = groupByShard(pending.map((project) => placed.get(project) as Placement));
    // The shards' parts at once: one round trip of time however many shards a post spans.
    const parts = [...byShard];
    const settled = await Promise.allSettled(
      parts.map(([shard, ps]) => write({ shard, db: shardDb(env, shard), projects: ps })),
    );
    const retry: string[] = [];
    settled.forEach((r, i) => {
      if (r.status === "fulfilled") out.push(r.value);
      else if (isFenced(r.reason))
        for (const p of parts[i][1]) {
          forgetPlacements(p.project);
          retry.push(p.project);
        }
    });
    const failed = settled.find((r) => r.status === "rejected" && !isFenced(r.reason));
    if (failed) throw (failed as PromiseRejectedResult).reason;
    pending = retry;
    if (retry.length) placed = await placementsOf(env, retry, { fresh: true });
    if (retry.length && Date.now() > deadline) throw stillMoving(retry[0]);
  }
  return out;
}

/** Telemetry series ids of a project: ((number+1)·2^24, (number+2)·2^24); ids below 2^24 predate shards. */
export const SERIES_SPAN = 16_777_216;
export const seriesFloor = (number: number) => (number + 1) * SERIES_SPAN;
/** A series id's project number, or null for an id from before shards (any shard may hold it). */
export const seriesProjectNumber = (seriesId: number) =>
  seriesId < SERIES_SPAN ? null : Math.floor(seriesId / SERIES_SPAN) - 1;
