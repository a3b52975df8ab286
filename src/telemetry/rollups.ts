/**
 * Statistics across the tiers (docs/telemetry-storage.md): hot samples from their
 * chunks (a chunk inside the range and inside one period bucket answers from its
 * count, sum, min, max, sum of squares, first and last; any other is expanded), cold
 * samples from the hour rollups the archive cron leaves where the period and start align
 * with whole hours, and from the R2 objects elsewhere. Every source yields the same
 * partials, merged exactly by field.
 */
import { and, eq, gte, lt, lte, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { telemetryChunks, telemetryRollups } from "../db/schema";
import {
  bucketOf,
  expand,
  FIELDS,
  locate,
  type ProjectScope,
  rowFilter,
  type SampleRow,
  scopeCondition,
  seriesQuery,
  seriesWhere,
} from "./chunks";
import { type ArchiveEntry, checkObjectCount, coldObjectsQuery, coldPredicate, coldRows } from "./cold";
import type { SampleQuery } from "./query";
import type { GroupField } from "./store";
import { HOUR_US, MAX_STATISTICS, retainFrom, rollupFrom, type Tiers, tooManyStatistics } from "./tiers";

const r = telemetryRollups;
const ch = telemetryChunks;

/** One bucket and group of a statistics answer (statistics.ts shapes it for the client). */
export type StatRow = Record<string, unknown> & {
  bucket: number;
  origin: number | null;
  count: number;
  min: number;
  max: number;
  sum: number;
  avg: number;
  /** Mean of squares, when stddev was asked. */
  squares: number | null;
  first: number;
  last: number;
  unit: string;
};

/**
 * What a statistics request asks: the query (its meter among the equals, its start and
 * end), the caller's projects, the period in µs (0: one bucket), groupby fields, whether
 * stddev and which cardinalities are wanted, and the tiers' settings at `nowMs`.
 */
export interface StatisticsInput {
  q: SampleQuery;
  scope: ProjectScope;
  periodUs: number;
  groupby: GroupField[];
  stddev: boolean;
  cardinality: GroupField[];
  tiers: Tiers;
  nowMs: number;
}

/** The measures of one bucket and series, as chunks and rollups keep them. */
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

/** Partial aggregate of one bucket and group, from any source. */
interface BucketPartial extends Measures {
  bucket: number;
  groups: string[];
  distinct: Array<Set<string>>;
}

type Keyed = Pick<SampleRow, "projectId" | "resourceId" | "userId" | "source">;
const rollupColumn = (f: keyof typeof FIELDS) =>
  ({ project_id: r.projectId, resource_id: r.resourceId, meter: r.meter, user_id: r.userId, source: r.source })[
    f as "project_id"
  ] as SQLiteColumn;

/** Only equality on the rollups' key fields: metadata, names, namespaces are not in them. */
function rollupable(q: SampleQuery): boolean {
  return !q.metadata.length && q.equals.every((e) => e.field !== "message_id" && FIELDS[e.field].rollup);
}

/** Cold hours read from rollups: whole hours in range when the period and start are whole hours. */
function plan(input: StatisticsInput): { from: number; to: number } | null {
  const { q, periodUs } = input;
  if (!rollupable(q)) return null;
  if (periodUs > 0 && !q.start) return null; // buckets begin at the first sample: unaligned
  const origin = q.start?.us;
  if (periodUs > 0 && (periodUs % HOUR_US !== 0 || (origin !== undefined && origin % HOUR_US !== 0))) return null;
  const w = HOUR_US;
  const lo = q.start
    ? q.start.inclusive
      ? Math.ceil(q.start.us / w) * w
      : Math.floor(q.start.us / w) * w + w
    : -Infinity;
  const hi = q.end ? Math.floor((q.end.us + (q.end.inclusive ? 1 : 0)) / w) * w : Infinity;
  const from = Math.max(lo, rollupFrom(input.nowMs, input.tiers));
  return from < hi ? { from, to: hi } : null;
}

/**
 * Statistics of the samples `input.q` selects within the caller's projects, hot and cold, per
 * period bucket and groupby group, ordered by bucket then group. At most MAX_STATISTICS
 * entries (else a 400); cold reads are bounded as cold.ts bounds them. The alarm
 * evaluator calls this too.
 */
export async function computeStatistics(
  shards: Database | Database[],
  archive: R2Bucket,
  input: StatisticsInput,
): Promise<StatRow[]> {
  const { q } = input;
  const id = q.equals.find((e) => e.field === "message_id")?.value;
  const p = plan(input);
  // Each shard's sources in its own round trips (as one database's), in parallel; their
  // partials merge as a single database's would (a series, chunk or rollup row is on one shard).
  const gathered = await Promise.all((Array.isArray(shards) ? shards : [shards]).map((db) => gather(db, input, p)));
  const entries = [...new Map(gathered.flatMap((g) => g.entries).map((e) => [e.key, e])).values()];
  checkObjectCount(entries);

  let origin = q.start?.us ?? null;
  if (input.periodUs > 0 && origin === null)
    origin = await firstSample(
      archive,
      input,
      entries,
      gathered.flatMap((g) => g.chunks),
    );
  const bucketOf_ = (ts: number) => (input.periodUs > 0 ? Math.trunc((ts - (origin as number)) / input.periodUs) : 0);
  const merged = new Map<string, BucketPartial>();
  const keep = rowFilter(q);

  for (const { chunks, rollups, byId } of gathered) {
    for (const c of chunks) {
      const s = byId.get(c.seriesId)!;
      const whole =
        id === undefined &&
        (!q.start || (q.start.inclusive ? c.first >= q.start.us : c.first > q.start.us)) &&
        (!q.end || (q.end.inclusive ? c.last <= q.end.us : c.last < q.end.us)) &&
        bucketOf_(c.first) === bucketOf_(c.last);
      if (whole) add(merged, fromSeries(s, { ...c, unit: s.unit }, input, bucketOf_(c.first)));
      else
        for (const row of expand(s, c.bucket, c.samples))
          if (keep(row)) add(merged, fromRow(row, input, bucketOf_(row.timestamp)));
    }
    for (const row of rollups) add(merged, fromSeries(row, row, input, bucketOf_(row.bucket)));
  }

  // Cold samples outside the rollups' hours, read from their objects.
  const rawFloor = retainFrom(input.nowMs, input.tiers);
  const inRaw = (ts: number) => !p || ts < p.from || ts >= p.to;
  const coldKeep = coldPredicate(q, input.scope);
  for await (const row of coldRows(
    archive,
    entries,
    (x) => x.timestamp >= rawFloor && inRaw(x.timestamp) && coldKeep(x),
  )) {
    add(merged, fromRow(row, input, bucketOf_(row.timestamp)));
  }
  return [...merged.values()]
    .sort((x, y) => x.bucket - y.bucket || compareGroups(x.groups, y.groups))
    .map((m) => ({
      ...Object.fromEntries(input.groupby.map((g, i) => [g, m.groups[i]])),
      ...Object.fromEntries(input.cardinality.map((f, i) => [`cardinality/${f}`, m.distinct[i].size])),
      bucket: m.bucket,
      origin,
      count: m.n,
      min: m.lo,
      max: m.hi,
      sum: m.total,
      avg: m.total / m.n,
      squares: input.stddev ? m.squares / m.n : null,
      first: m.first,
      last: m.last,
      unit: m.unit,
    }));
}

/**
 * One database's sources of a statistics answer: the matching series and their chunks in
 * range, the hour rollups of `p`'s cold hours, and the cold index rows of the other hours.
 */
async function gather(db: Database, input: StatisticsInput, p: { from: number; to: number } | null) {
  const { q } = input;
  const lo = q.start?.us ?? -Infinity;
  const hi = q.end?.us ?? Infinity;
  const id = q.equals.find((e) => e.field === "message_id")?.value;
  const located = id === undefined ? undefined : await locate(db, id);
  const rawRanges: Array<[number, number]> = p
    ? [
        [-Infinity, p.from],
        [p.to, Infinity],
      ]
    : [[-Infinity, Infinity]];
  const objectQueries = rawRanges
    .map(([x, y]) => [Math.max(lo, x), Math.min(hi, y - 1)] as const)
    .filter(([x, y]) => x <= y)
    .map(([x, y]) => coldObjectsQuery(db, q, input.scope, x, y));
  const seriesList = await seriesQuery(db, seriesWhere(q, input.scope, located));
  const byId = new Map(seriesList.map((s) => [s.id, s]));
  const chunkQuery = () =>
    db
      .select()
      .from(ch)
      .where(
        and(
          sql`${ch.seriesId} in (select value from json_each(${JSON.stringify([...byId.keys()])}))`,
          Number.isFinite(lo) ? gte(ch.bucket, bucketOf(lo)) : undefined,
          Number.isFinite(hi) ? lte(ch.bucket, hi) : undefined,
        ),
      );
  // Drizzle's builders are mutable: the placeholder for "no rollups" is a query of its own.
  const rollupQuery = p ? rollupRows(db, input, p) : chunkQuery().limit(0);
  const [chunks, rollups, ...objectLists] = await db.batch([chunkQuery(), rollupQuery, ...objectQueries] as unknown as [
    ReturnType<typeof chunkQuery>,
    ReturnType<typeof chunkQuery>,
  ]);
  return {
    byId,
    chunks,
    rollups: (p ? rollups : []) as unknown as RollupRow[],
    entries: (objectLists as unknown as ArchiveEntry[][]).flat(),
  };
}

function compareGroups(x: string[], y: string[]) {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

/** Where period buckets begin without a start: the first matching sample, hot or cold. */
async function firstSample(
  archive: R2Bucket,
  input: StatisticsInput,
  entries: ArchiveEntry[],
  chunks: Array<{ first: number; bucket: number; samples: string; seriesId: number }>,
): Promise<number | null> {
  let best: number | null = null;
  for (const c of chunks) if (best === null || c.first < best) best = c.first;
  const keep = coldPredicate(input.q, input.scope);
  // Oldest objects first: once an object starts after the best so far, none is earlier.
  for (const e of [...entries].sort((x, y) => x.first - y.first)) {
    if (best !== null && e.first >= best) break;
    for await (const row of coldRows(archive, [e], keep))
      if (best === null || row.timestamp < best) best = row.timestamp;
  }
  return best;
}

const rowField = (g: GroupField) => FIELDS[g].row as keyof Keyed;

/** One series (a sample, a series or a rollup row: each carries the group fields) and its measures. */
function fromSeries(x: Keyed, m: Measures, input: StatisticsInput, bucket: number): BucketPartial {
  const { n, total, lo, hi, squares, first, last, unit } = m;
  return {
    n,
    total,
    lo,
    hi,
    squares,
    first,
    last,
    unit,
    bucket,
    groups: input.groupby.map((g) => x[rowField(g)]),
    distinct: input.cardinality.map((f) => new Set([x[rowField(f)]])),
  };
}

function fromRow(x: SampleRow, input: StatisticsInput, bucket: number): BucketPartial {
  const v = x.volume;
  return fromSeries(
    x,
    { n: 1, total: v, lo: v, hi: v, squares: v * v, first: x.timestamp, last: x.timestamp, unit: x.unit },
    input,
    bucket,
  );
}

function add(into: Map<string, BucketPartial>, p: BucketPartial) {
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

type RollupRow = typeof r.$inferSelect;

/** The hour rollups of the cold hours in range, in their primary key's order (no sort). */
function rollupRows(db: Database, input: StatisticsInput, p: { from: number; to: number }) {
  // A raw-sample floor (retention) does not bind rollups: they may outlive samples.
  return db
    .select()
    .from(r)
    .where(
      and(
        eq(r.width, 3600),
        ...input.q.equals.map((e) => eq(rollupColumn(e.field as keyof typeof FIELDS), e.value)),
        Number.isFinite(p.from) ? gte(r.bucket, p.from) : undefined,
        Number.isFinite(p.to) ? lt(r.bucket, p.to) : undefined,
        scopeCondition(r.projectId, input.scope),
      ),
    );
}

/**
 * The cron's part: the hour rollups of chunks it moves to R2, added to any row of the
 * same hour and key (several series share one: they differ in metadata or names).
 */
export function rollupChunks(chunks: Array<{ seriesId: number; bucket: number }>) {
  const keys = JSON.stringify(chunks.map((c) => [c.seriesId, c.bucket]));
  const old = (c: string) => sql.raw(`"telemetry_rollups"."${c}"`);
  return sql`insert into ${r} (width, meter, bucket, project_id, resource_id, user_id, source, n, total, lo, hi, squares, first, last, unit)
    select 3600, s.meter, c.bucket, s.project_id, s.resource_id, s.user_id, s.source, c.n, c.total, c.lo, c.hi, c.squares, c.first, c.last, s.unit
    from json_each(${keys}) k join ${ch} c on c.series_id = k.value ->> 0 and c.bucket = k.value ->> 1 join telemetry_series s on s.id = c.series_id
    where true
    on conflict (width, meter, bucket, project_id, resource_id, user_id, source) do update set
      n = ${old("n")} + excluded.n, total = ${old("total")} + excluded.total, lo = min(${old("lo")}, excluded.lo),
      hi = max(${old("hi")}, excluded.hi), squares = ${old("squares")} + excluded.squares,
      first = min(${old("first")}, excluded.first), last = max(${old("last")}, excluded.last), unit = max(${old("unit")}, excluded.unit)`;
}
