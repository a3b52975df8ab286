/**
 * Moving a project between shards (docs/deploy.md, "Shards: adding one, moving a project"):
 * a resumable copy-then-switch. The state is a row of `shard_moves` in the main DB; each
 * call of `runMove` does bounded units of work (a page of one table, or one step's switch)
 * and saves its cursor after each, so a move can die anywhere and resume; every unit is
 * idempotent (upserts by key, deletes by key, fence rows inserted or ignored).
 *
 *   copy     the project live on the source: a fence row in the target (nobody may write
 *            the project there), then every table's rows upserted into the target, page by page.
 *   catchup  still live: the sync below once, so the frozen one copies only what changed
 *            since (a long copy leaves every active chunk behind).
 *   freeze   shard_map.frozen = 1 (fresh writers wait), then a fence row in the source
 *            (writers with a stale map are bounced and re-read it): nothing writes the project.
 *   sync     the target made equal to the source: append-only tables from where the copy
 *            ended, mutable ones by a diff of both sides by key (rows copied, rows deleted).
 *   switch   the target's fence row deleted, then the map names the target and unfreezes.
 *   cleanup  two map lifetimes after the switch (stale readers may read the source until
 *            then), the source's rows deleted page by page; its fence row stays.
 *
 * This file knows no family: each family describes its tables as `MoveTable`s
 * (src/telemetry/shard-tables.ts, src/monitor/shard-tables.ts) and the caller passes them.
 */
import { jsonParts } from "./d1";
import { forgetPlacements, MAIN, placementsOf, SHARD_MAP_TTL_MS, shardDb, shardNames } from "./shards";

/** A key or a cursor: column values in the table's order (SQLite's: numbers before text). */
export type Key = Array<string | number | null>;
export type Row = Record<string, unknown>;

/** The project being moved: its name and number (the base of its id ranges, src/db/shards.ts). */
export interface MoveProject {
  project: string;
  number: number;
}

/** A page of a table's rows of the project, from one shard. */
export interface Page {
  rows: Row[];
  /** Where the next page starts (the last key read or scanned; the input cursor when nothing was). */
  next: Key | null;
  /** Nothing of the project after `next` at the time of reading. */
  done: boolean;
}

/**
 * How the move treats a table:
 * - `append`: rows are only ever inserted, at keys after every key the read has passed
 *   (rowid ranges, insert-only tables read in rowid order): sync goes on from where the copy ended.
 * - `mutable`: rows change or go (chunks appended in place, archived, rollups summed):
 *   sync diffs both sides by key from the start; `read` must return rows in `key` order and
 *   `next` in the same order.
 * - `fixed`: written before shards existed and never since (legacy rows): copied, not synced.
 */
export type MoveMode = "append" | "mutable" | "fixed";

export interface MoveTable {
  /** Unique among the tables of a move (the cursor names it). */
  name: string;
  table: string;
  /** The columns copied (never a source-local rowid). */
  columns: readonly string[];
  /** A unique key: rows are written over and deleted by it. */
  key: readonly string[];
  /**
   * How a copied row meets a stored one: `replace` (default) writes it over; `ignore` keeps
   * the stored one — for rows copied without their rowid (the target numbers them), whose
   * rowid order is their order and must not change when a page is copied twice.
   */
  conflict?: "replace" | "ignore";
  mode: MoveMode;
  /** `mutable`: the columns that tell a changed row (read narrow, then the changed rows whole). */
  compare?: readonly string[];
  /** Most rows a page reads (default PAGE_ROWS): smaller for wide rows. */
  pageRows?: number;
  /**
   * The project's rows after `cursor` (null: from the start), at most `limit` read or
   * scanned: `columns` of them (the key's columns always among them).
   */
  read(db: D1Database, p: MoveProject, cursor: Key | null, limit: number, columns: readonly string[]): Promise<Page>;
}

export const STEPS = ["copy", "catchup", "freeze", "sync", "switch", "cleanup", "done"] as const;
export type Step = (typeof STEPS)[number];

/** Default rows a page reads. */
export const PAGE_ROWS = 500;
/** Rows a sync page compares (narrow reads: key and compared columns). */
const COMPARE_ROWS = 2000;
/** Default time a call works before answering (the script calls again). */
export const CALL_BUDGET_MS = 5000;
/**
 * A call runs a move only while it holds its lease, renewed by every unit it saves: two
 * calls at once (the script and an operator) would otherwise interleave units, and a
 * stale sync page written after the switch would undo newer writes. A call that died
 * frees the move when its lease runs out.
 */
const LEASE_MS = 60_000;

interface Cursor {
  /** Index of the table the step is at. */
  table?: number;
  /** Position inside it. */
  at?: Key | null;
  /** Where the copy of each append table ended (sync goes on from there). */
  ends?: Record<string, Key | null>;
  /** Rows written to the target (copy and sync) or deleted (sync, cleanup). */
  copied?: number;
  synced?: number;
  deleted?: number;
  /** When the freeze began and how long it lasted (ms), for the report. */
  frozenAt?: number;
  frozenMs?: number;
  /** Rows written to the target while frozen. */
  frozenRows?: number;
  /** The call running the move, and until when (ms). */
  runner?: string;
  leaseUntil?: number;
}

export interface MoveState {
  project: string;
  source: string;
  target: string;
  step: Step;
  cursor: Cursor;
  started_at: number;
  updated_at: number;
  switched_at: number | null;
}

type MoveRow = Omit<MoveState, "cursor" | "step"> & { step: string; cursor: string };

export class MoveRefused extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
  ) {
    super(message);
  }
}

// ─── Keys and rows ──────────────────────────────────────────────────────────

const utf8 = new TextEncoder();
/** SQLite's BINARY order: NULL, then numbers, then text by its UTF-8 bytes. */
function compareValue(a: Key[number], b: Key[number]): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : 1;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export function compareKeys(a: Key, b: Key): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareValue(a[i], b[i]);
    if (c) return c;
  }
  return a.length - b.length;
}

const keyOf = (t: MoveTable, r: Row): Key => t.key.map((c) => r[c] as Key[number]);
const same = (a: Row, b: Row, cols: readonly string[]) => cols.every((c) => a[c] === b[c]);

/** `(a, b) > (?, ?)` for a keyset page (empty when there is no cursor). */
export function after(columns: readonly string[], cursor: Key | null): { sql: string; params: Key } {
  if (!cursor) return { sql: "true", params: [] };
  return { sql: `(${columns.join(", ")}) > (${columns.map(() => "?").join(", ")})`, params: cursor };
}

const pick = (cols: readonly string[]) => cols.map((_, i) => `j.value ->> ${i}`).join(", ");

/** Statements writing `rows` over the target's rows of the same keys (every unique key: REPLACE). */
function upserts(db: D1Database, t: MoveTable, rows: Row[]): D1PreparedStatement[] {
  return jsonParts(rows.map((r) => t.columns.map((c) => r[c]))).map((json) =>
    db
      .prepare(
        `INSERT OR ${t.conflict === "ignore" ? "IGNORE" : "REPLACE"} INTO ${t.table} (${t.columns.join(", ")})
         SELECT ${pick(t.columns)} FROM json_each(?1) j ORDER BY j.key`,
      )
      .bind(json),
  );
}

/** Statements deleting the rows of these keys. */
function deletes(db: D1Database, t: MoveTable, keys: Key[]): D1PreparedStatement[] {
  return jsonParts(keys).map((json) =>
    db
      .prepare(`DELETE FROM ${t.table} WHERE (${t.key.join(", ")}) IN (SELECT ${pick(t.key)} FROM json_each(?1) j)`)
      .bind(json),
  );
}

/** The rows of these keys (whole). */
export async function rowsAt(
  db: D1Database,
  table: string,
  columns: readonly string[],
  key: readonly string[],
  keys: Key[],
): Promise<Row[]> {
  if (!keys.length) return [];
  const out: Row[] = [];
  for (const json of jsonParts(keys)) {
    const { results } = await db
      .prepare(
        `SELECT ${columns.join(", ")} FROM ${table} WHERE (${key.join(", ")}) IN (SELECT ${pick(key)} FROM json_each(?1) j)`,
      )
      .bind(json)
      .all<Row>();
    out.push(...results);
  }
  return out;
}

/** A keyset page: `where` narrows to the project (by an index), `order` is the page order and cursor. */
export async function keysetPage(
  db: D1Database,
  q: { table: string; columns: readonly string[]; where: string; params: Key; order: readonly string[] },
  cursor: Key | null,
  limit: number,
  last: (r: Row) => Key = (r) => q.order.map((c) => r[c] as Key[number]),
): Promise<Page> {
  const a = after(q.order, cursor);
  const cols = [...new Set([...q.columns, ...q.order])];
  const { results } = await db
    .prepare(
      `SELECT ${cols.join(", ")} FROM ${q.table} WHERE ${q.where} AND ${a.sql} ORDER BY ${q.order.join(", ")} LIMIT ${limit}`,
    )
    .bind(...q.params, ...a.params)
    .all<Row>();
  return {
    rows: results,
    next: results.length ? last(results[results.length - 1]) : cursor,
    done: results.length < limit,
  };
}

// ─── State ──────────────────────────────────────────────────────────────────

/** A database read on its primary: a replica could miss writes made just before the freeze. */
const primary = (db: D1Database) => db.withSession("first-primary") as unknown as D1Database;
const fresh = (env: Env) => primary(env.DB);

function stateOf(r: MoveRow): MoveState {
  return { ...r, step: r.step as Step, cursor: JSON.parse(r.cursor) as Cursor };
}

export async function moveState(env: Env, project: string): Promise<MoveState | null> {
  const row = await fresh(env)
    .prepare(
      "SELECT project, source, target, step, cursor, started_at, updated_at, switched_at FROM shard_moves WHERE project = ?1",
    )
    .bind(project)
    .first<MoveRow>();
  return row ? stateOf(row) : null;
}

/** `shard_moves` still names this runner (its lease not taken over), as SQL on ?1 = project, ?9 = runner. */
const HOLDS = "EXISTS (SELECT 1 FROM shard_moves WHERE project = ?1 AND cursor ->> '$.runner' = ?9)";

/** Saves the state and renews the lease; `extra` (the switch's map update) only while the lease holds. */
async function save(env: Env, s: MoveState, extra: (main: D1Database) => D1PreparedStatement[] = () => []) {
  s.updated_at = Date.now();
  s.cursor.leaseUntil = s.updated_at + LEASE_MS;
  const main = fresh(env);
  const results = await main.batch([
    ...extra(main),
    main
      .prepare(
        `UPDATE shard_moves SET step = ?2, cursor = ?3, updated_at = ?4, switched_at = ?5 WHERE project = ?1 AND ${HOLDS}`,
      )
      .bind(
        s.project,
        s.step,
        JSON.stringify(s.cursor),
        s.updated_at,
        s.switched_at,
        null,
        null,
        null,
        s.cursor.runner,
      ),
  ]);
  if (!results.at(-1)?.meta.changes) throw new MoveRefused(`Another call took over the move of ${s.project}`, 409);
}

/**
 * Starts a move of `project` to `target`, or finds the one under way (the same target:
 * it resumes; another: 409). Refused: a shard not in SHARDS, the shard it is on, a project
 * with no place (it has no rows to move).
 */
export async function startMove(env: Env, project: string, target: string): Promise<MoveState> {
  if (!shardNames(env).includes(target))
    throw new MoveRefused(`Shard ${target} is not one of SHARDS (${shardNames(env).join(", ")})`, 400);
  const running = await moveState(env, project);
  if (running && running.step !== "done") {
    if (running.target === target) return running;
    throw new MoveRefused(`Project ${project} is already moving from ${running.source} to ${running.target}`, 409);
  }
  const placed = (await placementsOf(env, [project], { fresh: true })).get(project);
  if (!placed) throw new MoveRefused(`Project ${project} has no shard yet (no rows): nothing to move`, 404);
  // The script run again after its move finished: the finished move.
  if (placed.shard === target && running?.target === target) return running;
  if (placed.shard === target) throw new MoveRefused(`Project ${project} is on ${target} already`, 409);
  // The target refuses the project's writes before anything is copied there (before the
  // move exists: a call that takes it over finds the fence in place).
  await fence(shardDb(env, target), project);
  const now = Date.now();
  const s: MoveState = {
    project,
    source: placed.shard,
    target,
    step: "copy",
    cursor: { table: 0, at: null, ends: {}, copied: 0, synced: 0, deleted: 0 },
    started_at: now,
    updated_at: now,
    switched_at: null,
  };
  // A finished move's row is replaced; a concurrent start of another loses on the step check.
  const { meta } = await fresh(env)
    .prepare(
      `INSERT INTO shard_moves (project, source, target, step, cursor, started_at, updated_at, switched_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, NULL)
       ON CONFLICT (project) DO UPDATE SET source = excluded.source, target = excluded.target, step = excluded.step,
         cursor = excluded.cursor, started_at = excluded.started_at, updated_at = excluded.updated_at, switched_at = NULL
       WHERE shard_moves.step = 'done'`,
    )
    .bind(project, s.source, target, s.step, JSON.stringify(s.cursor), now)
    .run();
  if (!meta.changes) throw new MoveRefused(`Project ${project} is already moving`, 409);
  return s;
}

// ─── Steps ──────────────────────────────────────────────────────────────────

export interface RunOptions {
  /** Most units of work (a page, a switch) this call does; default: until the budget is spent. */
  steps?: number;
  /** Time this call works before answering (ms); a freeze runs on to the switch regardless. */
  budgetMs?: number;
  now?: () => number;
}

/**
 * Runs a move on from its saved state: units of work until it is done, `steps` units
 * are done, or the budget is spent (not while frozen: the writers wait for the switch).
 */
export async function runMove(
  env: Env,
  project: string,
  tables: readonly MoveTable[],
  opts: RunOptions = {},
): Promise<MoveState> {
  const now = opts.now ?? Date.now;
  const until = now() + (opts.budgetMs ?? CALL_BUDGET_MS);
  const placed = (await placementsOf(env, [project], { fresh: true })).get(project);
  if (!placed) throw new MoveRefused(`Project ${project} has no shard`, 404);
  const p: MoveProject = { project, number: placed.number };
  const runner = crypto.randomUUID();
  const main = fresh(env);
  const claimed = await main
    .prepare(
      `UPDATE shard_moves SET cursor = json_set(cursor, '$.runner', ?2, '$.leaseUntil', ?3)
       WHERE project = ?1 AND coalesce(cursor ->> '$.leaseUntil', 0) < ?4`,
    )
    .bind(project, runner, Date.now() + LEASE_MS, Date.now())
    .run();
  if (!claimed.meta.changes) {
    if (!(await moveState(env, project))) throw new MoveRefused(`No move of project ${project}`, 404);
    throw new MoveRefused(`Another call is running the move of ${project}: try again in a minute at most`, 409);
  }
  try {
    let s = (await moveState(env, project)) as MoveState;
    let units = 0;
    while (s.step !== "done") {
      if (opts.steps !== undefined && units >= opts.steps) break;
      const frozen = s.step === "freeze" || s.step === "sync" || s.step === "switch";
      if (opts.steps === undefined && !frozen && units > 0 && now() >= until) break;
      const worked = await unit(env, s, p, tables, now);
      if (!worked) break; // cleanup waits for stale map caches to expire
      units++;
      s = (await moveState(env, project)) as MoveState;
    }
  } finally {
    await main
      .prepare(
        "UPDATE shard_moves SET cursor = json_set(cursor, '$.leaseUntil', 0) WHERE project = ?1 AND cursor ->> '$.runner' = ?2",
      )
      .bind(project, runner)
      .run();
  }
  return (await moveState(env, project)) as MoveState;
}

/** One unit of work of the current step, its cursor saved; false when the step must wait. */
async function unit(env: Env, s: MoveState, p: MoveProject, tables: readonly MoveTable[], now: () => number) {
  const source = primary(shardDb(env, s.source));
  const target = primary(shardDb(env, s.target));
  const c = s.cursor;
  const i = c.table ?? 0;
  const t = tables[i];
  switch (s.step) {
    case "copy": {
      if (!t) return next(env, s, "catchup");
      return copyPage(env, s, t, p, source, target, c.at ?? null);
    }
    case "freeze": {
      // The map first: a writer that read it before the freeze and writes the source
      // before the fence below is caught by the sync, which starts after both.
      await fresh(env)
        .prepare(`UPDATE shard_map SET frozen = 1 WHERE project = ?1 AND ${HOLDS}`)
        .bind(p.project, null, null, null, null, null, null, null, c.runner)
        .run();
      await fence(source, p.project);
      forgetPlacements(p.project);
      c.frozenAt = now();
      return next(env, s, "sync");
    }
    case "catchup":
    case "sync": {
      if (!t) return next(env, s, s.step === "sync" ? "switch" : "freeze");
      if (t.mode === "fixed") return advance(env, s);
      if (t.mode === "append") {
        const from = c.at !== undefined && c.at !== null ? c.at : (c.ends?.[t.name] ?? null);
        return copyPage(env, s, t, p, source, target, from);
      }
      return syncMutable(env, s, t, p, source, target);
    }
    case "switch": {
      // The target's fence goes before the map names it: nobody writes it until then.
      await target.prepare("DELETE FROM shard_fences WHERE project = ?1").bind(p.project).run();
      s.switched_at = now();
      c.frozenMs = c.frozenAt === undefined ? undefined : s.switched_at - c.frozenAt;
      s.step = "cleanup";
      c.table = tables.length - 1;
      c.at = null;
      await save(env, s, (main) => [
        main
          .prepare(`UPDATE shard_map SET shard = ?2, frozen = 0 WHERE project = ?1 AND ${HOLDS}`)
          .bind(p.project, s.target, null, null, null, null, null, null, c.runner),
      ]);
      forgetPlacements(p.project);
      return true;
    }
    case "cleanup": {
      if (now() < (s.switched_at ?? 0) + 2 * SHARD_MAP_TTL_MS) return false;
      // Tables in reverse: rows derived from others (metadata from series) go first.
      if (i < 0 || !t) return next(env, s, "done");
      const page = await t.read(source, p, c.at ?? null, t.pageRows ?? PAGE_ROWS, t.key);
      if (page.rows.length)
        await source.batch(
          deletes(
            source,
            t,
            page.rows.map((r) => keyOf(t, r)),
          ),
        );
      c.deleted = (c.deleted ?? 0) + page.rows.length;
      if (page.done) {
        c.table = i - 1;
        c.at = null;
      } else c.at = page.next;
      await save(env, s);
      return true;
    }
    default:
      return false;
  }
}

/** A fence row: writes of the project are refused in this shard (idempotent). */
async function fence(db: D1Database, project: string) {
  await db.prepare("INSERT OR IGNORE INTO shard_fences (project) VALUES (?1)").bind(project).run();
}

/**
 * One page of a table's rows from `from` on, upserted into the target: the copy's unit, and
 * an append-only table's in catch-up and sync (which go on from where the copy ended).
 */
async function copyPage(
  env: Env,
  s: MoveState,
  t: MoveTable,
  p: MoveProject,
  source: D1Database,
  target: D1Database,
  from: Key | null,
) {
  const c = s.cursor;
  const page = await t.read(source, p, from, t.pageRows ?? PAGE_ROWS, t.columns);
  if (page.rows.length) await target.batch(upserts(target, t, page.rows));
  if (s.step === "copy") c.copied = (c.copied ?? 0) + page.rows.length;
  else count(s, page.rows.length);
  if (page.done) {
    c.ends = { ...c.ends, [t.name]: page.next };
    return advance(env, s);
  }
  c.at = page.next;
  await save(env, s);
  return true;
}

/** Rows a sync unit wrote or deleted in the target (while frozen: the frozen window's rows too). */
function count(s: MoveState, rows: number) {
  s.cursor.synced = (s.cursor.synced ?? 0) + rows;
  if (s.step === "sync") s.cursor.frozenRows = (s.cursor.frozenRows ?? 0) + rows;
}

async function advance(env: Env, s: MoveState) {
  s.cursor.table = (s.cursor.table ?? 0) + 1;
  s.cursor.at = null;
  await save(env, s);
  return true;
}

async function next(env: Env, s: MoveState, step: Step) {
  s.step = step;
  s.cursor.table = 0;
  s.cursor.at = null;
  await save(env, s);
  return true;
}

/**
 * One page of a mutable table's diff: both sides read narrow from the cursor, compared up
 * to the lower of the two pages' ends; rows missing or different copied whole, rows the
 * source no longer has deleted.
 */
async function syncMutable(
  env: Env,
  s: MoveState,
  t: MoveTable,
  p: MoveProject,
  source: D1Database,
  target: D1Database,
) {
  const c = s.cursor;
  const cols = [...new Set([...t.key, ...(t.compare ?? t.columns)])];
  const limit = Math.max(t.pageRows ?? PAGE_ROWS, COMPARE_ROWS);
  const [a, b] = await Promise.all([
    t.read(source, p, c.at ?? null, limit, cols),
    t.read(target, p, c.at ?? null, limit, cols),
  ]);
  const ends = [a, b].filter((x) => !x.done).map((x) => x.next as Key);
  const bound = ends.length ? ends.reduce((m, k) => (compareKeys(k, m) < 0 ? k : m)) : null;
  const within = (r: Row) => bound === null || compareKeys(keyOf(t, r), bound) <= 0;
  const theirs = new Map(b.rows.filter(within).map((r) => [JSON.stringify(keyOf(t, r)), r]));
  const changed: Key[] = [];
  for (const r of a.rows.filter(within)) {
    const k = JSON.stringify(keyOf(t, r));
    const other = theirs.get(k);
    theirs.delete(k);
    if (!other || !same(r, other, cols)) changed.push(keyOf(t, r));
  }
  const gone = [...theirs.values()].map((r) => keyOf(t, r));
  const rows = await rowsAt(source, t.table, t.columns, t.key, changed);
  const writes = [...deletes(target, t, gone), ...upserts(target, t, rows)];
  if (writes.length) await target.batch(writes);
  count(s, rows.length + gone.length);
  if (bound === null) return advance(env, s);
  c.at = bound;
  await save(env, s);
  return true;
}

/** Projects per shard (from the map), every shard of SHARDS listed. */
export async function shardCounts(env: Env): Promise<Array<{ shard: string; projects: number; main: boolean }>> {
  const { results } = await env.DB.prepare("SELECT shard, count(*) AS n FROM shard_map GROUP BY shard").all<{
    shard: string;
    n: number;
  }>();
  const names = [...new Set([...shardNames(env), ...results.map((r) => r.shard)])];
  return names.map((shard) => ({
    shard,
    projects: results.find((r) => r.shard === shard)?.n ?? 0,
    main: shard === MAIN,
  }));
}
