/**
 * Telemetry's tables as a project move sees them (src/db/shard-move.ts): how to page a
 * project's rows of each by an index, never by scanning other projects' rows without a bound.
 *
 * Series ids of project number n are [seriesFloor(n), +SERIES_SPAN): a rowid range, and
 * their chunks a primary-key range. Ids below SERIES_SPAN predate shards ("legacy"): found
 * through the (project_id, meter) index, and written no more (their chunks still are).
 * Tables in parent-first order: the cleanup goes backwards, so derived rows (metadata
 * entries, legacy ids) are deleted while their series are still there to find them.
 */
import {
  after,
  type Key,
  keysetPage,
  type MoveProject,
  type MoveTable,
  type Page,
  type Row,
  rowsAt,
} from "../db/shard-move";
import { SERIES_SPAN, seriesFloor } from "../db/shards";
import { flattenMetadata } from "./schemas";

const SERIES_COLUMNS = [
  "id",
  "key",
  "meter",
  "type",
  "unit",
  "project_id",
  "resource_id",
  "resource_name",
  "display_name",
  "namespace",
  "user_id",
  "source",
  "metadata",
] as const;
const CHUNK_COLUMNS = ["series_id", "bucket", "n", "total", "lo", "hi", "squares", "first", "last", "samples"] as const;
const METADATA_COLUMNS = ["key", "kind", "value", "series_id"] as const;
const ROLLUP_KEY = ["width", "meter", "bucket", "project_id", "resource_id", "user_id", "source"] as const;
const ROLLUP_COLUMNS = [...ROLLUP_KEY, "n", "total", "lo", "hi", "squares", "first", "last", "unit"] as const;
const METER_COLUMNS = ["meter", "type", "unit", "resource_id", "project_id", "user_id", "source"] as const;
const ARCHIVE_COLUMNS = [
  "key",
  "project_id",
  "meter",
  "day",
  "first",
  "last",
  "n",
  "bytes",
  "min_seq",
  "max_seq",
  "moved_at",
] as const;

/** The project's series in its id range (the rowid range: a primary-key page). */
const rangeSeries = (p: MoveProject) => ({
  where: "id >= ? AND id < ?",
  params: [seriesFloor(p.number), seriesFloor(p.number) + SERIES_SPAN] as Key,
});

/** Legacy series of the project: the (project_id, meter) index, in its order. */
const legacySeries = (p: MoveProject) => ({
  where: `project_id = ? AND id < ${SERIES_SPAN}`,
  params: [p.project] as Key,
});

function seriesTable(name: string, mode: "append" | "fixed", legacy: boolean): MoveTable {
  const order = legacy ? ["meter", "id"] : ["id"];
  return {
    name,
    table: "telemetry_series",
    columns: SERIES_COLUMNS,
    key: ["id"],
    mode,
    read: (db, p, cursor, limit, columns) =>
      keysetPage(
        db,
        { table: "telemetry_series", columns, order, ...(legacy ? legacySeries(p) : rangeSeries(p)) },
        cursor,
        limit,
      ),
  };
}

/**
 * Metadata entries of a page of series. Their table is keyed (key, kind, value, series_id)
 * with no series index, so the entries are derived from each series' metadata JSON by the
 * flattening that wrote them and read by primary key: only rows that exist are copied.
 */
function metadataTable(name: string, mode: "append" | "fixed", series: MoveTable): MoveTable {
  return {
    name,
    table: "telemetry_series_metadata",
    columns: METADATA_COLUMNS,
    key: METADATA_COLUMNS,
    mode,
    pageRows: 200,
    async read(db, p, cursor, limit, columns) {
      const page = await series.read(db, p, cursor, limit, ["id", "meter", "metadata"]);
      const keys: Key[] = page.rows.flatMap((s) => {
        const text = String(s.metadata ?? "");
        const entries = text ? (flattenMetadata(JSON.parse(text), Infinity) ?? []) : [];
        return entries.map((e) => [e.key, e.kind, e.value, s.id as number]);
      });
      return { ...page, rows: await rowsAt(db, "telemetry_series_metadata", columns, METADATA_COLUMNS, keys) };
    },
  };
}

const chunkTable = (name: string, where: (p: MoveProject) => { where: string; params: Key }): MoveTable => ({
  name,
  table: "telemetry_chunks",
  columns: CHUNK_COLUMNS,
  key: ["series_id", "bucket"],
  mode: "mutable",
  // A chunk holds up to 10,000 samples (~300 KB of JSON): pages of whole chunks stay small.
  pageRows: 100,
  compare: ["n", "first", "last"],
  read: (db, p, cursor, limit, columns) =>
    keysetPage(db, { table: "telemetry_chunks", columns, order: ["series_id", "bucket"], ...where(p) }, cursor, limit),
});

/**
 * Legacy message ids (keyed by id, no series index): a bounded scan of the table in id
 * order, kept where the id's series is the project's. An index on series_id would cost a
 * written row per legacy id once, ≈ 1000 reads each: the scan, a read per row per pass
 * (copy and cleanup; the rows are never written again, so sync skips them), is cheaper
 * for any deployment that moves projects fewer than a thousand times.
 */
const legacyIdsTable: MoveTable = {
  name: "telemetry_legacy_ids",
  table: "telemetry_legacy_ids",
  columns: ["id", "series_id", "timestamp"],
  key: ["id"],
  mode: "fixed",
  pageRows: 2000,
  async read(db, p, cursor, limit, columns) {
    const a = after(["id"], cursor);
    const { results } = await db
      .prepare(
        `SELECT ${columns.map((c) => `l.${c}`).join(", ")}, l.id AS scanned, s.project_id = ? AS mine
         FROM (SELECT * FROM telemetry_legacy_ids WHERE ${a.sql} ORDER BY id LIMIT ${limit}) l
         LEFT JOIN telemetry_series s ON s.id = l.series_id ORDER BY l.id`,
      )
      .bind(p.project, ...a.params)
      .all<Row & { scanned: string; mine: number | null }>();
    const rows = results.filter((r) => r.mine === 1).map(({ scanned: _, mine: __, ...r }) => r);
    const last = results.at(-1);
    return { rows, next: last ? [last.scanned] : cursor, done: results.length < limit };
  },
};

/**
 * Meters: insert-only, found by the project index in rowid order (a source-local
 * position, so the table is `append`: sync goes on after the copy's last rowid);
 * written by their unique key, never by rowid (the target's rowids are its own).
 */
const metersTable: MoveTable = {
  name: "telemetry_meters",
  table: "telemetry_meters",
  columns: METER_COLUMNS,
  key: ["meter", "resource_id", "project_id", "user_id", "source", "type", "unit"],
  mode: "append",
  conflict: "ignore",
  read: (db, p, cursor, limit, columns) =>
    keysetPage(
      db,
      {
        table: "telemetry_meters",
        columns: [...columns, "rowid AS _rowid"],
        where: "project_id = ?",
        params: [p.project],
        order: ["rowid"],
      },
      cursor,
      limit,
      (r) => [r._rowid as number],
    ),
};

/** The widths rollups are kept at (src/telemetry/tiers.ts: hour; the minute ones migration 0012 made). */
const ROLLUP_WIDTHS = [60, 3600];

/**
 * Rollups are keyed (width, meter, bucket, project, …): a project's rows are found per
 * (width, meter of the project) — its meters from the series' (project_id, meter) index,
 * one row each — scanning that key range at most `limit` rows at a time (other projects'
 * rows of the same meter are read and passed over). The cursor is the last key scanned.
 */
const rollupsTable: MoveTable = {
  name: "telemetry_rollups",
  table: "telemetry_rollups",
  columns: ROLLUP_COLUMNS,
  key: ROLLUP_KEY,
  mode: "mutable",
  compare: ["n", "first", "last", "total"],
  async read(db, p, cursor, limit, columns) {
    const cols = [...new Set([...ROLLUP_KEY, ...columns])];
    const rows: Row[] = [];
    let scanned = 0;
    let at: Key | null = cursor;
    let width = cursor ? (cursor[0] as number) : ROLLUP_WIDTHS[0];
    let meter: string | null = cursor ? (cursor[1] as string) : await nextMeter(db, p, null);
    while (meter !== null && scanned < limit) {
      const rest = at && at.length > 2 && at[0] === width && at[1] === meter ? at.slice(2) : null;
      const a = after(ROLLUP_KEY.slice(2), rest);
      const { results } = await db
        .prepare(
          `SELECT ${cols.join(", ")} FROM telemetry_rollups WHERE width = ? AND meter = ? AND ${a.sql}
           ORDER BY ${ROLLUP_KEY.join(", ")} LIMIT ${limit - scanned}`,
        )
        .bind(width, meter, ...a.params)
        .all<Row>();
      scanned += results.length;
      for (const r of results) if (r.project_id === p.project) rows.push(r);
      if (results.length) at = ROLLUP_KEY.map((k) => results[results.length - 1][k] as Key[number]);
      if (scanned >= limit) break;
      // This (width, meter) is read to its end: the next meter, then the next width.
      meter = await nextMeter(db, p, meter);
      if (meter === null) {
        const w = ROLLUP_WIDTHS.indexOf(width) + 1;
        if (w >= ROLLUP_WIDTHS.length) return { rows, next: at, done: true };
        width = ROLLUP_WIDTHS[w];
        meter = await nextMeter(db, p, null);
      }
      // A position before every key of the next range: the range is read from its start.
      at = [width, meter];
    }
    return { rows, next: at, done: meter === null };
  },
};

/** The project's next meter name after `meter` (the series' (project_id, meter) index: one row). */
async function nextMeter(db: D1Database, p: MoveProject, meter: string | null): Promise<string | null> {
  const row = await db
    .prepare(
      `SELECT meter FROM telemetry_series WHERE project_id = ?1 AND meter > ?2 ORDER BY project_id, meter LIMIT 1`,
    )
    .bind(p.project, meter ?? "")
    .first<{ meter: string }>();
  if (row) return row.meter;
  // "" itself is a meter name the check above passes over.
  if (meter === null) {
    const empty = await db
      .prepare("SELECT meter FROM telemetry_series WHERE project_id = ?1 AND meter = '' LIMIT 1")
      .bind(p.project)
      .first<{ meter: string }>();
    if (empty) return "";
  }
  return null;
}

/** The cold index: few rows (one per project, meter, day and move), by the project index, in key order. */
const archiveTable: MoveTable = {
  name: "telemetry_archive",
  table: "telemetry_archive",
  columns: ARCHIVE_COLUMNS,
  key: ["key"],
  mode: "mutable",
  read: (db, p, cursor, limit, columns) =>
    keysetPage(
      db,
      { table: "telemetry_archive", columns, where: "project_id = ?", params: [p.project], order: ["key"] },
      cursor,
      limit,
    ),
};

const rangeSeriesTable = seriesTable("telemetry_series", "append", false);
const legacySeriesTable = seriesTable("telemetry_series_legacy", "fixed", true);

/** Telemetry's tables for a move, parents first. The R2 objects stay: the bucket is shared by every shard. */
export const telemetryMoveTables: MoveTable[] = [
  rangeSeriesTable,
  legacySeriesTable,
  metadataTable("telemetry_series_metadata", "append", rangeSeriesTable),
  metadataTable("telemetry_series_metadata_legacy", "fixed", legacySeriesTable),
  chunkTable("telemetry_chunks", (p) => ({
    where: "series_id >= ? AND series_id < ?",
    params: [seriesFloor(p.number), seriesFloor(p.number) + SERIES_SPAN],
  })),
  // Legacy series still take samples: their chunks are mutable too.
  chunkTable("telemetry_chunks_legacy", (p) => ({
    where: `series_id IN (SELECT id FROM telemetry_series WHERE project_id = ? AND id < ${SERIES_SPAN})`,
    params: [p.project],
  })),
  legacyIdsTable,
  metersTable,
  rollupsTable,
  archiveTable,
];

export type { Page };
