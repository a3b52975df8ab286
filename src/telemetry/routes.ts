/**
 * Ceilometer v2 samples and meters (mounted at /v2): the query language of query.ts,
 * paging headers with a cursor in the `next` link, ingest in one D1 batch per shard,
 * statistics from rollups where they align and raw samples elsewhere; samples older than
 * the hot window are read from R2 (docs/telemetry-storage.md). Projects live on shards
 * (fan-out.ts): a query naming one reads its shard, any other the caller's, merged.
 */
import type { Context } from "hono";
import { z } from "zod";
import { caller, mayUseProject, type Principal, requireToken } from "../auth/middleware";
import { fenceGuard, SERIES_SPAN, seriesFloor, writeToShards } from "../db/shards";
import { endpoint, familyRouter, param, refuseOtherMethods } from "../http/app";
import { parseInput, readJson } from "../http/body";
import type { AppEnv } from "../http/env";
import { ApiError, errors } from "../http/errors";
import { absoluteLink, pageCount } from "../http/paging";
import {
  CHUNK_MAX,
  ChunkFull,
  COUNT_NEED,
  hotRows,
  newestFirst,
  type SampleRow,
  SeriesRangeFull,
  scopeOverShards,
  storeSamples,
} from "./chunks";
import { coldPredicate } from "./cold";
import { coldDuplicates, coldPage, coldProbe } from "./cold-page";
import { byFields, findSample, onShard, shardsOfQuery } from "./fan-out";
import {
  badQuery,
  encodeCursor,
  type Paging,
  pageWithinSkip,
  parsePaging,
  parseSampleQuery,
  type SampleQuery,
  TOTAL_COUNT_LIMIT,
} from "./query";
import {
  errorDoc,
  meterBody,
  type NewSample,
  oldSampleBody,
  oldSamplesInput,
  refuseUnknownOldSampleFields,
  refuseUnknownSampleFields,
  sampleBody,
  sampleDoc,
  samplesInput,
  uniqueMeterBody,
} from "./schemas";
import { computeStatistics, parseStatisticsRequest, statisticsBody } from "./statistics";
import {
  type GroupField,
  METER_FIELDS,
  METER_ORDER,
  meterCountQuery,
  meterPageQuery,
  meterWhere,
  UNIQUE_METER_ORDER,
  uniqueMeterKeysQuery,
  uniqueMeterPageQuery,
} from "./store";
import { MAX_STATISTICS, tiersOf, tooManyStatistics } from "./tiers";

export const telemetryRoutes = familyRouter();
type C = Context<AppEnv>;

const notAuthorized = () => new ApiError("forbidden", "Not authorized to access project.", { status: 401 });
const queryOf = (c: C) => new URL(c.req.url).searchParams;

/**
 * The projects the caller may read for this query. Every project_id the query names must
 * be the caller's (as Ceilometer checks each); the one that won then confines the query.
 */
function readScope(p: Principal, q: SampleQuery): string[] | null {
  if (p.role === "admin") return null;
  if (q.projectsNamed.some((project) => !mayUseProject(p, project))) throw notAuthorized();
  return q.equals.some((e) => e.field === "project_id") ? null : p.projects;
}

/** What a list knows of its size: the matches counted (up to TOTAL_COUNT_LIMIT) and whether that is all of them. */
interface Total {
  n: number;
  exact: boolean;
}

const totalOf = (counted: number): Total =>
  counted > TOTAL_COUNT_LIMIT ? { n: TOTAL_COUNT_LIMIT, exact: false } : { n: counted, exact: true };

/**
 * `Per-Page`, `Total`, `Total-Exact` and `Link` (first, prev, next, last: those that
 * exist; absolute; every other argument kept). A capped total has no `last`: where the
 * matches end is not known, `next` is there while rows remain.
 */
function setPagingHeaders(c: C, paging: Paging, total: Total, more: boolean, nextCursor: string | null = null) {
  const url = new URL(c.req.url);
  const pages = pageCount(total.n, paging.perPage);
  const link = (page: number, cursor: string | null = null) => absoluteLink(url, { page, cursor });
  const rels: string[] = [];
  if (pages > 0) rels.push(`<${link(1)}>; rel="first"`);
  // A prev page is linked by number: only while that number may be asked without a cursor.
  if (paging.page > 1 && pages > 0 && pageWithinSkip(paging.page - 1, paging.perPage))
    rels.push(`<${link(total.exact ? Math.min(paging.page - 1, pages) : paging.page - 1)}>; rel="prev"`);
  if (total.exact ? paging.page < pages : more) rels.push(`<${link(paging.page + 1, nextCursor)}>; rel="next"`);
  if (pages > 0 && total.exact) rels.push(`<${link(pages)}>; rel="last"`);
  c.header("Per-Page", String(paging.perPage));
  c.header("Total", String(total.n));
  c.header("Total-Exact", String(total.exact));
  if (rels.length) c.header("Link", rels.join(", "));
}

/**
 * A page of samples newest first. The hot matches come from the chunks of the matching
 * series (chunks.ts), newest hours first, until the page (and, on page 1 or a `page=`,
 * the count up to TOTAL_COUNT_LIMIT) is covered; a `next` link carries the last row and
 * that total, so following links neither counts nor skips rows again. One row past the
 * page tells whether there is a next one. Cold objects in range are merged (cold-page.ts).
 */
async function samplePage(c: C, q: SampleQuery): Promise<SampleRow[]> {
  const readable = readScope(caller(c), q);
  const paging = parsePaging(queryOf(c));
  const limit = paging.perPage + 1;
  const tier = { archive: c.env.TELEMETRY_ARCHIVE, tiers: tiersOf(c.env), nowMs: Date.now() };
  // A message id names its sample's place: one lookup, hot or cold, then the other conditions.
  const messageId = q.equals.find((e) => e.field === "message_id")?.value;
  if (messageId !== undefined) {
    const row = await findSample(c.env, tier, messageId, readable);
    const rows = row && coldPredicate(q, readable)(row) ? [row] : [];
    setPagingHeaders(c, paging, totalOf(rows.length), false);
    return paging.cursor || paging.page > 1 ? [] : rows;
  }
  const shards = await shardsOfQuery(c.env, q, readable);
  // Over several shards, each leaves out the other copy of a project being moved.
  const scope = scopeOverShards(readable, shards.length);
  const after = paging.cursor ?? undefined;
  const offset = paging.cursor ? 0 : (paging.page - 1) * paging.perPage;
  const counting = !paging.cursor;
  const need = counting ? Math.max(offset + limit, COUNT_NEED) : offset + limit;
  // Each shard gathers its own newest `need` (all when fewer) under the cursor, in
  // parallel: the newest `need` of their union are the newest of the whole.
  const parts = await Promise.all(
    shards.map(({ db }) =>
      Promise.all([
        hotRows(db, q, scope, need, after),
        coldProbe({ ...tier, db }, q, scope, paging) ?? Promise.resolve([]),
      ]),
    ),
  );
  const hot = parts.length === 1 ? parts[0][0].rows : parts.flatMap(([h]) => h.rows).sort(newestFirst);
  const coldShards = shards.filter((_s, i) => parts[i][1].length).map((s) => s.db);
  const hotCount = counting ? Math.min(hot.length, COUNT_NEED) : undefined;
  let rows: SampleRow[];
  let counted = hotCount;
  if (coldShards.length) {
    const t = { ...tier, db: coldShards[0] };
    const tiered = await coldPage(t, q, scope, paging, { rows: hot, limit, offset, count: hotCount }, coldShards);
    rows = tiered.rows;
    counted = tiered.count;
  } else rows = hot.slice(offset, offset + limit);
  const total = paging.cursor ? { n: paging.cursor.total, exact: paging.cursor.exact } : totalOf(counted ?? 0);
  const more = rows.length > paging.perPage;
  rows = rows.slice(0, paging.perPage);
  const last = rows.at(-1);
  const nextCursor =
    last && more
      ? encodeCursor({ timestamp: last.timestamp, seq: last.seq, total: total.n, exact: total.exact })
      : null;
  setPagingHeaders(c, paging, total, more, nextCursor);
  return rows;
}

/**
 * Stores posted samples, grouped by project, on the shards that hold them (placing new
 * projects): per shard one D1 batch, fenced (src/db/shards.ts), of new series (ids in
 * their project's range), meters and metadata entries, one upsert per series and hour
 * appending what its chunk does not hold yet (a retry finds its samples there and writes
 * nothing), and a read-back of the chunks touched. Answers the stored samples in input
 * order, with ids that say where they live.
 */
async function ingest(c: C, samples: NewSample[], opts: { ceilometerSource: boolean }): Promise<SampleRow[]> {
  const p = caller(c);
  for (const sample of samples) {
    if (!sample.projectId && p.role !== "admin") {
      // As Ceilometer does: an unset project is the caller's own, when it has one.
      if (p.projects.length !== 1)
        throw errors.badRequest("project_id is required: this token may post into several projects.");
      sample.projectId = p.projects[0];
    }
    if (sample.projectId && !mayUseProject(p, sample.projectId)) throw notAuthorized();
    // Ceilometer stores `<project>:<source>`, the source defaulting to its
    // sample_source `openstack`; its own form always prefixes, ours only fills a blank.
    if (opts.ceilometerSource) sample.source = `${sample.projectId}:${sample.source || "openstack"}`;
    else if (!sample.source) sample.source = `${sample.projectId}:openstack`;
  }
  const recordedAt = Date.now() * 1000;
  const rows = samples.map((s) => ({ ...s, projectId: s.projectId ?? "", recordedAt }));
  const byProject = new Map<string, number[]>();
  for (const [i, r] of rows.entries()) {
    const list = byProject.get(r.projectId);
    if (list) list.push(i);
    else byProject.set(r.projectId, [i]);
  }
  const answers: SampleRow[] = new Array(rows.length);
  const tier = { archive: c.env.TELEMETRY_ARCHIVE, tiers: tiersOf(c.env), nowMs: Date.now() };
  await writeToShards(c.env, [...byProject.keys()], async ({ shard, projects }) => {
    const { d1, db } = onShard(c.env, shard);
    const indexes = projects.flatMap((x) => byProject.get(x.project) ?? []);
    const mine = indexes.map((i) => rows[i]);
    // A late sample may be a re-post of one already moved to R2: answered from there, not stored again.
    const cold = await coldDuplicates({ ...tier, db }, mine);
    const fresh = mine.filter((_r, k) => !cold.has(k));
    let stored: Array<SampleRow | undefined> = [];
    try {
      if (fresh.length)
        stored = await storeSamples(d1, fresh, {
          floors: new Map(projects.map((x) => [x.project, seriesFloor(x.number)])),
          guard: fenceGuard(projects.map((x) => x.project)),
        });
    } catch (e) {
      if (e instanceof ChunkFull)
        throw badQuery(`A series holds at most ${CHUNK_MAX} samples per hour: this post would pass it.`);
      if (e instanceof SeriesRangeFull)
        throw new ApiError("other", `A project holds at most ${SERIES_SPAN - 1} series: this post would pass it.`, {
          status: 507,
        });
      throw e;
    }
    let next = 0;
    indexes.forEach((i, k) => {
      answers[i] = cold.get(k) ?? (stored[next++] as SampleRow);
    });
  });
  return answers;
}

const SAMPLE_BODY_MAX = 4 * 1024 * 1024;
const tooLarge = `a post carries at most ${SAMPLE_BODY_MAX} bytes of samples`;
const listDoc = {
  200: {
    description: "Samples, newest first; Per-Page, Total and Link headers",
    content: { "application/json": { schema: z.array(sampleDoc) } },
  },
};
const errorResponses = {
  400: { description: "Malformed query or body", content: { "application/json": { schema: errorDoc } } },
  401: { description: "No valid token, or another project", content: { "application/json": { schema: errorDoc } } },
};

endpoint(
  telemetryRoutes,
  "get",
  "/samples",
  {
    summary: "List samples (Ceilometer v2): q.field/q.op/q.value/q.type, limit, per_page, page",
    tags: ["telemetry"],
    responses: { ...listDoc, ...errorResponses },
  },
  requireToken(),
  async (c) => {
    const rows = await samplePage(c, parseSampleQuery(queryOf(c)));
    return c.json(rows.map(sampleBody));
  },
);

endpoint(
  telemetryRoutes,
  "post",
  "/samples",
  {
    summary: "Add samples (up to 1000, all or nothing)",
    tags: ["telemetry"],
    request: {
      body: { content: { "application/json": { schema: z.array(sampleDoc.omit({ id: true, recorded_at: true })) } } },
    },
    responses: {
      201: { description: "The stored samples", content: { "application/json": { schema: z.array(sampleDoc) } } },
      ...errorResponses,
    },
  },
  requireToken(),
  async (c) => {
    const body = await readJson(c, { maxBytes: SAMPLE_BODY_MAX, tooLarge, empty: null });
    refuseUnknownSampleFields(body);
    const rows = await ingest(c, parseInput(samplesInput, body), { ceilometerSource: false });
    return c.json(rows.map(sampleBody), 201);
  },
);

endpoint(
  telemetryRoutes,
  "get",
  "/samples/:id",
  {
    summary: "One sample",
    tags: ["telemetry"],
    responses: {
      200: { description: "The sample", content: { "application/json": { schema: sampleDoc } } },
      ...errorResponses,
    },
  },
  requireToken(),
  async (c) => {
    const id = param(c, "id");
    const p = caller(c);
    const row = await findSample(
      c.env,
      { archive: c.env.TELEMETRY_ARCHIVE, tiers: tiersOf(c.env), nowMs: Date.now() },
      id,
      p.role === "admin" ? null : p.projects,
    );
    if (!row) throw errors.notFound(`Sample ${id} Not Found`);
    return c.json(sampleBody(row));
  },
);

endpoint(
  telemetryRoutes,
  "get",
  "/meters",
  {
    summary:
      "Distinct meters visible to the token (same query language, no timestamp); unique=True: one per meter name",
    tags: ["telemetry"],
    responses: errorResponses,
  },
  requireToken(),
  async (c) => {
    const params = queryOf(c);
    // Metadata conditions are for samples and statistics; meters keep no metadata here.
    const q = parseSampleQuery(params, METER_FIELDS, { metadata: false });
    const scope = readScope(caller(c), q);
    const paging = parsePaging(params);
    // As oslo's bool_from_string: `True`, `1`, `yes`... anything else is false.
    const unique = /^\s*(1|t|true|on|y|yes)\s*$/i.test(params.get("unique") ?? "");
    const offset = (paging.page - 1) * paging.perPage;
    const limit = paging.perPage + 1;
    const shards = await shardsOfQuery(c.env, q, scope);
    const where = meterWhere(q, scopeOverShards(scope, shards.length));
    if (!shards.length) {
      setPagingHeaders(c, paging, totalOf(0), false);
      return c.json([]);
    }
    if (shards.length === 1) {
      const { db } = shards[0];
      if (unique) {
        const [[{ n }], rows] = await db.batch([
          meterCountQuery(db, where, true),
          uniqueMeterPageQuery(db, where, limit, offset),
        ]);
        setPagingHeaders(c, paging, totalOf(n), rows.length > paging.perPage);
        return c.json(rows.slice(0, paging.perPage).map(uniqueMeterBody));
      }
      const [[{ n }], rows] = await db.batch([meterCountQuery(db, where), meterPageQuery(db, where, limit, offset)]);
      setPagingHeaders(c, paging, totalOf(n), rows.length > paging.perPage);
      return c.json(rows.slice(0, paging.perPage).map(meterBody));
    }
    // Several shards: each its first offset + limit in the index's order, merged; a meter row
    // names its project, so no two shards hold one, but a unique (meter, type, unit) may be on
    // several: counted as the union of each shard's first TOTAL_COUNT_LIMIT + 1 keys.
    if (unique) {
      const parts = await Promise.all(
        shards.map(({ db }) =>
          db.batch([uniqueMeterKeysQuery(db, where), uniqueMeterPageQuery(db, where, offset + limit, 0)]),
        ),
      );
      const key = (m: { meter: string; type: string; unit: string }) => JSON.stringify([m.meter, m.type, m.unit]);
      const n = new Set(parts.flatMap(([keys]) => keys.map(key))).size;
      const merged = [...new Map(parts.flatMap(([, page]) => page.map((m) => [key(m), m]))).values()]
        .sort(byFields(UNIQUE_METER_ORDER))
        .slice(offset, offset + limit);
      setPagingHeaders(c, paging, totalOf(n), merged.length > paging.perPage);
      return c.json(merged.slice(0, paging.perPage).map(uniqueMeterBody));
    }
    const parts = await Promise.all(
      shards.map(({ db }) => db.batch([meterCountQuery(db, where), meterPageQuery(db, where, offset + limit, 0)])),
    );
    const n = parts.reduce((sum, [[count]]) => sum + count.n, 0);
    const merged = parts
      .flatMap(([, page]) => page)
      .sort(byFields(METER_ORDER))
      .slice(offset, offset + limit);
    setPagingHeaders(c, paging, totalOf(n), merged.length > paging.perPage);
    return c.json(merged.slice(0, paging.perPage).map(meterBody));
  },
);

endpoint(
  telemetryRoutes,
  "get",
  "/meters/:meter",
  { summary: "A meter's samples in Ceilometer's OldSample shape", tags: ["telemetry"], responses: errorResponses },
  requireToken(),
  async (c) => {
    const q = parseSampleQuery(queryOf(c));
    q.equals.push({ field: "meter", value: param(c, "meter") });
    const rows = await samplePage(c, q);
    return c.json(rows.map(oldSampleBody));
  },
);

endpoint(
  telemetryRoutes,
  "post",
  "/meters/:meter",
  {
    summary: "Add samples of one meter (Ceilometer's OldSample list)",
    tags: ["telemetry"],
    responses: { 201: { description: "The stored samples" }, ...errorResponses },
  },
  requireToken(),
  async (c) => {
    const meter = param(c, "meter");
    const body = await readJson(c, { maxBytes: SAMPLE_BODY_MAX, tooLarge, empty: null });
    refuseUnknownOldSampleFields(body);
    const samples = parseInput(oldSamplesInput, body);
    const stray = samples.find((s) => s.meter !== meter);
    if (stray)
      throw badQuery(`Invalid input for field/attribute counter_name. Value: '${stray.meter}'. should be ${meter}`);
    const rows = await ingest(c, samples, { ceilometerSource: true });
    return c.json(rows.map(oldSampleBody), 201);
  },
);

endpoint(
  telemetryRoutes,
  "get",
  "/meters/:meter/statistics",
  {
    summary: "Statistics of a meter: period, groupby, aggregate.func/aggregate.param (Ceilometer semantics)",
    tags: ["telemetry"],
    responses: errorResponses,
  },
  requireToken(),
  async (c) => {
    const params = queryOf(c);
    const q = parseSampleQuery(params);
    q.equals.push({ field: "meter", value: param(c, "meter") });
    const { period, groupby, aggregates } = parseStatisticsRequest(params);
    // Buckets alone past the cap are refused before anything is read.
    if (period && q.start && q.end) {
      const buckets = Math.ceil((q.end.us - q.start.us + (q.end.inclusive ? 1 : 0)) / (period * 1e6));
      if (buckets > MAX_STATISTICS) throw tooManyStatistics(buckets);
    }
    const scope = readScope(caller(c), q);
    const cardinality = aggregates.filter((a) => a.func === "cardinality").map((a) => a.field);
    const shards = await shardsOfQuery(c.env, q, scope);
    const stats = await computeStatistics(
      shards.map((x) => x.db),
      c.env.TELEMETRY_ARCHIVE,
      {
        q,
        scope: scopeOverShards(scope, shards.length),
        periodUs: period * 1e6,
        groupby: [...new Set(groupby)] as GroupField[],
        stddev: aggregates.some((a) => a.func === "stddev"),
        cardinality: [...new Set(cardinality)],
        tiers: tiersOf(c.env),
        nowMs: Date.now(),
      },
    );
    return c.json(
      stats.map((row) => statisticsBody(row, { period, groupby, aggregates, start: q.start?.us, end: q.end?.us })),
    );
  },
);

refuseOtherMethods(telemetryRoutes);
