/**
 * Ceilometer v2 samples and meters (mounted at /v2): the query language of query.ts,
 * paging headers with a cursor in the `next` link, ingest in one D1 batch, statistics
 * aggregated by D1.
 */
import type { Context } from "hono";
import { z } from "zod";
import { database } from "../db/client";
import { endpoint, familyRouter, param, refuseOtherMethods, type AppEnv } from "../http/app";
import { caller, mayUseProject, requireToken, type Principal } from "../http/auth";
import { parseInput, readJson } from "../http/body";
import { ApiError, errors } from "../http/errors";
import { absoluteLink, pageCount } from "../http/paging";
import { badQuery, encodeCursor, formatTimestamp, parsePaging, parseSampleQuery, type Paging, type SampleQuery } from "./query";
import {
  errorDoc,
  meterBody,
  oldSampleBody,
  oldSamplesInput,
  sampleBody,
  sampleDoc,
  samplesInput,
  type NewSample,
} from "./schemas";
import {
  GROUPBY_FIELDS,
  METER_FIELDS,
  countersQuery,
  insertStatements,
  messageId,
  meterCountQuery,
  meterPageQuery,
  meterWhere,
  sampleByIdQuery,
  sampleCountQuery,
  samplePageQuery,
  sampleWhere,
  statisticsQuery,
  storedSamples,
  type GroupField,
  type ProjectScope,
  type SampleRow,
} from "./store";
import { tieredStatistics } from "./rollups";
import { tiersOf } from "./tiers";
import { mayReachCold, tieredSamplePage } from "./cold-page";

export const telemetryRoutes = familyRouter();
type C = Context<AppEnv>;

const notAuthorized = () => new ApiError("forbidden", "Not authorized to access project.", { status: 401 });
const queryOf = (c: C) => new URL(c.req.url).searchParams;

/**
 * The projects the caller may read for this query. A non-admin naming a project of
 * its own is already confined by that condition; naming another one is refused.
 */
function readScope(p: Principal, q: SampleQuery): ProjectScope {
  if (p.role === "admin") return null;
  const named = q.equals.filter((e) => e.field === "project_id").map((e) => e.value);
  if (named.some((project) => !mayUseProject(p, project))) throw notAuthorized();
  return named.length ? null : p.projects;
}

/** `Per-Page`, `Total` and `Link` (first, prev, next, last: those that exist; absolute; every other argument kept). */
function setPagingHeaders(c: C, paging: Paging, total: number, nextCursor: string | null) {
  const url = new URL(c.req.url);
  const pages = pageCount(total, paging.perPage);
  const link = (page: number, cursor: string | null = null) => absoluteLink(url, { page, cursor });
  const rels: string[] = [];
  if (pages > 0) rels.push(`<${link(1)}>; rel="first"`);
  if (paging.page > 1 && pages > 0) rels.push(`<${link(Math.min(paging.page - 1, pages))}>; rel="prev"`);
  if (paging.page < pages) rels.push(`<${link(paging.page + 1, nextCursor)}>; rel="next"`);
  if (pages > 0) rels.push(`<${link(pages)}>; rel="last"`);
  c.header("Per-Page", String(paging.perPage));
  c.header("Total", String(total));
  if (rels.length) c.header("Link", rels.join(", "));
}

/**
 * A page of samples newest first. Page 1 (or a `page=`) counts the matches, from the
 * per-project counters when only projects are named; a `next` link carries the last
 * row and that total, so following links neither counts nor skips rows again.
 */
async function samplePage(c: C, q: SampleQuery): Promise<SampleRow[]> {
  const scope = readScope(caller(c), q);
  const paging = parsePaging(queryOf(c));
  const db = database(c.env);
  const where = sampleWhere(q, scope);
  let total: number;
  let rows: SampleRow[] = [];
  // Cold days in range (cold-page.ts): hot and cold merged under the same cursor.
  // Cold days in range (cold-page.ts): hot and cold merged under the same cursor. A
  // linked page that is full of hot rows needs no look at the cold index.
  const tiers = { db, archive: c.env.TELEMETRY_ARCHIVE, tiers: tiersOf(c.env), nowMs: Date.now() };
  const tiered = paging.cursor ? null : await tieredSamplePage(tiers, q, scope, where, paging);
  if (tiered) {
    ({ rows, total } = tiered);
  } else if (paging.cursor) {
    total = paging.cursor.total;
    rows = await samplePageQuery(db, where, { limit: paging.perPage, offset: 0, after: paging.cursor });
    if (mayReachCold(rows, paging.perPage, tiers)) rows = (await tieredSamplePage(tiers, q, scope, where, paging))?.rows ?? rows;
  } else {
    const [{ n }] = await (countersQuery(db, q, scope) ?? sampleCountQuery(db, where));
    total = n;
    const offset = (paging.page - 1) * paging.perPage;
    if (offset < total) rows = await samplePageQuery(db, where, { limit: paging.perPage, offset });
  }
  const last = rows.at(-1);
  const nextCursor = last && rows.length === paging.perPage ? encodeCursor({ timestamp: last.timestamp, seq: last.seq, total }) : null;
  setPagingHeaders(c, paging, total, nextCursor);
  return rows;
}

/**
 * Stores posted samples: ids from their content (a retry finds what it stored), new
 * rows written by one all-or-nothing batch. Answers the stored samples in input order.
 */
async function ingest(c: C, samples: NewSample[]): Promise<SampleRow[]> {
  const p = caller(c);
  for (const sample of samples) {
    if (!sample.projectId && p.role !== "admin") {
      // As Ceilometer does: an unset project is the caller's own, when it has one.
      if (p.projects.length !== 1) throw errors.badRequest("project_id is required: this token may post into several projects.");
      sample.projectId = p.projects[0];
    }
    if (sample.projectId && !mayUseProject(p, sample.projectId)) throw notAuthorized();
  }
  const recordedAt = Date.now() * 1000;
  const rows = await Promise.all(samples.map(async (n) => ({ ...n, id: await messageId(n), recordedAt, seq: 0 })));
  const unique = [...new Map(rows.map((r) => [r.id, r])).values()];
  const db = database(c.env);
  for (let attempt = 1; ; attempt++) {
    const stored = new Map((await storedSamples(db, unique.map((r) => r.id))).map((r) => [r.id, r]));
    const fresh = unique.filter((r) => !stored.has(r.id)).map(({ seq: _, ...r }) => r);
    try {
      if (fresh.length) {
        const statements = insertStatements(db, fresh);
        await db.batch(statements as [(typeof statements)[0], ...typeof statements]);
      }
      return rows.map((r) => stored.get(r.id) ?? r);
    } catch (e) {
      // A concurrent post of the same samples won the race: read what it stored.
      if (attempt > 1 || !/UNIQUE constraint failed: telemetry_samples\.id/.test(String(e))) throw e;
    }
  }
}

const SAMPLE_BODY_MAX = 4 * 1024 * 1024;
const tooLarge = `a post carries at most ${SAMPLE_BODY_MAX} bytes of samples`;
const listDoc = { 200: { description: "Samples, newest first; Per-Page, Total and Link headers", content: { "application/json": { schema: z.array(sampleDoc) } } } };
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
    request: { body: { content: { "application/json": { schema: z.array(sampleDoc.omit({ id: true, recorded_at: true })) } } } },
    responses: { 201: { description: "The stored samples", content: { "application/json": { schema: z.array(sampleDoc) } } }, ...errorResponses },
  },
  requireToken(),
  async (c) => {
    const body = await readJson(c, { maxBytes: SAMPLE_BODY_MAX, tooLarge, empty: null });
    const rows = await ingest(c, parseInput(samplesInput, body));
    return c.json(rows.map(sampleBody), 201);
  },
);

endpoint(
  telemetryRoutes,
  "get",
  "/samples/:id",
  { summary: "One sample", tags: ["telemetry"], responses: { 200: { description: "The sample", content: { "application/json": { schema: sampleDoc } } }, ...errorResponses } },
  requireToken(),
  async (c) => {
    const id = param(c, "id");
    const p = caller(c);
    const [row] = await sampleByIdQuery(database(c.env), id, p.role === "admin" ? null : p.projects);
    if (!row) throw errors.notFound(`Sample ${id} Not Found`);
    return c.json(sampleBody(row));
  },
);

endpoint(
  telemetryRoutes,
  "get",
  "/meters",
  { summary: "Distinct meters visible to the token (same query language, no timestamp)", tags: ["telemetry"], responses: errorResponses },
  requireToken(),
  async (c) => {
    const params = queryOf(c);
    const q = parseSampleQuery(params, METER_FIELDS);
    const where = meterWhere(q, readScope(caller(c), q));
    const paging = parsePaging(params);
    const db = database(c.env);
    const [[{ n: total }], rows] = await db.batch([
      meterCountQuery(db, where),
      meterPageQuery(db, where, paging.perPage, (paging.page - 1) * paging.perPage),
    ]);
    setPagingHeaders(c, paging, total, null);
    return c.json(rows.map(meterBody));
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
  { summary: "Add samples of one meter (Ceilometer's OldSample list)", tags: ["telemetry"], responses: { 201: { description: "The stored samples" }, ...errorResponses } },
  requireToken(),
  async (c) => {
    const meter = param(c, "meter");
    const body = await readJson(c, { maxBytes: SAMPLE_BODY_MAX, tooLarge, empty: null });
    const samples = parseInput(oldSamplesInput, body);
    const stray = samples.find((s) => s.meter !== meter);
    if (stray) throw badQuery(`Invalid input for field/attribute counter_name. Value: '${stray.meter}'. should be ${meter}`);
    const rows = await ingest(c, samples);
    return c.json(rows.map(oldSampleBody), 201);
  },
);

const AGGREGATES = ["count", "min", "max", "sum", "avg", "stddev", "cardinality"] as const;
type Aggregate = (typeof AGGREGATES)[number];
const MAX_PERIOD_S = Math.floor(Number.MAX_SAFE_INTEGER / 1e6);

function parsePeriod(raw: string | null): number {
  if (raw === null) return 0;
  if (!/^\s*[+-]?\d+\s*$/.test(raw) || Math.abs(Number(raw)) > MAX_PERIOD_S) throw badQuery(`Invalid period ${raw}`);
  const period = Number(raw);
  // As Ceilometer: 0 means no period (one bucket).
  if (period < 0) throw badQuery("Period must be positive.");
  return period;
}

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
    const period = parsePeriod(params.get("period"));
    const groupby = params.getAll("groupby");
    const unknown = groupby.filter((g) => !(GROUPBY_FIELDS as readonly string[]).includes(g));
    if (unknown.length) throw badQuery(`Unknown argument: "${unknown.join(", ")}": Invalid groupby fields`);
    const funcs = params.getAll("aggregate.func");
    const funcParams = params.getAll("aggregate.param");
    const aggregates = funcs.map((func, i) => {
      if (!(AGGREGATES as readonly string[]).includes(func)) throw badQuery(`Invalid aggregation function: ${func}`);
      const field = funcParams[i] ?? "";
      if (func === "cardinality" && !(GROUPBY_FIELDS as readonly string[]).includes(field)) {
        throw badQuery(`Invalid aggregation parameter for cardinality: '${field}'. valid: ${GROUPBY_FIELDS.join(", ")}`);
      }
      return { func: func as Aggregate, field: field as GroupField };
    });
    const scope = readScope(caller(c), q);
    const cardinality = aggregates.filter((a) => a.func === "cardinality").map((a) => a.field);
    const request = {
      where: sampleWhere(q, scope),
      periodUs: period * 1e6,
      startUs: q.start?.us,
      groupby: [...new Set(groupby)] as GroupField[],
      stddev: aggregates.some((a) => a.func === "stddev"),
      cardinality: [...new Set(cardinality)],
    };
    const db = database(c.env);
    // Rollups and cold samples (rollups.ts) where they apply; else the hot samples alone.
    const tiered = await tieredStatistics(db, c.env.TELEMETRY_ARCHIVE, { ...request, q, scope, tiers: tiersOf(c.env), nowMs: Date.now() });
    const stats = (tiered as Awaited<ReturnType<typeof statisticsQuery>> | null) ?? (await statisticsQuery(db, request));
    return c.json(
      stats.map((row) => {
        const r = row as typeof row & Record<string, number | string>;
        const periodStart = period ? Number(row.origin) + row.bucket * period * 1e6 : (q.start?.us ?? row.first);
        const periodEnd = period ? periodStart + period * 1e6 : (q.end?.us ?? row.last);
        const stddev = row.squares === null ? 0 : Math.sqrt(Math.max(0, Number(row.squares) - row.avg * row.avg));
        const values: Record<string, number> = { count: row.count, min: row.min, max: row.max, sum: row.sum, avg: row.avg, stddev };
        const aggregate = Object.fromEntries(
          aggregates.map((a) => (a.func === "cardinality" ? [`cardinality/${a.field}`, r[`cardinality/${a.field}`]] : [a.func, values[a.func]])),
        );
        return {
          avg: row.avg,
          count: row.count,
          duration: (row.last - row.first) / 1e6,
          duration_start: formatTimestamp(row.first),
          duration_end: formatTimestamp(row.last),
          groupby: groupby.length ? Object.fromEntries([...new Set(groupby)].map((g) => [g, r[g]])) : null,
          max: row.max,
          min: row.min,
          period,
          period_start: formatTimestamp(periodStart),
          period_end: formatTimestamp(periodEnd),
          sum: row.sum,
          unit: row.unit,
          ...(aggregates.length ? { aggregate } : {}),
        };
      }),
    );
  },
);

refuseOtherMethods(telemetryRoutes);
