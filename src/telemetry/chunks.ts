/**
 * Hot samples as series and chunks (docs/telemetry-storage.md): a series row per distinct
 * (meter, type, unit, project, resource, resource name, display name, namespace, user,
 * source, metadata), written once; its samples packed into one chunk row per hour,
 * appended in place, each chunk carrying count, sum, min, max, sum of squares, first and
 * last timestamp. Filters resolve to series first; pages merge chunks here, newest first.
 */
import { and, eq, gte, lte, SQL, type SQLWrapper, sql } from "drizzle-orm";
import { SQLiteAsyncDialect, type SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { jsonParts } from "../db/d1";
import {
  telemetryChunks,
  telemetryLegacyIds,
  telemetryMeters,
  telemetrySeries,
  telemetrySeriesMetadata,
} from "../db/schema";
import { SERIES_SPAN } from "../db/shards";
import { type MetadataCondition, type SampleQuery, type StringField, TOTAL_COUNT_LIMIT } from "./query";
import type { MetadataEntry, NewSample, SampleRow } from "./schemas";
import { HOUR_US } from "./tiers";

const se = telemetrySeries;
const ch = telemetryChunks;
const sm = telemetrySeriesMetadata;

export type Series = typeof se.$inferSelect;
export type Chunk = typeof ch.$inferSelect;

export type { SampleRow };

/** One chunk spans an hour: a page of a series sampled once a minute is one or two rows. */
export const BUCKET_US = HOUR_US;
/** Most samples one chunk holds (a CHECK in the schema); more than ~2.7 a second per series is refused. */
export const CHUNK_MAX = 10_000;
const SEQ_SPAN = 16_384;
export const bucketOf = (us: number) => Math.floor(us / BUCKET_US) * BUCKET_US;

/**
 * The query fields, once: the series column each filters, the cold row's property, the
 * hour rollups' column where they key it, and whether statistics may group by it.
 */
export const FIELDS = {
  project_id: { column: se.projectId, row: "projectId", groupable: true, rollup: true },
  resource_id: { column: se.resourceId, row: "resourceId", groupable: true, rollup: true },
  resource_name: { column: se.resourceName, row: "resourceName", groupable: false, rollup: false },
  meter: { column: se.meter, row: "meter", groupable: false, rollup: true },
  namespace: { column: se.namespace, row: "namespace", groupable: false, rollup: false },
  user_id: { column: se.userId, row: "userId", groupable: true, rollup: true },
  source: { column: se.source, row: "source", groupable: true, rollup: true },
} as const satisfies Record<
  Exclude<StringField, "message_id">,
  { column: SQLiteColumn; row: keyof SampleRow; groupable: boolean; rollup: boolean }
>;

/**
 * The projects a caller may read; null when it may read all (admin). A read fanned out over
 * several shards wraps it as `{ unfenced }`: each shard then leaves out the projects it is
 * fenced for, the other copy of a project being moved (src/db/shard-move.ts), so no row is
 * answered twice. (While a move's last pass runs both copies are fenced: for that moment a
 * fanned-out list leaves the project out; a read naming it is not fanned out.)
 */
export type ProjectScope = string[] | null | { unfenced: string[] | null };

/** The scope of a read over `shards` shards: wrapped when it spans several. */
export const scopeOverShards = (scope: ProjectScope, shards: number): ProjectScope =>
  shards > 1 && (scope === null || Array.isArray(scope)) ? { unfenced: scope } : scope;

/** The caller's projects of a scope (null: all). */
const projectsOf = (scope: ProjectScope) => (scope === null || Array.isArray(scope) ? scope : scope.unfenced);

/** Whether a row of `project` is in the scope (rows read through `scopeCondition` are already unfenced). */
export const inScope = (scope: ProjectScope, project: string) => {
  const projects = projectsOf(scope);
  return projects === null || projects.includes(project);
};

/** `column` is one of `values`, bound as one JSON parameter (D1 binds at most 100). */
export function inJsonList(column: SQLiteColumn, values: readonly (string | number)[]) {
  return sql`${column} in (select value from json_each(${JSON.stringify(values)}))`;
}

export function scopeCondition(column: SQLiteColumn, scope: ProjectScope) {
  const projects = projectsOf(scope);
  const listed =
    projects === null ? undefined : projects.length === 1 ? eq(column, projects[0]) : inJsonList(column, projects);
  if (scope === null || Array.isArray(scope)) return listed;
  return and(listed, sql`not exists (select 1 from shard_fences f where f.project = ${column})`);
}

// ─── Message ids ────────────────────────────────────────────────────────────

const MIN_US = -62135596800000000; // 0001-01-01

/** A 20-bit hash of the volume: two samples of one series and microsecond differ by it. */
function volumeHash(v: number): number {
  let h = 0x811c9dc5;
  for (const c of String(v)) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h & 0xfffff;
}

/**
 * A sample's id says where it lives: series id (48 bits), timestamp (60 bits) and a hash
 * of the volume (20 bits), UUID-shaped. Derived, so a retried post answers the same id
 * and a lookup reads one chunk.
 */
export function sampleId(seriesId: number, timestamp: number, volume: number): string {
  const h = `${seriesId.toString(16).padStart(12, "0")}${(timestamp - MIN_US).toString(16).padStart(15, "0")}${volumeHash(volume).toString(16).padStart(5, "0")}`;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function parseSampleId(id: string): { seriesId: number; timestamp: number; hash: number } | null {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/.exec(id);
  if (!m) return null;
  const h = m.slice(1).join("");
  const seriesId = Number.parseInt(h.slice(0, 12), 16);
  const timestamp = Number.parseInt(h.slice(12, 27), 16) + MIN_US;
  if (!Number.isSafeInteger(timestamp)) return null;
  return { seriesId, timestamp, hash: Number.parseInt(h.slice(27), 16) };
}

// ─── Ingest ─────────────────────────────────────────────────────────────────

/** `[timestamp − bucket, volume, recorded_at − timestamp, legacy id?]` */
type Entry = [number, number, number, string?];

/** Metadata with sorted keys, so key order does not make another series (depth ≤ 32: checked at the door). */
export function canonicalJson(text: string): string {
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

export type SampleInput = Omit<NewSample, "metadataEntries"> & {
  metadataEntries?: MetadataEntry[];
  recordedAt: number;
};

const SERIES_FIELDS = [
  "meter",
  "type",
  "unit",
  "projectId",
  "resourceId",
  "resourceName",
  "displayName",
  "namespace",
  "userId",
  "source",
  "metadata",
] as const;

export function seriesKey(s: Pick<SampleInput, (typeof SERIES_FIELDS)[number]>): string {
  return JSON.stringify(SERIES_FIELDS.map((f) => (f === "metadata" ? canonicalJson(s.metadata) : s[f])));
}

interface Group {
  key: string;
  bucket: number;
  entries: Entry[];
}

/**
 * The statements that store `samples`, for one all-or-nothing `db.batch`, and the query
 * reading back the chunks they touched (last). New series, their metadata entries and
 * meters are inserted (known ones skipped); each (series, hour) is one upsert appending
 * the entries its chunk does not hold yet (same timestamp and volume: the same sample),
 * so a retried post writes nothing. A new series takes the next id above the highest in
 * its project's range, `floors` giving each project's first (src/db/shards.ts,
 * seriesFloor): the insert reads the table before writing, so ids are numbered by rank
 * among the new keys, known keys filtered out first so they take none.
 */
export function ingestStatements(samples: SampleInput[], floors: ReadonlyMap<string, number>) {
  const series = new Map<string, SampleInput>();
  const groups = new Map<string, Group>();
  for (const s of samples) {
    const key = seriesKey(s);
    if (!series.has(key)) series.set(key, s);
    const bucket = bucketOf(s.timestamp);
    const gk = `${bucket} ${key}`;
    let g = groups.get(gk);
    if (!g) {
      g = { key, bucket, entries: [] };
      groups.set(gk, g);
    }
    const dt = s.timestamp - bucket;
    if (!g.entries.some((e) => e[0] === dt && e[1] === s.volume))
      g.entries.push([dt, s.volume, s.recordedAt - s.timestamp]);
  }
  const floorOf = (project: string) => {
    const floor = floors.get(project);
    if (floor === undefined) throw new Error(`No series id range for project '${project}'`);
    return floor;
  };
  const seriesJson = jsonParts(
    [...series].map(([key, s]) => [
      key,
      ...SERIES_FIELDS.map((f) => (f === "metadata" ? canonicalJson(s.metadata) : s[f])),
      floorOf(s.projectId),
    ]),
  );
  const metadataJson = jsonParts(
    [...series].flatMap(([key, s]) => (s.metadataEntries ?? []).map((e) => [key, e.key, e.kind, e.value])),
  );
  const meterFields = ["meter", "type", "unit", "resourceId", "projectId", "userId", "source"] as const;
  const meterJson = jsonParts(
    [...new Set([...series.values()].map((s) => JSON.stringify(meterFields.map((f) => s[f]))))].map((m) =>
      JSON.parse(m),
    ),
  );
  const chunkJson = jsonParts(
    [...groups.values()].map((g) => {
      const vs = g.entries.map((e) => e[1]);
      const ts = g.entries.map((e) => e[0] + g.bucket);
      return [
        g.key,
        g.bucket,
        g.entries.length,
        vs.reduce((a, b) => a + b, 0),
        Math.min(...vs),
        Math.max(...vs),
        vs.reduce((a, b) => a + b * b, 0),
        Math.min(...ts),
        Math.max(...ts),
        g.entries,
      ];
    }),
  );
  const col = (i: number) => sql.raw(`j.value ->> ${i}`);
  const span = sql.raw(String(SERIES_SPAN));
  // The highest id of the project's range (its floor when none) plus the rank of the key
  // among the new ones; one past the range makes the key null, which fails the batch.
  const nextId = sql`(coalesce((select max(x.id) from ${se} x where x.id >= (${col(12)}) and x.id < (${col(12)}) + ${span}), ${col(12)})
    + row_number() over (partition by ${col(12)} order by j.key))`;
  // The entries of excluded (the post) that the stored chunk does not hold: one outside
  // its first..last cannot be there (in-order appends never scan the stored entries).
  const fresh = sql.raw(
    `select e.key as k, e.value as value, e.value ->> 0 as dt, e.value ->> 1 as v from json_each(excluded.samples) e
     where e.value ->> 0 > telemetry_chunks.last - telemetry_chunks.bucket or e.value ->> 0 < telemetry_chunks.first - telemetry_chunks.bucket
       or not exists (select 1 from json_each(telemetry_chunks.samples) o where o.value ->> 0 = e.value ->> 0 and o.value ->> 1 = e.value ->> 1)`,
  );
  return {
    writes: [
      ...seriesJson.map(
        (
          seriesJson,
        ) => sql`insert into ${se} (id, key, meter, type, unit, project_id, resource_id, resource_name, display_name, namespace, user_id, source, metadata)
        select ${nextId},
          case when ${nextId} < (${col(12)}) + ${span} then ${col(0)} end, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}, ${col(8)}, ${col(9)}, ${col(10)}, ${col(11)}
        from json_each(${seriesJson}) j where not exists (select 1 from ${se} o where o.key = ${col(0)})
        order by j.key on conflict (key) do nothing`,
      ),
      ...metadataJson.map(
        (metadataJson) => sql`insert into ${sm} (key, kind, value, series_id)
        select ${col(1)}, ${col(2)}, ${col(3)}, s.id from json_each(${metadataJson}) j join ${se} s on s.key = ${col(0)} where true
        on conflict do nothing`,
      ),
      ...meterJson.map(
        (meterJson) => sql`insert into ${telemetryMeters} (meter, type, unit, resource_id, project_id, user_id, source)
        select ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)} from json_each(${meterJson}) j where true
        on conflict do nothing`,
      ),
      ...chunkJson.map(
        (chunkJson) => sql`insert into ${ch} (series_id, bucket, n, total, lo, hi, squares, first, last, samples)
        select s.id, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}, ${col(8)}, json(j.value -> 9)
        from json_each(${chunkJson}) j join ${se} s on s.key = ${col(0)} where true
        on conflict (series_id, bucket) do update set (n, total, lo, hi, squares, first, last, samples) = (
          select telemetry_chunks.n + count(*), telemetry_chunks.total + coalesce(sum(f.v), 0),
            min(telemetry_chunks.lo, coalesce(min(f.v), telemetry_chunks.lo)), max(telemetry_chunks.hi, coalesce(max(f.v), telemetry_chunks.hi)),
            telemetry_chunks.squares + coalesce(sum(f.v * f.v), 0),
            min(telemetry_chunks.first, coalesce(min(f.dt) + telemetry_chunks.bucket, telemetry_chunks.first)),
            max(telemetry_chunks.last, coalesce(max(f.dt) + telemetry_chunks.bucket, telemetry_chunks.last)),
            (select json_group_array(json(x.value)) from (
              select value, 0 as p, key as k from json_each(telemetry_chunks.samples) union all select value, 1, k from (${fresh}) order by p, k) x)
          from (${fresh}) f)
        where exists (${fresh})`,
      ),
    ],
    readBack: jsonParts([...groups.values()].map((g) => [g.key, g.bucket])).map(
      (
        keys,
      ) => sql`select s.id as id, s.key as key, s.meter as meter, s.type as type, s.unit as unit, s.project_id as projectId,
        s.resource_id as resourceId, s.resource_name as resourceName, s.display_name as displayName, s.namespace as namespace,
        s.user_id as userId, s.source as source, s.metadata as metadata, c.bucket as bucket, c.samples as samples
      from json_each(${keys}) j join ${se} s on s.key = j.value ->> 0 join ${ch} c on c.series_id = s.id and c.bucket = j.value ->> 1`,
    ),
  };
}

const dialect = new SQLiteAsyncDialect();

/**
 * Runs drizzle SQL as one D1 batch (drizzle's own batch cannot take raw statements with
 * parameters): all or nothing; each statement's result rows.
 */
export async function runBatch(
  d1: D1Database,
  statements: Array<SQL | SQLWrapper>,
): Promise<D1Result<Record<string, unknown>>[]> {
  const prepared = statements.map((x) => {
    const q = dialect.sqlToQuery(x instanceof SQL ? x : x.getSQL());
    return d1.prepare(q.sql).bind(...q.params);
  });
  return d1.batch<Record<string, unknown>>(prepared);
}

/**
 * Stores `samples` in one D1 round trip and answers each as stored (its id, its first
 * recorded_at). A chunk past CHUNK_MAX fails the whole batch (its CHECK): `tooFull`.
 */
export async function storeSamples(
  d1: D1Database,
  samples: SampleInput[],
  opts: { floors: ReadonlyMap<string, number>; guard?: SQL },
): Promise<Array<SampleRow | undefined>> {
  const { writes, readBack } = ingestStatements(samples, opts.floors);
  const head = opts.guard ? [opts.guard] : [];
  let results: D1Result<Record<string, unknown>>[];
  try {
    results = await runBatch(d1, [...head, ...writes, ...readBack]);
  } catch (e) {
    const text = `${String(e)} ${String((e as Error)?.cause ?? "")}`;
    if (/telemetry_chunks_size/.test(text)) throw new ChunkFull();
    if (/NOT NULL constraint failed: telemetry_series\.key/.test(text)) throw new SeriesRangeFull();
    throw e;
  }
  const stored = findStored(
    (
      results.slice(head.length + writes.length).flatMap((r) => r.results) as unknown as Array<
        Series & { bucket: number; samples: string }
      >
    ).map((r) => ({
      series: r,
      bucket: r.bucket,
      samples: r.samples,
    })),
  );
  return samples.map(stored);
}

export class ChunkFull extends Error {}
/** A project's series ids are all taken (SERIES_SPAN − 1 series). */
export class SeriesRangeFull extends Error {}

/** The samples of a chunk, in insertion order. */
export function expand(s: Series, bucket: number, samples: string): SampleRow[] {
  return (JSON.parse(samples) as Entry[]).map(([dt, volume, rdt, legacy], i) => {
    const timestamp = bucket + dt;
    return {
      seq: s.id * SEQ_SPAN + i,
      id: legacy ?? sampleId(s.id, timestamp, volume),
      meter: s.meter,
      displayName: s.displayName,
      projectId: s.projectId,
      resourceId: s.resourceId,
      resourceName: s.resourceName,
      namespace: s.namespace,
      type: s.type,
      unit: s.unit,
      volume,
      timestamp,
      recordedAt: timestamp + rdt,
      userId: s.userId,
      source: s.source,
      metadata: s.metadata,
    };
  });
}

/** The stored sample a posted one is (same series, timestamp and volume), from the read-back chunks. */
export function findStored(readBack: Array<{ series: Series; bucket: number; samples: string }>) {
  const byKey = new Map<string, SampleRow[]>();
  for (const r of readBack) byKey.set(`${r.bucket} ${r.series.key}`, expand(r.series, r.bucket, r.samples));
  return (s: SampleInput) =>
    byKey
      .get(`${bucketOf(s.timestamp)} ${seriesKey(s)}`)
      ?.find((x) => x.timestamp === s.timestamp && x.volume === s.volume);
}

// ─── Reading ────────────────────────────────────────────────────────────────

/** Every metadata entry is the series': one primary-key lookup each, bound as one JSON list. */
function hasMetadata(ms: MetadataCondition[]) {
  if (!ms.length) return undefined;
  const list = JSON.stringify(ms.map((m) => [m.key, m.kind, m.value]));
  return sql`not exists (select 1 from json_each(${list}) c where not exists (select 1 from ${sm} as m where m."key" = c.value ->> 0 and m."kind" = c.value ->> 1 and m."value" = c.value ->> 2 and m."series_id" = ${se.id}))`;
}

/** Where a message id's sample lives: its series and timestamp (legacy ids through their table). */
export interface Located {
  seriesId: number;
  timestamp: number;
}

/** The series a query can match (every condition but time and message id is a series' property). */
export function seriesWhere(q: SampleQuery, scope: ProjectScope, located?: Located | null): SQL | undefined {
  return and(
    ...q.equals
      .filter((e) => e.field !== "message_id")
      .map(({ field, value }) => eq(FIELDS[field as keyof typeof FIELDS].column, value)),
    scopeCondition(se.projectId, scope),
    hasMetadata(q.metadata),
    located === undefined ? undefined : located === null ? sql`0` : eq(se.id, located.seriesId),
  );
}

export function seriesQuery(db: Database, where: SQL | undefined) {
  return db.select().from(se).where(where);
}

/** A message id condition as a place: decoded, or looked up when it is a legacy id. */
export async function locate(db: Database, id: string): Promise<Located | null> {
  const parsed = parseSampleId(id);
  const [legacy] = await db.select().from(telemetryLegacyIds).where(eq(telemetryLegacyIds.id, id)).limit(1);
  if (legacy) return { seriesId: legacy.seriesId, timestamp: legacy.timestamp };
  return parsed && { seriesId: parsed.seriesId, timestamp: parsed.timestamp };
}

const messageIdOf = (q: SampleQuery) => q.equals.find((e) => e.field === "message_id")?.value;

/** A row matches the query's time bounds (and message id) — the chunk only narrows to an hour. */
export function rowFilter(q: SampleQuery, after?: { timestamp: number; seq: number }) {
  const id = messageIdOf(q);
  const { start, end } = q;
  return (r: SampleRow) =>
    (!start || (start.inclusive ? r.timestamp >= start.us : r.timestamp > start.us)) &&
    (!end || (end.inclusive ? r.timestamp <= end.us : r.timestamp < end.us)) &&
    (!after || r.timestamp < after.timestamp || (r.timestamp === after.timestamp && r.seq < after.seq)) &&
    (id === undefined || r.id === id);
}

export const newestFirst = (x: SampleRow, y: SampleRow) => y.timestamp - x.timestamp || y.seq - x.seq;

/**
 * Windows read newest first, in hours below the top bucket, each four times the last:
 * most pages end in the first (a series sampled once a minute holds 60 samples an hour),
 * and a count or a deep page stops within four times the hours it needs, however sparse
 * the series or long the hot window.
 */
const WINDOWS = [1, 4, 16, 64, 256, 1024, Infinity];

export interface HotPage {
  /** Matches newest first, at least `need` of them when there are. */
  rows: SampleRow[];
  /** Whether every match was gathered (rows is then all of them). */
  complete: boolean;
}

/**
 * The hot matches newest first, at least `need` of them (all when fewer): the chunks of
 * the matching series read in windows of hours below the newest bucket in range, so a
 * page reads about its own chunks (series × hours it spans), never the whole window.
 */
export async function hotRows(
  db: Database,
  q: SampleQuery,
  scope: ProjectScope,
  need: number,
  after?: { timestamp: number; seq: number },
): Promise<HotPage> {
  const id = messageIdOf(q);
  const located = id === undefined ? undefined : await locate(db, id);
  const keep = rowFilter(q, after);
  const lo = q.start ? bucketOf(q.start.us) : -Infinity;
  let hiUs = Math.min(q.end?.us ?? Infinity, after?.timestamp ?? Infinity);
  if (located) hiUs = Math.min(hiUs, located.timestamp);
  const loUs = located ? Math.max(lo, bucketOf(located.timestamp)) : lo;
  const seriesList = await seriesQuery(db, seriesWhere(q, scope, located));
  if (!seriesList.length) return { rows: [], complete: true };
  const byId = new Map(seriesList.map((s) => [s.id, s]));
  const ids = JSON.stringify([...byId.keys()]);
  const inSeries = sql`${ch.seriesId} in (select value from json_each(${ids}))`;
  // Each series' newest and oldest chunk: the two ends of its primary-key range, a row
  // each. The windows run between them, so an empty stretch costs no round trip.
  const [ends] = await db
    .select({
      newest: sql<number | null>`max((select max(c.bucket) from ${ch} c where c.series_id = j.value))`,
      oldest: sql<number | null>`min((select min(c.bucket) from ${ch} c where c.series_id = j.value))`,
    })
    .from(sql`json_each(${ids}) j`);
  if (ends.newest === null || ends.oldest === null) return { rows: [], complete: true };
  const top = Math.min(Number.isFinite(hiUs) ? bucketOf(hiUs) : Infinity, ends.newest);
  const floor = Math.max(loUs, ends.oldest);
  const rows: SampleRow[] = [];
  let anchor = top;
  let below = top + BUCKET_US; // exclusive upper edge of the next window
  for (let i = 0; i < WINDOWS.length; i++) {
    const hours = WINDOWS[i];
    const from = Number.isFinite(hours) ? Math.max(anchor - (hours - 1) * BUCKET_US, floor) : floor;
    if (below <= from) break;
    const chunks = await db
      .select({ seriesId: ch.seriesId, bucket: ch.bucket, samples: ch.samples })
      .from(ch)
      .where(and(inSeries, gte(ch.bucket, from), lte(ch.bucket, below - 1)));
    for (const c of chunks)
      for (const r of expand(byId.get(c.seriesId)!, c.bucket, c.samples)) if (keep(r)) rows.push(r);
    below = from;
    const bottom = from <= floor;
    if (rows.length >= need || bottom) return { rows: rows.sort(newestFirst), complete: bottom };
    if (!chunks.length) {
      // A gap (say recent samples far above older ones): the windows start again at the
      // newest chunk below it rather than growing across empty hours into everything.
      const [next] = await db
        .select({
          bucket: sql<
            number | null
          >`max((select max(c.bucket) from ${ch} c where c.series_id = j.value and c.bucket < ${below}))`,
        })
        .from(sql`json_each(${ids}) j`);
      if (next.bucket === null || next.bucket < floor) return { rows: rows.sort(newestFirst), complete: true };
      anchor = next.bucket;
      below = next.bucket + BUCKET_US;
      i = -1;
    }
  }
  return { rows: rows.sort(newestFirst), complete: true };
}

/** The count a first page shows: matches up to TOTAL_COUNT_LIMIT + 1. */
export const COUNT_NEED = TOTAL_COUNT_LIMIT + 1;

/** One sample by id, hot: its series row and chunk (legacy ids through their table). */
export async function hotSampleById(
  db: Database,
  id: string,
  scope: ProjectScope,
): Promise<{ row?: SampleRow; series?: Series; at?: Located }> {
  const at = await locate(db, id);
  if (!at) return {};
  const [series] = await db
    .select()
    .from(se)
    .where(and(eq(se.id, at.seriesId), scopeCondition(se.projectId, scope)));
  if (!series) return {};
  const [chunk] = await db
    .select()
    .from(ch)
    .where(and(eq(ch.seriesId, at.seriesId), eq(ch.bucket, bucketOf(at.timestamp))));
  const row = chunk ? expand(series, chunk.bucket, chunk.samples).find((r) => r.id === id) : undefined;
  return { row, series, at };
}
