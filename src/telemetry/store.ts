/**
 * Telemetry's D1 queries. Builders return unexecuted drizzle queries so the tests can
 * read the plan of exactly what the routes run (`EXPLAIN QUERY PLAN`).
 */
import { and, asc, count, desc, eq, getTableColumns, gt, gte, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { hex } from "../db/d1";
import { telemetryMeters, telemetrySampleMetadata, telemetrySamples } from "../db/schema";
import { TOTAL_COUNT_LIMIT, type MetadataCondition, type SampleQuery, type StringField } from "./query";
import type { MetadataEntry, NewSample } from "./schemas";
import { rollupMark, rollupUpserts } from "./rollups";
import { MAX_STATISTICS } from "./tiers";

const s = telemetrySamples;
const md = telemetrySampleMetadata;
export type SampleRow = typeof s.$inferSelect;

const sampleColumns = {
  project_id: s.projectId,
  resource_id: s.resourceId,
  resource_name: s.resourceName,
  meter: s.meter,
  namespace: s.namespace,
  user_id: s.userId,
  source: s.source,
  message_id: s.id,
} satisfies Record<StringField, unknown>;

/** The projects a caller may read; null when it may read all (admin). */
export type ProjectScope = string[] | null;

/**
 * `column` is one of `values`, however many: the list binds one parameter, as JSON read
 * by json_each, so a thousand values stay under D1's 100 bound parameters.
 */
export function inJsonList(column: SQLiteColumn, values: readonly string[]) {
  return sql`${column} in (select value from json_each(${JSON.stringify(values)}))`;
}

/** The caller's projects as one condition (inJsonList: a token may hold a thousand). */
export function scopeCondition(column: SQLiteColumn, scope: ProjectScope) {
  if (scope === null) return undefined;
  return scope.length === 1 ? eq(column, scope[0]) : inJsonList(column, scope);
}

/**
 * The sample holds every one of these metadata entries: one lookup of the side table's
 * primary key per entry. The entries travel as one JSON parameter, so 32 conditions
 * bind one parameter, not 96 (D1 binds at most 100 per statement).
 */
function hasMetadata(ms: MetadataCondition[]) {
  if (!ms.length) return undefined;
  const list = JSON.stringify(ms.map((m) => [m.key, m.kind, m.value]));
  return sql`not exists (select 1 from json_each(${list}) c where not exists (select 1 from ${md} as other where other."key" = c.value ->> 0 and other."kind" = c.value ->> 1 and other."value" = c.value ->> 2 and other."timestamp" = ${s.timestamp} and other."seq" = ${s.seq}))`;
}

function timeBounds(q: SampleQuery, column: SQLiteColumn) {
  return and(
    q.start && (q.start.inclusive ? gte(column, q.start.us) : gt(column, q.start.us)),
    q.end && (q.end.inclusive ? lte(column, q.end.us) : lt(column, q.end.us)),
  );
}

/** The WHERE of a sample query within the caller's projects (metadata as lookups). */
export function sampleWhere(q: SampleQuery, scope: ProjectScope): SQL | undefined {
  return and(
    ...q.equals.map(({ field, value }) => eq(sampleColumns[field], value)),
    timeBounds(q, s.timestamp),
    scopeCondition(s.projectId, scope),
    hasMetadata(q.metadata),
  );
}

/**
 * How a page is read. A metadata condition is an index range of the side table, newest
 * first, unless a resource or message id narrows the samples more surely: then the
 * samples' own index leads and metadata is looked up per sample.
 */
function pageSource(q: SampleQuery, scope: ProjectScope) {
  const [lead, ...rest] = q.metadata;
  if (!lead || q.equals.some((e) => e.field === "resource_id" || e.field === "message_id")) {
    return { byMetadata: false as const, where: sampleWhere(q, scope), timestamp: s.timestamp, seq: s.seq };
  }
  const where = and(
    eq(md.key, lead.key),
    eq(md.kind, lead.kind),
    eq(md.value, lead.value),
    timeBounds(q, md.timestamp),
    eq(s.seq, md.seq),
    ...q.equals.map(({ field, value }) => eq(sampleColumns[field], value)),
    scopeCondition(s.projectId, scope),
    hasMetadata(rest),
  );
  return { byMetadata: true as const, where, timestamp: md.timestamp, seq: md.seq };
}

/**
 * One page, newest first. `after` (a cursor) resumes below the previous page's last
 * row: an index range, so a deep page linked to costs what page 1 costs. Without it
 * the page is an OFFSET, which reads every row it skips.
 */
export function samplePageQuery(
  db: Database,
  q: SampleQuery,
  scope: ProjectScope,
  page: { limit: number; offset: number; after?: { timestamp: number; seq: number } },
) {
  const src = pageSource(q, scope);
  const { after } = page;
  const resume = after && and(lte(src.timestamp, after.timestamp), or(lt(src.timestamp, after.timestamp), lt(src.seq, after.seq)));
  const plain = db.select(getTableColumns(s)).from(s);
  // CROSS JOIN keeps the metadata index leading; the columns selected are the same.
  const from = src.byMetadata ? (db.select(getTableColumns(s)).from(md).crossJoin(s) as unknown as typeof plain) : plain;
  return from.where(and(src.where, resume)).orderBy(desc(src.timestamp), desc(src.seq)).limit(page.limit).offset(page.offset);
}

/**
 * Counts matches, but no further than TOTAL_COUNT_LIMIT + 1: enough to tell an exact
 * total from a capped one without reading every match of a large query.
 */
export function sampleCountQuery(db: Database, q: SampleQuery, scope: ProjectScope) {
  const src = pageSource(q, scope);
  const plain = db.select({ one: sql`1`.as("one") }).from(s);
  let from = plain;
  if (src.byMetadata && q.metadata.length === 1 && !q.equals.length && scope === null) {
    // Nothing to check on the sample itself: the metadata index alone counts.
    const [m] = q.metadata;
    const where = and(eq(md.key, m.key), eq(md.kind, m.kind), eq(md.value, m.value), timeBounds(q, md.timestamp));
    return db.select({ n: count() }).from(
      db
        .select({ one: sql`1`.as("one") })
        .from(md)
        .where(where)
        .limit(TOTAL_COUNT_LIMIT + 1)
        .as("matches"),
    );
  }
  if (src.byMetadata)
    from = db
      .select({ one: sql`1`.as("one") })
      .from(md)
      .crossJoin(s) as unknown as typeof plain;
  const matches = from
    .where(src.where)
    .limit(TOTAL_COUNT_LIMIT + 1)
    .as("matches");
  return db.select({ n: count() }).from(matches);
}

export function sampleByIdQuery(db: Database, id: string, scope: ProjectScope) {
  return db
    .select()
    .from(s)
    .where(and(eq(s.id, id), scopeCondition(s.projectId, scope)))
    .limit(1);
}

// ─── Ingest ─────────────────────────────────────────────────────────────────

/**
 * Rows travel to D1 as one JSON parameter per statement (read back by json_each), so a
 * 1000-sample post is a handful of statements, not hundreds. D1 takes a value of up to
 * 2 MB; at most this many characters (≤ 3 bytes each) go in one.
 */
const JSON_PARAM_CHARS = 600_000;

/** Splits encoded rows into JSON arrays of at most JSON_PARAM_CHARS characters. */
function jsonChunks(rows: string[]): string[] {
  const out: string[] = [];
  let part: string[] = [];
  let size = 2;
  for (const row of rows) {
    if (part.length && size + row.length + 1 > JSON_PARAM_CHARS) {
      out.push(`[${part.join(",")}]`);
      part = [];
      size = 2;
    }
    part.push(row);
    size += row.length + 1;
  }
  if (part.length) out.push(`[${part.join(",")}]`);
  return out;
}

/** Message id from the content, so posting the same sample again finds the stored one. */
export async function messageId(n: Omit<NewSample, "metadataEntries">): Promise<string> {
  const key = JSON.stringify([
    n.meter,
    n.type,
    n.unit,
    n.volume,
    n.resourceId,
    n.projectId,
    n.userId,
    n.source,
    n.timestamp,
    n.resourceName,
    n.displayName,
    n.namespace,
    canonicalJson(n.metadata),
  ]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  const h = hex(digest.slice(0, 16));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Metadata with sorted keys, so key order does not change a sample's identity (depth ≤ 32: checked at the door). */
function canonicalJson(text: string): string {
  if (!text) return "";
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, x]) => [k, sort(x)]),
          )
        : v;
  return JSON.stringify(sort(JSON.parse(text)));
}

/** A sample ready to insert: its content, its server-made id and recorded_at, its metadata entries. */
export type SampleInsert = Omit<SampleRow, "seq"> & { metadataEntries?: MetadataEntry[] };

/**
 * The statements that store `rows`, for one all-or-nothing `db.batch`: the samples, their
 * metadata entries, their meters and the rollups over them. Idempotent: a sample whose id
 * is stored already is skipped (ON CONFLICT DO NOTHING), and so are its metadata entries
 * and known meters; the rollups (rollups.ts) add only the rows above a mark written first,
 * i.e. the rows this batch really inserted, so a retried post writes nothing twice.
 */
export function insertStatements(db: Database, rows: SampleInsert[]) {
  const sampleKeys = Object.keys(getTableColumns(s)) as Array<keyof SampleRow>;
  const samples = jsonChunks(rows.map((r) => JSON.stringify(sampleKeys.map((k) => (k === "seq" ? null : r[k]))))).map((json) =>
    db
      .insert(s)
      // A null seq is the next rowid; json_each keeps the posted order.
      .select(sql`select ${jsonFields(s, Object.fromEntries(sampleKeys.map((k, i) => [k, sql`j.value ->> ${sql.raw(String(i))}`])))}
        from json_each(${json}) j where true order by j.key`)
      .onConflictDoNothing({ target: s.id }),
  );
  // Entries find their sample's seq and timestamp by its id (the unique index).
  const entryJson = rows.flatMap((r) => (r.metadataEntries ?? []).map((e) => JSON.stringify([r.id, e.key, e.kind, e.value])));
  const entries = jsonChunks(entryJson).map((json) =>
    db
      .insert(md)
      .select(sql`select ${jsonFields(md, { key: sql`e.value ->> 1`, kind: sql`e.value ->> 2`, value: sql`e.value ->> 3`, timestamp: s.timestamp, seq: s.seq })}
        from json_each(${json}) e join ${s} on ${s.id} = e.value ->> 0 where true`)
      .onConflictDoNothing(),
  );
  const meterKeys = new Set(rows.map((r) => JSON.stringify([r.meter, r.type, r.unit, r.resourceId, r.projectId, r.userId, r.source])));
  const meterFields = ["meter", "type", "unit", "resourceId", "projectId", "userId", "source"] as const;
  const meters = jsonChunks([...meterKeys]).map((json) =>
    db
      .insert(telemetryMeters)
      .select(sql`select ${jsonFields(telemetryMeters, Object.fromEntries(meterFields.map((k, i) => [k, sql`j.value ->> ${sql.raw(String(i))}`])))}
        from json_each(${json}) j where true`)
      .onConflictDoNothing(),
  );
  return [rollupMark(db), ...samples, ...entries, ...meters, ...rollupUpserts(db)];
}

/** A SELECT list in the table's column order, which is the order drizzle's INSERT ... SELECT names them in. */
function jsonFields(table: SQLiteTable, exprs: Record<string, SQL | SQLiteColumn>): SQL {
  return sql.join(
    Object.keys(getTableColumns(table)).map((key) => {
      const e = exprs[key];
      if (!e) throw new Error(`no value for column ${key}`);
      return e;
    }),
    sql`, `,
  );
}

/** The stored samples among `ids` (one parameter, however many ids): what a post answers. */
export function storedSamplesQuery(db: Database, ids: string[]) {
  return db.select().from(s).where(inJsonList(s.id, ids));
}

// ─── Meters ─────────────────────────────────────────────────────────────────

const m = telemetryMeters;
const meterColumns = { project_id: m.projectId, resource_id: m.resourceId, meter: m.meter, user_id: m.userId, source: m.source };
export const METER_FIELDS = Object.keys(meterColumns) as Array<keyof typeof meterColumns>;

export function meterWhere(q: SampleQuery, scope: ProjectScope) {
  return and(
    ...q.equals.map(({ field, value }) => eq(meterColumns[field as keyof typeof meterColumns], value)),
    scopeCondition(m.projectId, scope),
  );
}

/** In the order of the meters' unique index, so an unfiltered or by-meter list needs no sort. */
export function meterPageQuery(db: Database, where: SQL | undefined, limit: number, offset: number) {
  return db
    .select()
    .from(m)
    .where(where)
    .orderBy(asc(m.meter), asc(m.resourceId), asc(m.projectId), asc(m.userId), asc(m.source), asc(m.type), asc(m.unit))
    .limit(limit)
    .offset(offset);
}

/** `unique=True`: one row per meter (name, type, unit), as Ceilometer groups by its meter row. */
export function uniqueMeterPageQuery(db: Database, where: SQL | undefined, limit: number, offset: number) {
  return db
    .select({ meter: m.meter, type: m.type, unit: m.unit })
    .from(m)
    .where(where)
    .groupBy(m.meter, m.type, m.unit)
    .orderBy(asc(m.meter), asc(m.type), asc(m.unit))
    .limit(limit)
    .offset(offset);
}

/** Counts meters (or unique meters) no further than TOTAL_COUNT_LIMIT + 1, as samples are counted. */
export function meterCountQuery(db: Database, where: SQL | undefined, unique = false) {
  const rows = db
    .select({ one: sql`1`.as("one") })
    .from(m)
    .where(where);
  const matches = (unique ? rows.groupBy(m.meter, m.type, m.unit) : rows).limit(TOTAL_COUNT_LIMIT + 1).as("matches");
  return db.select({ n: count() }).from(matches);
}

// ─── Statistics ─────────────────────────────────────────────────────────────

export const GROUPBY_FIELDS = ["user_id", "resource_id", "project_id", "source"] as const;
export type GroupField = (typeof GROUPBY_FIELDS)[number];

export interface StatisticsRequest {
  where: SQL | undefined;
  /** Bucket width in microseconds; 0 for one bucket over everything. */
  periodUs: number;
  /** Where the first bucket begins: the query's start, or else the first matching sample. */
  startUs?: number;
  groupby: GroupField[];
  stddev: boolean;
  cardinality: GroupField[];
}

/**
 * Per bucket and group: count, min, max, sum, avg, first and last timestamp (and the
 * moments for stddev, distinct counts for cardinality), all aggregated by D1.
 */
export function statisticsQuery(db: Database, r: StatisticsRequest) {
  const origin = r.startUs !== undefined ? sql`${r.startUs}` : sql`(select min(${s.timestamp}) from ${s} where ${r.where ?? sql`1`})`;
  const groups = Object.fromEntries(r.groupby.map((g) => [g, sampleColumns[g]]));
  const distinct = Object.fromEntries(r.cardinality.map((f) => [`cardinality/${f}`, sql<number>`count(distinct ${sampleColumns[f]})`]));
  // D1 binds JS numbers as REAL: the cast makes the division an integer bucket number.
  const bucket = r.periodUs ? sql<number>`cast((${s.timestamp} - ${origin}) / ${r.periodUs} as integer)` : sql<number>`0`;
  return (
    db
      .select({
        ...groups,
        bucket: bucket.as("bucket"),
        origin: sql<number | null>`${origin}`,
        count: count(),
        min: sql<number>`min(${s.volume})`,
        max: sql<number>`max(${s.volume})`,
        sum: sql<number>`sum(${s.volume})`,
        avg: sql<number>`avg(${s.volume})`,
        squares: r.stddev ? sql<number>`avg(${s.volume} * ${s.volume})` : sql<null>`null`,
        first: sql<number>`min(${s.timestamp})`,
        last: sql<number>`max(${s.timestamp})`,
        unit: sql<string>`max(${s.unit})`,
        ...distinct,
      })
      .from(s)
      .where(r.where)
      .groupBy(sql`bucket`, ...Object.values(groups))
      .orderBy(sql`bucket`, ...Object.values(groups))
      // One past the cap tells the route to refuse (statistics.ts).
      .limit(MAX_STATISTICS + 1)
  );
}
