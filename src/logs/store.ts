/** D1 side of the logs family: one row per log, the body inline or named by `in_r2`. */
import { and, asc, count, desc, eq, gt, gte, inArray, lt, lte, type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { logs } from "../db/schema";
import { bodyKey } from "./bodies";

export type LogRow = {
  seq: number;
  logId: string;
  name: string | null;
  datasetId: string | null;
  taskId: string | null;
  timestamp: string;
  extra: Record<string, string>;
  inR2: boolean;
  bodyBytes: number;
  /** Inline body; absent when the query did not ask for it. */
  data?: string | null;
};

const meta = {
  seq: logs.seq,
  logId: logs.logId,
  name: logs.name,
  datasetId: logs.datasetId,
  taskId: logs.taskId,
  timestamp: logs.timestamp,
  extra: logs.extra,
  inR2: logs.inR2,
  bodyBytes: logs.bodyBytes,
};
const columns = (withData: boolean) => (withData ? { ...meta, data: logs.data } : meta);

export type NewLog = {
  logId: string;
  name: string | null;
  datasetId: string | null;
  taskId: string | null;
  extra: Record<string, string>;
  data: string | null;
  inR2: boolean;
  bodyBytes: number;
};

/**
 * Inserts a log. Its timestamp is computed by the statement from the newest row (one
 * index probe), so timestamps are unique and strictly increase in insertion order even
 * when posts from many isolates race and their clocks disagree. With `onlyIf` the row
 * is written only when that condition holds (a dataset post's access, checked by the
 * same statement). Returns whether a row was written.
 */
export async function insertLog(db: Database, log: NewLog, onlyIf?: SQL): Promise<boolean> {
  const nowUs = Date.now() * 1000;
  const result = await db.run(sql`
    INSERT INTO logs (log_id, name, dataset_id, task_id, extra, data, in_r2, body_bytes, ts_us, timestamp)
    SELECT ${log.logId}, ${log.name}, ${log.datasetId}, ${log.taskId}, ${JSON.stringify(log.extra)}, ${log.data},
      ${log.inR2 ? 1 : 0}, ${log.bodyBytes}, t.us,
      strftime('%Y-%m-%dT%H:%M:%S', t.us / 1000000, 'unixepoch') || '.' || printf('%06d', t.us % 1000000)
    FROM (SELECT max(CAST(${nowUs} AS INTEGER),
      coalesce((SELECT ts_us FROM logs ORDER BY timestamp DESC LIMIT 1), 0) + 1) AS us) AS t
    WHERE ${onlyIf ?? sql`1`}`);
  return result.meta.changes > 0;
}

export async function findLog(
  db: Database,
  logId: string,
  opts: { datasetId?: string; withData: boolean },
): Promise<LogRow | null> {
  const where =
    opts.datasetId === undefined
      ? eq(logs.logId, logId)
      : and(eq(logs.logId, logId), eq(logs.datasetId, opts.datasetId));
  const [row] = await db.select(columns(opts.withData)).from(logs).where(where).limit(1);
  return row ?? null;
}

export type LogFilter = { from?: string; to?: string; name?: string; datasetId?: string; taskId?: string };

function filterConditions(f: LogFilter): SQL[] {
  const c: SQL[] = [];
  if (f.from) c.push(gte(logs.timestamp, f.from));
  if (f.to) c.push(lte(logs.timestamp, f.to));
  if (f.name) c.push(eq(logs.name, f.name));
  if (f.datasetId) c.push(eq(logs.datasetId, f.datasetId));
  if (f.taskId) c.push(eq(logs.taskId, f.taskId));
  return c;
}

/** Rows per D1 query while a list streams: inline bodies are at most LOG_INLINE_MAX each. */
export const PAGE_ROWS = 100;

/**
 * Matching logs in time order, a page at a time (keyset on the unique timestamp, so
 * each page is an index range whichever of the (…, timestamp) indexes the filter uses).
 */
export async function* listLogs(
  db: Database,
  f: LogFilter & { order: "asc" | "desc"; limit: number; withData: boolean },
  first?: LogRow[],
): AsyncGenerator<LogRow> {
  let left = f.limit > 0 ? f.limit : Infinity;
  let after: string | null = null;
  for (;;) {
    const page: LogRow[] = first ?? (await listPage(db, f, after, Math.min(PAGE_ROWS, left)));
    first = undefined;
    for (const row of page) yield row;
    left -= page.length;
    if (page.length < PAGE_ROWS || left <= 0) return;
    after = page[page.length - 1].timestamp;
  }
}

/** One page of a list, as a query (tests read its plan). */
export function listQuery(
  db: Database,
  f: LogFilter & { order: "asc" | "desc"; withData: boolean },
  after: string | null,
  rows = PAGE_ROWS,
) {
  const c = filterConditions(f);
  if (after !== null) c.push(f.order === "asc" ? gt(logs.timestamp, after) : lt(logs.timestamp, after));
  return db
    .select(columns(f.withData))
    .from(logs)
    .where(and(...c))
    .orderBy(f.order === "asc" ? asc(logs.timestamp) : desc(logs.timestamp))
    .limit(rows);
}

export async function listPage(
  db: Database,
  f: LogFilter & { order: "asc" | "desc"; withData: boolean },
  after: string | null,
  rows = PAGE_ROWS,
): Promise<LogRow[]> {
  return await listQuery(db, f, after, rows);
}

/**
 * A task's logs, one per name: the newest (desc) or oldest (asc) of each, groups
 * ordered by that log's time. SQLite takes the bare columns of a max()/min()
 * aggregate from the row that holds the extreme, so this reads the task's rows once.
 */
export function latestPerNameQuery(
  db: Database,
  datasetId: string,
  taskId: string,
  opts: { order: "asc" | "desc"; num: number; withData: boolean },
) {
  const pick = opts.order === "desc" ? sql<string>`max(${logs.timestamp})` : sql<string>`min(${logs.timestamp})`;
  return db
    .select({ ...columns(opts.withData), pick })
    .from(logs)
    .where(and(eq(logs.datasetId, datasetId), eq(logs.taskId, taskId)))
    .groupBy(logs.name)
    .orderBy(opts.order === "desc" ? desc(logs.timestamp) : asc(logs.timestamp))
    .limit(opts.num > 0 ? opts.num : -1);
}

export async function latestPerName(...args: Parameters<typeof latestPerNameQuery>): Promise<LogRow[]> {
  const rows = await latestPerNameQuery(...args);
  return rows.map(({ pick: _, ...row }) => row);
}

export async function countLogs(db: Database, f: LogFilter): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(logs)
    .where(and(...filterConditions(f)));
  return row?.n ?? 0;
}

/**
 * Deletes every matching log, a batch at a time: bodies first, then rows, so a delete
 * that fails half-way is finished by running it again and never strands a body that no
 * row names. `progress` hears how many went after each batch.
 */
export async function deleteLogs(
  db: Database,
  bucket: R2Bucket,
  f: LogFilter & { logId?: string },
  progress?: (deleted: number) => Promise<void>,
): Promise<number> {
  const where = and(...filterConditions(f), f.logId === undefined ? undefined : eq(logs.logId, f.logId));
  let deleted = 0;
  for (;;) {
    // PAGE_ROWS (100) seqs per DELETE: D1_MAX_PARAMS (src/db/d1.ts) bounds one statement.
    const batch = await db
      .select({ seq: logs.seq, logId: logs.logId, inR2: logs.inR2 })
      .from(logs)
      .where(where)
      .limit(PAGE_ROWS);
    if (batch.length === 0) return deleted;
    const keys = batch.filter((r) => r.inR2).map((r) => bodyKey(r.logId));
    if (keys.length) await bucket.delete(keys);
    await db.delete(logs).where(
      inArray(
        logs.seq,
        batch.map((r) => r.seq),
      ),
    );
    deleted += batch.length;
    if (progress) await progress(deleted);
    if (batch.length < PAGE_ROWS) return deleted;
  }
}
