/**
 * The telemetry archive cron (wrangler.toml `[triggers] crons`): moves raw samples
 * older than the hot window to R2, then applies the retentions
 * (docs/telemetry-storage.md). Each move step writes and verifies its objects before
 * one D1 batch indexes them and deletes exactly the rows they hold (a CHECK aborts the
 * batch otherwise), so a run that dies anywhere loses and duplicates nothing; the next
 * run resumes from the oldest raw sample left.
 */
import { and, asc, eq, gte, lt, lte, sql, type SQL } from "drizzle-orm";
import { database, type Database } from "../db/client";
import { telemetryArchive, telemetryArchiveGuard, telemetryRollups, telemetrySampleMetadata, telemetrySamples } from "../db/schema";
import { encodeObject, objectKey } from "./cold";
import { inJsonList, type SampleRow } from "./store";
import { DAY_US, dayOf, hotFrom, retainFrom, rollupFrom, tiersOf, type Tiers } from "./tiers";

const s = telemetrySamples;
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

export async function runArchive(env: Env, nowMs: number, opts: { maxRows?: number; onStage?: (s: Stage) => void | Promise<void> } = {}) {
  const tiers = tiersOf(env);
  const db = database(env);
  const report: ArchiveReport = {
    moved: 0,
    objects: 0,
    bytes: 0,
    expiredObjects: 0,
    expiredRows: 0,
    expiredRollups: 0,
    rowsWritten: 0,
    done: false,
  };
  const cutoff = hotFrom(nowMs, tiers);
  const budget = opts.maxRows ?? RUN_ROWS;
  for (;;) {
    if (report.moved >= budget) break;
    const [oldest] = await db
      .select({ meter: s.meter, timestamp: s.timestamp })
      .from(s)
      .where(lt(s.timestamp, cutoff))
      .orderBy(asc(s.timestamp))
      .limit(1);
    if (!oldest) {
      report.done = true;
      break;
    }
    await moveStep(env, db, oldest.meter, dayOf(oldest.timestamp), nowMs, report, opts.onStage);
  }
  await expire(env, db, nowMs, tiers, report);
  return report;
}

/** Moves up to PART_ROWS samples of one meter and day: one object per project. */
async function moveStep(
  env: Env,
  db: Database,
  meter: string,
  day: number,
  nowMs: number,
  report: ArchiveReport,
  onStage?: (s: Stage) => void | Promise<void>,
) {
  const inDay = and(eq(s.meter, meter), gte(s.timestamp, day), lt(s.timestamp, day + DAY_US));
  const rows = await db.select().from(s).where(inDay).orderBy(asc(s.seq)).limit(PART_ROWS);
  const lastSeq = rows[rows.length - 1].seq;
  await onStage?.("read");
  const perProject = new Map<string, SampleRow[]>();
  for (const r of rows) {
    const part = perProject.get(r.projectId);
    if (part) part.push(r);
    else perProject.set(r.projectId, [r]);
  }
  const entries: Array<typeof telemetryArchive.$inferInsert> = [];
  for (const [projectId, part] of perProject) {
    // Rows were read in seq order, and each part keeps it.
    const minSeq = part[0].seq;
    const maxSeq = part[part.length - 1].seq;
    const bytes = await encodeObject(part);
    const md5 = await crypto.subtle.digest("MD5", bytes);
    // The digest in the key: a retried step rewrites its own object, and seqs that
    // SQLite reuses after the newest rows went cold never overwrite another move's.
    const key = objectKey(projectId, meter, day, minSeq, maxSeq, md5);
    // R2 refuses a body whose MD5 differs; the head confirms it is stored whole.
    await env.TELEMETRY_ARCHIVE.put(key, bytes, { md5, httpMetadata: { contentType: "application/x-ndjson", contentEncoding: "gzip" } });
    const head = await env.TELEMETRY_ARCHIVE.head(key);
    if (!head || head.size !== bytes.byteLength) throw new Error(`archive object ${key} did not verify`);
    const ts = part.map((r) => r.timestamp);
    entries.push({
      key,
      projectId,
      meter,
      day,
      first: Math.min(...ts),
      last: Math.max(...ts),
      n: part.length,
      bytes: bytes.byteLength,
      minSeq,
      maxSeq,
      movedAt: nowMs * 1000,
    });
    report.bytes += bytes.byteLength;
  }
  await onStage?.("written");
  const moved = and(inDay, lte(s.seq, lastSeq));
  const guard = telemetryArchiveGuard;
  const results = await db.batch([
    db.insert(guard).values({ k: "move", expected: rows.length, actual: sql`(select count(*) from ${s} where ${moved})` }),
    db.delete(guard).where(eq(guard.k, "move")),
    ...entries.map((e) => db.insert(telemetryArchive).values(e).onConflictDoNothing()),
    deleteMetadataOf(db, moved),
    db.delete(s).where(moved),
    // Minute rollups live as long as the hot samples.
    db
      .delete(telemetryRollups)
      .where(
        and(
          eq(telemetryRollups.width, 60),
          eq(telemetryRollups.meter, meter),
          gte(telemetryRollups.bucket, day),
          lt(telemetryRollups.bucket, day + DAY_US),
        ),
      ),
  ]);
  for (const r of results as unknown[]) report.rowsWritten += (r as { meta?: { rows_written?: number } }).meta?.rows_written ?? 0;
  await onStage?.("committed");
  report.moved += rows.length;
  report.objects += entries.length;
}

/**
 * Deletes the metadata index rows of the samples `where` selects (run before the samples
 * go). The side table has no index on seq, so each row is found by its primary key,
 * recomputed from the sample's metadata with json_tree as migrations/0009 does: the key
 * as ingest writes it (`a.b` for a label `a.b`) and as 0009 wrote it (`"a.b"`).
 */
export function deleteMetadataOf(db: Database, where: SQL | undefined) {
  const md = telemetrySampleMetadata;
  const path = sql`substr(j.fullkey, 3)`;
  const rows = sql`select ${md}.rowid from ${s}, json_tree(${s.metadata}) j, ${md}
    where ${where} and ${s.metadata} != '' and j.type in ('text', 'integer', 'real', 'true', 'false')
      and ${md.key} in (${path}, replace(${path}, '"', ''))
      and ${md.kind} = (case j.type when 'text' then 's' when 'true' then 'b' when 'false' then 'b' else 'n' end)
      and ${md.value} = j.atom and ${md.timestamp} = ${s.timestamp} and ${md.seq} = ${s.seq}`;
  return db.delete(md).where(sql`rowid in (${rows})`);
}

/**
 * Retention: cold objects and raw rows older than TELEMETRY_RETAIN_DAYS (the index
 * row first, so no query ever reads a deleted object; raw rows with their metadata
 * index rows), hour rollups older than TELEMETRY_ROLLUP_RETAIN_DAYS.
 */
async function expire(env: Env, db: Database, nowMs: number, tiers: Tiers, report: ArchiveReport) {
  const a = telemetryArchive;
  const raw = retainFrom(nowMs, tiers);
  if (Number.isFinite(raw)) {
    for (;;) {
      const old = await db.select({ key: a.key }).from(a).where(lt(a.day, raw)).limit(RETAIN_CHUNK);
      if (!old.length) break;
      await db.delete(a).where(
        inJsonList(
          a.key,
          old.map((o) => o.key),
        ),
      );
      await env.TELEMETRY_ARCHIVE.delete(old.map((o) => o.key));
      report.expiredObjects += old.length;
    }
    for (;;) {
      const chunk = sql`${s.seq} in (select ${s.seq} from ${s} where ${s.timestamp} < ${raw} order by ${s.timestamp}, ${s.seq} limit ${RETAIN_CHUNK})`;
      const [, deleted] = await db.batch([deleteMetadataOf(db, chunk), db.delete(s).where(chunk).returning({ seq: s.seq })]);
      report.expiredRows += deleted.length;
      if (deleted.length < RETAIN_CHUNK) break;
    }
  }
  const rollups = rollupFrom(nowMs, tiers);
  if (Number.isFinite(rollups)) {
    const r = telemetryRollups;
    for (;;) {
      const gone = await db
        .delete(r)
        .where(sql`rowid in (select rowid from ${r} where ${r.width} = 3600 and ${r.bucket} < ${rollups} limit ${RETAIN_CHUNK})`)
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
