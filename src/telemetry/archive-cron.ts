/**
 * The telemetry archive cron (wrangler.toml `[triggers] crons`): moves whole chunks
 * older than the hot window to R2, then applies the retentions
 * (docs/telemetry-storage.md). Each move step writes and verifies its objects before
 * one D1 batch indexes them, keeps the chunks' summaries as hour rollups and deletes
 * exactly the chunks they hold (a CHECK aborts the batch otherwise), so a run that dies
 * anywhere loses and duplicates nothing; the next run resumes from the oldest chunk left.
 */
import { and, asc, eq, gte, lt, not, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import {
  telemetryArchive,
  telemetryArchiveGuard,
  telemetryChunks,
  telemetryRollups,
  telemetrySeries,
} from "../db/schema";
import { fenceGuard, isFenced, shardNames } from "../db/shards";
import { expand, inJsonList, runBatch, type SampleRow } from "./chunks";
import { encodeObject, objectKey } from "./cold";
import { onShard } from "./fan-out";
import { rollupChunks } from "./rollups";
import { DAY_US, dayOf, hotFrom, retainFrom, rollupFrom, type Tiers, tiersOf } from "./tiers";

const ch = telemetryChunks;
/** Most samples one object holds (bounds the Worker's memory: ~20 MB of JSON before gzip). */
export const PART_ROWS = 20_000;
/** Most samples one run moves; the next run goes on (a run every 10 minutes moves ≤ 28.8M a day). */
export const RUN_ROWS = 200_000;
/** Most cold objects, raw rows or rollups one retention statement removes. */
const RETAIN_CHUNK = 1000;

export interface ArchiveReport {
  moved: number;
  objects: number;
  bytes: number;
  expiredObjects: number;
  expiredRows: number;
  expiredRollups: number;
  /** D1 rows written by the move batches (rows and index entries, as D1 bills them). */
  rowsWritten: number;
  done: boolean;
}

/** Test hook: called after each stage of a move step; throwing there simulates a crash. */
export type Stage = "read" | "written" | "committed";

export async function runArchive(
  env: Env,
  nowMs: number,
  opts: { maxRows?: number; onStage?: (s: Stage) => void | Promise<void> } = {},
) {
  const tiers = tiersOf(env);
  const report: ArchiveReport = {
    moved: 0,
    objects: 0,
    bytes: 0,
    expiredObjects: 0,
    expiredRows: 0,
    expiredRollups: 0,
    rowsWritten: 0,
    done: true,
  };
  // A project a move is copying keeps its rows where they are until the move is done
  // (src/db/shard-move.ts): read once a run, from the main DB.
  const { results } = await env.DB.prepare("SELECT project FROM shard_moves WHERE step <> 'done'").all<{
    project: string;
  }>();
  const skip = JSON.stringify(results.map((r) => r.project));
  // Each shard moves, indexes and rolls up its own projects' chunks (R2 keys name the project).
  for (const shard of shardNames(env)) {
    const { d1, db } = onShard(env, shard);
    const done = await archiveShard(d1, db, env.TELEMETRY_ARCHIVE, nowMs, tiers, skip, report, opts);
    report.done &&= done;
    await expire(env.TELEMETRY_ARCHIVE, db, nowMs, tiers, skip, report);
  }
  return report;
}

/**
 * Projects a run leaves alone on a shard: those a move is copying (`skip`, a JSON list),
 * and those fenced there (moved away: their rows are the move's to drop, and their R2
 * objects are the new shard's now).
 */
const leftAlone = (column: SQL | SQLiteColumn, skip: string) =>
  sql`(${column} in (select value from json_each(${skip})) or ${column} in (select project from shard_fences))`;

/** One shard's moves, up to `opts.maxRows` (RUN_ROWS) samples; whether no chunk older than the hot window is left. */
async function archiveShard(
  d1: D1Database,
  db: Database,
  archive: R2Bucket,
  nowMs: number,
  tiers: Tiers,
  skip: string,
  report: ArchiveReport,
  opts: { maxRows?: number; onStage?: (s: Stage) => void | Promise<void> },
): Promise<boolean> {
  const cutoff = hotFrom(nowMs, tiers);
  const budget = opts.maxRows ?? RUN_ROWS;
  let moved = 0;
  while (moved < budget) {
    // The oldest chunk below the hot window: the bucket index in order, the first of a project moved here.
    const [oldest] = await db
      .select({ bucket: ch.bucket })
      .from(ch)
      .innerJoin(telemetrySeries, eq(telemetrySeries.id, ch.seriesId))
      .where(and(lt(ch.bucket, cutoff), not(leftAlone(telemetrySeries.projectId, skip))))
      .orderBy(asc(ch.bucket))
      .limit(1);
    if (!oldest) return true;
    const step = await moveStep(d1, db, archive, dayOf(oldest.bucket), cutoff, nowMs, skip, report, opts.onStage);
    // A project fenced meanwhile (a move switched it): the next run leaves it alone.
    if (step === null) return false;
    moved += step;
  }
  return false;
}

/** Most chunks one step reads (their samples then fill objects of at most PART_ROWS). */
const STEP_CHUNKS = 2000;

/**
 * Moves whole chunks of one day (up to PART_ROWS samples): one object per project and
 * meter, then one D1 batch indexes the objects, adds the chunks' hour rollups and deletes
 * the chunks — guarded: unless every chunk still holds exactly the samples read (no
 * post appended meanwhile), the CHECK aborts the batch and the next run retries.
 */
async function moveStep(
  d1: D1Database,
  db: Database,
  archive: R2Bucket,
  day: number,
  cutoff: number,
  nowMs: number,
  skip: string,
  report: ArchiveReport,
  onStage?: (s: Stage) => void | Promise<void>,
): Promise<number | null> {
  const read = await db
    .select({ chunk: ch, series: telemetrySeries })
    .from(ch)
    .innerJoin(telemetrySeries, eq(telemetrySeries.id, ch.seriesId))
    .where(
      and(
        gte(ch.bucket, day),
        lt(ch.bucket, Math.min(day + DAY_US, cutoff)),
        not(leftAlone(telemetrySeries.projectId, skip)),
      ),
    )
    .orderBy(asc(ch.bucket), asc(ch.seriesId))
    .limit(STEP_CHUNKS);
  const taken: typeof read = [];
  let rowsTaken = 0;
  for (const r of read) {
    if (taken.length && rowsTaken + r.chunk.n > PART_ROWS) break;
    taken.push(r);
    rowsTaken += r.chunk.n;
  }
  await onStage?.("read");
  const parts = new Map<string, { projectId: string; meter: string; rows: SampleRow[] }>();
  for (const { chunk, series } of taken) {
    const k = JSON.stringify([series.projectId, series.meter]);
    let part = parts.get(k);
    if (!part) {
      part = { projectId: series.projectId, meter: series.meter, rows: [] };
      parts.set(k, part);
    }
    part.rows.push(...expand(series, chunk.bucket, chunk.samples));
  }
  const entries: Array<typeof telemetryArchive.$inferInsert> = [];
  for (const { projectId, meter, rows } of parts.values()) {
    rows.sort((x, y) => x.seq - y.seq);
    const minSeq = rows[0].seq;
    const maxSeq = rows[rows.length - 1].seq;
    const bytes = await encodeObject(rows);
    const md5 = await crypto.subtle.digest("MD5", bytes);
    // The digest in the key: a retried step rewrites its own object and never another's.
    const key = objectKey(projectId, meter, day, minSeq, maxSeq, md5);
    // R2 refuses a body whose MD5 differs; the head confirms it is stored whole.
    await archive.put(key, bytes, {
      md5,
      httpMetadata: { contentType: "application/x-ndjson", contentEncoding: "gzip" },
    });
    const head = await archive.head(key);
    if (!head || head.size !== bytes.byteLength) throw new Error(`archive object ${key} did not verify`);
    const ts = rows.map((r) => r.timestamp);
    entries.push({
      key,
      projectId,
      meter,
      day,
      first: Math.min(...ts),
      last: Math.max(...ts),
      n: rows.length,
      bytes: bytes.byteLength,
      minSeq,
      maxSeq,
      movedAt: nowMs * 1000,
    });
    report.bytes += bytes.byteLength;
  }
  await onStage?.("written");
  const chunks = taken.map(({ chunk }) => chunk);
  const keys = JSON.stringify(chunks.map((c) => [c.seriesId, c.bucket, c.n]));
  const moved = sql`(${ch.seriesId}, ${ch.bucket}, ${ch.n}) in (select j.value ->> 0, j.value ->> 1, j.value ->> 2 from json_each(${keys}) j)`;
  const guard = telemetryArchiveGuard;
  let results: D1Result<Record<string, unknown>>[];
  try {
    results = await runBatch(d1, [
      // A shard's write batches begin with the fence (src/db/shards.ts).
      fenceGuard([...new Set(taken.map((t) => t.series.projectId))]),
      db
        .insert(guard)
        .values({ k: "move", expected: chunks.length, actual: sql`(select count(*) from ${ch} where ${moved})` }),
      db.delete(guard).where(eq(guard.k, "move")),
      ...entries.map((e) => db.insert(telemetryArchive).values(e).onConflictDoNothing()),
      rollupChunks(chunks),
      db.delete(ch).where(moved),
    ]);
  } catch (e) {
    if (isFenced(e)) return null;
    throw e;
  }
  for (const r of results) report.rowsWritten += r.meta?.rows_written ?? 0;
  await onStage?.("committed");
  report.moved += rowsTaken;
  report.objects += entries.length;
  return rowsTaken;
}

/**
 * Retention: cold objects and raw rows older than TELEMETRY_RETAIN_DAYS (the index
 * row first, so no query ever reads a deleted object; raw rows with their metadata
 * index rows), hour rollups older than TELEMETRY_ROLLUP_RETAIN_DAYS.
 */
async function expire(
  archive: R2Bucket,
  db: Database,
  nowMs: number,
  tiers: Tiers,
  skip: string,
  report: ArchiveReport,
) {
  const a = telemetryArchive;
  const raw = retainFrom(nowMs, tiers);
  if (Number.isFinite(raw)) {
    for (;;) {
      const old = await db
        .select({ key: a.key })
        .from(a)
        .where(and(lt(a.day, raw), not(leftAlone(a.projectId, skip))))
        .limit(RETAIN_CHUNK);
      if (!old.length) break;
      await db.delete(a).where(
        inJsonList(
          a.key,
          old.map((o) => o.key),
        ),
      );
      await archive.delete(old.map((o) => o.key));
      report.expiredObjects += old.length;
    }
    for (;;) {
      // Hot chunks past retention (a late post into a long-gone day), a bounded batch at a time.
      const gone = await db
        .delete(ch)
        .where(
          sql`(${ch.seriesId}, ${ch.bucket}) in (select c.series_id, c.bucket from ${ch} c join ${telemetrySeries} s on s.id = c.series_id
            where c.bucket < ${raw} and not ${leftAlone(sql`s.project_id`, skip)} limit ${RETAIN_CHUNK})`,
        )
        .returning({ n: ch.n });
      report.expiredRows += gone.reduce((n, g) => n + g.n, 0);
      if (gone.length < RETAIN_CHUNK) break;
    }
  }
  const rollups = rollupFrom(nowMs, tiers);
  if (Number.isFinite(rollups)) {
    const r = telemetryRollups;
    for (;;) {
      const gone = await db
        .delete(r)
        .where(
          sql`rowid in (select rowid from ${r} where ${r.width} = 3600 and ${r.bucket} < ${rollups} and not ${leftAlone(r.projectId, skip)} limit ${RETAIN_CHUNK})`,
        )
        .returning({ bucket: r.bucket });
      report.expiredRollups += gone.length;
      if (gone.length < RETAIN_CHUNK) break;
    }
  }
}

/**
 * The Worker's scheduled handler (src/index.ts). It awaits the run, so the invocation (and
 * `wrangler dev --test-scheduled`'s `/__scheduled`) ends when the run does.
 */
export const scheduled: ExportedHandlerScheduledHandler<Env> = async (controller, env) => {
  const report = await runArchive(env, controller.scheduledTime);
  console.log(JSON.stringify({ telemetryArchive: report }));
};
