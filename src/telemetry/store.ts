/**
 * Telemetry's D1 queries. Builders return unexecuted drizzle queries so the tests can
 * read the plan of exactly what the routes run (`EXPLAIN QUERY PLAN`).
 */
import { and, asc, count, desc, eq, gt, gte, inArray, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { telemetryMeters, telemetrySampleCounts, telemetrySamples } from "../db/schema";
import type { SampleQuery, StringField } from "./query";
import type { NewSample } from "./schemas";
import { rollupMark, rollupUpserts } from "./rollups";

const s = telemetrySamples;
export type SampleRow = typeof s.$inferSelect;

const sampleColumns = {
  project_id: s.projectId,
  resource_id: s.resourceId,
  resource_name: s.resourceName,
  meter: s.meter,
  namespace: s.namespace,
  user_id: s.userId,
  source: s.source,
} satisfies Record<StringField, unknown>;

/** The projects a caller may read; null when it may read all (admin). */
export type ProjectScope = string[] | null;

function scopeCondition(column: SQLiteColumn, scope: ProjectScope) {
  if (scope === null) return undefined;
  return scope.length === 1 ? eq(column, scope[0]) : inArray(column, scope);
}

/** The WHERE of a sample query within the caller's projects. */
export function sampleWhere(q: SampleQuery, scope: ProjectScope): SQL | undefined {
  return and(
    ...q.equals.map(({ field, value }) => eq(sampleColumns[field], value)),
    q.start && (q.start.inclusive ? gte(s.timestamp, q.start.us) : gt(s.timestamp, q.start.us)),
    q.end && (q.end.inclusive ? lte(s.timestamp, q.end.us) : lt(s.timestamp, q.end.us)),
    scopeCondition(s.projectId, scope),
  );
}

/**
 * One page, newest first. `after` (a cursor) resumes below the previous page's last
 * row: an index range, so a deep page linked to costs what page 1 costs. Without it
 * the page is an OFFSET, which reads every row it skips.
 */
export function samplePageQuery(
  db: Database,
  where: SQL | undefined,
  page: { limit: number; offset: number; after?: { timestamp: number; seq: number } },
) {
  const { after } = page;
  const resume = after && and(lte(s.timestamp, after.timestamp), or(lt(s.timestamp, after.timestamp), lt(s.seq, after.seq)));
  return db
    .select()
    .from(s)
    .where(and(where, resume))
    .orderBy(desc(s.timestamp), desc(s.seq))
    .limit(page.limit)
    .offset(page.offset);
}

export function sampleCountQuery(db: Database, where: SQL | undefined) {
  return db.select({ n: count() }).from(s).where(where);
}

/**
 * When a query names no more than projects, its total is the sum of the per-project
 * counters (one row per project) instead of a count over the samples.
 */
export function countersQuery(db: Database, q: SampleQuery, scope: ProjectScope) {
  if (q.start || q.end || q.equals.some((e) => e.field !== "project_id")) return null;
  const named = [...new Set(q.equals.map((e) => e.value))];
  if (named.length > 1) return null; // two different project_id= match nothing; let the count say so
  const c = telemetrySampleCounts;
  return db
    .select({ n: sql<number>`coalesce(sum(${c.n}), 0)` })
    .from(c)
    .where(and(named.length ? eq(c.projectId, named[0]) : undefined, scopeCondition(c.projectId, scope)));
}

export function sampleByIdQuery(db: Database, id: string, scope: ProjectScope) {
  return db
    .select()
    .from(s)
    .where(and(eq(s.id, id), scopeCondition(s.projectId, scope)))
    .limit(1);
}

// ─── Ingest ─────────────────────────────────────────────────────────────────

/** D1 binds at most 100 parameters per statement. */
const MAX_PARAMS = 100;
const SAMPLE_PARAMS = 15; // every column but seq
const METER_PARAMS = 7;

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Message id from the content, so posting the same sample again finds the stored one. */
export async function messageId(n: NewSample): Promise<string> {
  const key = JSON.stringify([
    n.meter, n.type, n.unit, n.volume, n.resourceId, n.projectId, n.userId, n.source,
    n.timestamp, n.resourceName, n.displayName, n.namespace, canonicalJson(n.metadata),
  ]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  const hex = [...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Metadata with sorted keys, so key order does not change a sample's identity. */
function canonicalJson(text: string): string {
  if (!text) return "";
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === "object"
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => [k, sort(x)]))
        : v;
  return JSON.stringify(sort(JSON.parse(text)));
}

/** The stored samples among `ids` (a retry's), read in one batch of ≤100-id lookups. */
export async function storedSamples(db: Database, ids: string[]): Promise<SampleRow[]> {
  const lookups = chunks(ids, MAX_PARAMS).map((part) => db.select().from(s).where(inArray(s.id, part)));
  if (!lookups.length) return [];
  const results = await db.batch(lookups as [(typeof lookups)[0], ...typeof lookups]);
  return results.flat();
}

/**
 * Writes new samples, their meters and the per-project counters as one D1 batch, so
 * either all of it lands or none does. Each statement binds at most 100 parameters.
 */
export function insertStatements(db: Database, rows: Array<Omit<SampleRow, "seq">>) {
  const samples = chunks(rows, Math.floor(MAX_PARAMS / SAMPLE_PARAMS)).map((part) => db.insert(s).values(part));
  const meterKeys = new Map<string, typeof telemetryMeters.$inferInsert>();
  const perProject = new Map<string, number>();
  for (const r of rows) {
    const m = { meter: r.meter, type: r.type, unit: r.unit, resourceId: r.resourceId, projectId: r.projectId, userId: r.userId, source: r.source };
    meterKeys.set(JSON.stringify(m), m);
    perProject.set(r.projectId, (perProject.get(r.projectId) ?? 0) + 1);
  }
  const meters = chunks([...meterKeys.values()], Math.floor(MAX_PARAMS / METER_PARAMS)).map((part) =>
    db.insert(telemetryMeters).values(part).onConflictDoNothing(),
  );
  const counters = [...perProject].map(([projectId, n]) =>
    db
      .insert(telemetrySampleCounts)
      .values({ projectId, n })
      .onConflictDoUpdate({ target: telemetrySampleCounts.projectId, set: { n: sql`${telemetrySampleCounts.n} + excluded.n` } }),
  );
  // Rollups (rollups.ts): the mark first, the upserts over the rows above it last.
  return [rollupMark(db), ...samples, ...meters, ...counters, ...rollupUpserts(db)];
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

export function meterCountQuery(db: Database, where: SQL | undefined) {
  return db.select({ n: count() }).from(m).where(where);
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
  return db
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
    .orderBy(sql`bucket`, ...Object.values(groups));
}
