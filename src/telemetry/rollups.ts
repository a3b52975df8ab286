/**
 * Rollups: count, sum, min, max, sum of squares, first and last timestamp per project,
 * meter, resource, user, source and bucket of a minute or an hour
 * (docs/telemetry-storage.md). Kept by the ingest batch; read by statistics whose
 * period and start align with a bucket width, with the unaligned edges (and any query
 * that cannot use them) answered from raw samples, hot (D1) and cold (R2) alike.
 */
import { and, eq, gt, gte, lt, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { telemetryIngestMarks, telemetryRollups, telemetrySamples } from "../db/schema";
import { checkObjectCount, coldObjectsQuery, coldPredicate, coldRows, rowField, type ArchiveEntry } from "./cold";
import type { SampleQuery } from "./query";
import { sampleWhere, scopeCondition, type GroupField, type ProjectScope, type SampleRow } from "./store";
import { HOUR_US, MAX_STATISTICS, MINUTE_US, hotFrom, retainFrom, rollupFrom, tooManyStatistics, type Tiers } from "./tiers";

const s = telemetrySamples;
const r = telemetryRollups;
/** Bucket widths kept, in seconds. Minute rollups live as long as the hot samples. */
const WIDTHS = [60, 3600] as const;

/** What a rollup keeps of a bucket and series, as SQL over raw samples: the raw partials select the same. */
const measures = () => ({
  n: sql<number>`count(*)`.as("n"),
  total: sql<number>`sum(${s.volume})`.as("total"),
  lo: sql<number>`min(${s.volume})`.as("lo"),
  hi: sql<number>`max(${s.volume})`.as("hi"),
  squares: sql<number>`sum(${s.volume} * ${s.volume})`.as("squares"),
  first: sql<number>`min(${s.timestamp})`.as("first"),
  last: sql<number>`max(${s.timestamp})`.as("last"),
  unit: sql<string>`max(${s.unit})`.as("unit"),
});

// ─── Ingest ─────────────────────────────────────────────────────────────────

/** First statement of an ingest batch: the highest seq before it. */
export function rollupMark(db: Database) {
  return db
    .insert(telemetryIngestMarks)
    .values({ k: "ingest", seq: sql`(select coalesce(max(${s.seq}), 0) from ${s})` })
    .onConflictDoUpdate({ target: telemetryIngestMarks.k, set: { seq: sql`excluded.seq` } });
}

/**
 * Last statements of an ingest batch: one upsert per width, aggregating the rows the
 * batch inserted (seq above the mark; a batch is one transaction and new rows get
 * larger rowids), so a retried post that inserts nothing adds nothing. Each writes one
 * rollup row per bucket and series touched.
 */
export function rollupUpserts(db: Database) {
  return WIDTHS.map((w) => {
    const us = sql.raw(String(w * 1e6));
    const bucket = sql<number>`${s.timestamp} - ((${s.timestamp} % ${us}) + ${us}) % ${us}`;
    const fresh = db
      .select({
        width: sql<number>`${sql.raw(String(w))}`.as("width"),
        meter: s.meter,
        bucket: bucket.as("bucket"),
        projectId: s.projectId,
        resourceId: s.resourceId,
        userId: s.userId,
        source: s.source,
        ...measures(),
      })
      .from(s)
      .where(gt(s.seq, sql`(select ${telemetryIngestMarks.seq} from ${telemetryIngestMarks} where ${telemetryIngestMarks.k} = 'ingest')`))
      .groupBy(s.meter, sql`bucket`, s.projectId, s.resourceId, s.userId, s.source);
    const old = (c: string) => sql.raw(`"telemetry_rollups"."${c}"`);
    return db
      .insert(r)
      .select(fresh)
      .onConflictDoUpdate({
        target: [r.width, r.meter, r.bucket, r.projectId, r.resourceId, r.userId, r.source],
        set: {
          n: sql`${old("n")} + excluded.n`,
          total: sql`${old("total")} + excluded.total`,
          lo: sql`min(${old("lo")}, excluded.lo)`,
          hi: sql`max(${old("hi")}, excluded.hi)`,
          squares: sql`${old("squares")} + excluded.squares`,
          first: sql`min(${old("first")}, excluded.first)`,
          last: sql`max(${old("last")}, excluded.last)`,
          unit: sql`max(${old("unit")}, excluded.unit)`,
        },
      });
  });
}

// ─── Statistics ─────────────────────────────────────────────────────────────

/** A row as statisticsQuery (store.ts) answers it, so the route maps both alike. */
type StatRow = Record<string, unknown> & {
  bucket: number;
  origin: number | null;
  count: number;
  min: number;
  max: number;
  sum: number;
  avg: number;
  squares: number | null;
  first: number;
  last: number;
  unit: string;
};

export interface TieredStatistics {
  q: SampleQuery;
  scope: ProjectScope;
  /** The WHERE of the raw samples (sampleWhere of q and scope). */
  where: SQL | undefined;
  periodUs: number;
  groupby: GroupField[];
  stddev: boolean;
  cardinality: GroupField[];
  tiers: Tiers;
  nowMs: number;
}

/** The measures of one bucket and series, as rollups keep them and raw samples yield them. */
interface Measures {
  n: number;
  total: number;
  lo: number;
  hi: number;
  squares: number;
  first: number;
  last: number;
  unit: string;
}

/** Partial aggregate of one bucket and group, from any source; merged exactly by field. */
interface Partial extends Measures {
  bucket: number;
  groups: string[];
  distinct: Array<Set<string>>;
}

const KEY_FIELDS = ["project_id", "resource_id", "meter", "user_id", "source"] as const;
const rollupColumn: Record<(typeof KEY_FIELDS)[number], SQLiteColumn> = {
  project_id: r.projectId,
  resource_id: r.resourceId,
  meter: r.meter,
  user_id: r.userId,
  source: r.source,
};
const sampleColumn: Record<GroupField, SQLiteColumn> = {
  project_id: s.projectId,
  resource_id: s.resourceId,
  user_id: s.userId,
  source: s.source,
};

/** Only equality on the rollups' key fields: metadata, names, namespaces are not in them. */
function rollupable(q: SampleQuery): boolean {
  return !q.metadata.length && q.equals.every((e) => (KEY_FIELDS as readonly string[]).includes(e.field));
}

interface Plan {
  /** Bucket width of the rollups read, µs (0: none). */
  width: number;
  /** [from, to): the whole buckets read from rollups. */
  from: number;
  to: number;
}

/**
 * Which rollups answer the middle of the range: hour buckets when the period and the
 * start are whole hours, else minute buckets when they are whole minutes (and lie in
 * the hot window, where minute rollups live). Without a period any range uses hours.
 */
function plan(t: TieredStatistics): Plan | null {
  const { q, periodUs } = t;
  if (!rollupable(q)) return null;
  if (periodUs > 0 && !q.start) return null; // buckets begin at the first sample: unaligned
  const origin = q.start?.us;
  const fits = (w: number) => periodUs % w === 0 && (origin === undefined || origin % w === 0);
  for (const w of [HOUR_US, MINUTE_US]) {
    if (periodUs > 0 && !fits(w)) continue;
    const floor = w === HOUR_US ? rollupFrom(t.nowMs, t.tiers) : hotFrom(t.nowMs, t.tiers);
    const lo = q.start ? (q.start.inclusive ? Math.ceil(q.start.us / w) * w : Math.floor(q.start.us / w) * w + w) : -Infinity;
    const hi = q.end ? Math.floor((q.end.us + (q.end.inclusive ? 1 : 0)) / w) * w : Infinity;
    const from = Math.max(lo, floor);
    if (from < hi) return { width: w, from, to: hi };
  }
  return null;
}

/**
 * Statistics across rollups and raw samples, hot and cold. Null when neither rollups
 * apply nor any cold object lies in range: then store.ts's statisticsQuery over the
 * hot samples is the whole answer.
 */
export async function tieredStatistics(db: Database, archive: R2Bucket, t: TieredStatistics): Promise<StatRow[] | null> {
  const p = plan(t);
  const lo = t.q.start?.us ?? -Infinity;
  const hi = t.q.end?.us ?? Infinity;
  // Raw samples are read outside the rollups' [from, to): the edges, or everything.
  const rawRanges: Array<[number, number]> = p
    ? [
        [-Infinity, p.from],
        [p.to, Infinity],
      ]
    : [[-Infinity, Infinity]];
  const objectQueries = rawRanges
    .map(([x, y]) => [Math.max(lo, x), Math.min(hi, y - 1)] as const)
    .filter(([x, y]) => x <= y)
    .map(([x, y]) => coldObjectsQuery(db, t.q, t.scope, x, y));
  const objectLists = objectQueries.length ? await db.batch(objectQueries as [(typeof objectQueries)[0], ...typeof objectQueries]) : [];
  const entries = [...new Map(objectLists.flat().map((e) => [e.key, e])).values()];
  checkObjectCount(entries);
  if (!p && !entries.length) return null;

  let origin = t.q.start?.us ?? null;
  if (t.periodUs > 0 && origin === null) origin = await firstSample(db, archive, t, entries);
  const bucketOf = (ts: number) => (t.periodUs > 0 ? Math.trunc((ts - (origin as number)) / t.periodUs) : 0);
  const inRaw = (ts: number) => !p || ts < p.from || ts >= p.to;

  // Each raw range is an index range of its own (an OR of two would scan the meter).
  const rawFloor = retainFrom(t.nowMs, t.tiers);
  const raws = rawRanges
    .map(([x, y]) => [Math.max(x, rawFloor, lo), Math.min(y, hi + 1)] as const)
    .filter(([x, y]) => x < y)
    .map(([x, y]) => rawPartials(db, t, sampleWhere(within(t.q, x, y), t.scope), origin));
  const rollups = p ? [rollupRows(db, t, p)] : [];
  const results = await db.batch([...raws, ...rollups] as [(typeof raws)[0], ...typeof raws]);
  const merged = new Map<string, Partial>();
  for (const row of results.slice(0, raws.length).flat()) add(merged, fromSql(row as SqlPartial, t));
  for (const row of (results[raws.length] ?? []) as unknown as RollupRow[]) add(merged, fromSeries(row, row, t, bucketOf(row.bucket)));

  // Cold samples in the raw ranges, aggregated here (they are not in D1).
  const keep = coldPredicate(t.q, t.scope);
  for await (const row of coldRows(archive, entries, (x) => x.timestamp >= rawFloor && inRaw(x.timestamp) && keep(x))) {
    add(merged, fromRow(row, t, bucketOf(row.timestamp)));
  }
  return [...merged.values()]
    .sort((x, y) => x.bucket - y.bucket || compareGroups(x.groups, y.groups))
    .map((m) => ({
      ...Object.fromEntries(t.groupby.map((g, i) => [g, m.groups[i]])),
      ...Object.fromEntries(t.cardinality.map((f, i) => [`cardinality/${f}`, m.distinct[i].size])),
      bucket: m.bucket,
      origin,
      count: m.n,
      min: m.lo,
      max: m.hi,
      sum: m.total,
      avg: m.total / m.n,
      squares: t.stddev ? m.squares / m.n : null,
      first: m.first,
      last: m.last,
      unit: m.unit,
    }));
}

function compareGroups(x: string[], y: string[]) {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

async function firstSample(db: Database, archive: R2Bucket, t: TieredStatistics, entries: ArchiveEntry[]): Promise<number | null> {
  const [{ first }] = await db
    .select({ first: sql<number | null>`min(${s.timestamp})` })
    .from(s)
    .where(t.where);
  const keep = coldPredicate(t.q, t.scope);
  let best = first;
  // Oldest objects first: once an object starts after the best so far, none is earlier.
  for (const e of [...entries].sort((x, y) => x.first - y.first)) {
    if (best !== null && e.first >= best) break;
    for await (const row of coldRows(archive, [e], keep)) if (best === null || row.timestamp < best) best = row.timestamp;
  }
  return best;
}

type SqlPartial = Measures & { b: number; [k: string]: unknown };

const measuresOf = ({ n, total, lo, hi, squares, first, last, unit }: Measures): Measures => ({
  n,
  total,
  lo,
  hi,
  squares,
  first,
  last,
  unit,
});

function fromSql(row: SqlPartial, t: TieredStatistics): Partial {
  return {
    ...measuresOf(row),
    bucket: row.b,
    groups: t.groupby.map((g) => String(row[`g_${g}`])),
    distinct: t.cardinality.map((f) => new Set(JSON.parse(String(row[`d_${f}`])) as string[])),
  };
}

/** One series (a sample or a rollup row: both carry the group fields) and its measures. */
function fromSeries(x: Pick<SampleRow, (typeof rowField)[GroupField]>, m: Measures, t: TieredStatistics, bucket: number): Partial {
  return {
    ...measuresOf(m),
    bucket,
    groups: t.groupby.map((g) => x[rowField[g]]),
    distinct: t.cardinality.map((f) => new Set([x[rowField[f]]])),
  };
}

function fromRow(x: SampleRow, t: TieredStatistics, bucket: number): Partial {
  const v = x.volume;
  return fromSeries(x, { n: 1, total: v, lo: v, hi: v, squares: v * v, first: x.timestamp, last: x.timestamp, unit: x.unit }, t, bucket);
}

function add(into: Map<string, Partial>, p: Partial) {
  const key = JSON.stringify([p.bucket, ...p.groups]);
  const m = into.get(key);
  if (!m) {
    // Bounds the partials held, whichever tier they come from.
    if (into.size >= MAX_STATISTICS) throw tooManyStatistics(`more than ${MAX_STATISTICS}`);
    return void into.set(key, p);
  }
  m.n += p.n;
  m.total += p.total;
  m.lo = Math.min(m.lo, p.lo);
  m.hi = Math.max(m.hi, p.hi);
  m.squares += p.squares;
  m.first = Math.min(m.first, p.first);
  m.last = Math.max(m.last, p.last);
  if (p.unit > m.unit) m.unit = p.unit;
  p.distinct.forEach((d, i) => {
    for (const v of d) m.distinct[i].add(v);
  });
}

/** Per bucket and group over raw hot samples: the same measures rollups keep. */
function rawPartials(db: Database, t: TieredStatistics, where: SQL | undefined, origin: number | null) {
  const bucket =
    t.periodUs > 0 && origin !== null ? sql<number>`cast((${s.timestamp} - ${origin}) / ${t.periodUs} as integer)` : sql<number>`0`;
  const groups = Object.fromEntries(t.groupby.map((g) => [`g_${g}`, sampleColumn[g]]));
  const distinct = Object.fromEntries(t.cardinality.map((f) => [`d_${f}`, sql<string>`json_group_array(distinct ${sampleColumn[f]})`]));
  return db
    .select({
      ...groups,
      b: bucket.as("b"),
      ...measures(),
      ...distinct,
    })
    .from(s)
    .where(and(where, t.periodUs > 0 && origin === null ? sql`0` : undefined))
    .groupBy(sql`b`, ...Object.values(groups));
}

type RollupRow = typeof r.$inferSelect;

/**
 * The rollup rows of whole buckets in range, merged here rather than grouped by D1: read
 * in their primary key's order they need no sort, so the rows read are the rows of the
 * range, O(buckets × series), where a GROUP BY would read them again from a temp b-tree.
 */
function rollupRows(db: Database, t: TieredStatistics, p: Plan) {
  // A raw-sample floor (retention) does not bind rollups: they may outlive samples.
  return db
    .select()
    .from(r)
    .where(
      and(
        eq(r.width, p.width / 1e6),
        ...t.q.equals.map((e) => eq(rollupColumn[e.field as (typeof KEY_FIELDS)[number]], e.value)),
        Number.isFinite(p.from) ? gte(r.bucket, p.from) : undefined,
        Number.isFinite(p.to) ? lt(r.bucket, p.to) : undefined,
        scopeCondition(r.projectId, t.scope),
      ),
    );
}

/**
 * The query narrowed to [x, y): its own bounds replaced where the range is tighter, so
 * the WHERE holds one range on timestamp (two lower bounds would leave SQLite to pick
 * one, and the edge query would scan the whole range).
 */
function within(q: SampleQuery, x: number, y: number): SampleQuery {
  const start =
    Number.isFinite(x) && (!q.start || x > q.start.us || (x === q.start.us && q.start.inclusive)) ? { us: x, inclusive: true } : q.start;
  const end = Number.isFinite(y) && (!q.end || y <= q.end.us) ? { us: y, inclusive: false } : q.end;
  return { ...q, start, end };
}
