import type { Context } from "hono";
import { z } from "zod";
import pkg from "../../package.json";
import { requireToken } from "../auth/middleware";
import { type EndpointDoc, endpoint, familyRouter, param, refuseOtherMethods } from "../http/app";
import { parseInput, readJson } from "../http/body";
import type { AppEnv } from "../http/env";
import { ApiError, errors } from "../http/errors";
import { pageCount, relativeLink, resolvePage } from "../http/paging";
import { parseInteger } from "../http/query";
import { metricsAsCsv } from "./csv";
import {
  components,
  contexts,
  extremes,
  type Listing,
  type MetricScope,
  metricScopes,
  metrics,
  pipelines,
  type Scope,
  sessions,
} from "./listings";
import { projectDatabase, writeInProject } from "./project-db";
import { projectOf } from "./projects";
import { registerRegressionRoutes } from "./regressions-routes";
import {
  ContextIn,
  ContextOut,
  Count,
  DESCRIPTION_MAX_ENTRIES,
  Description,
  FLAGS_MAX,
  METRICS_PER_POST,
  MetricIn,
  MetricOut,
  MetricsIn,
  pageOf,
  RESOURCES,
  type Resource,
  SessionIn,
  SessionOut,
} from "./schemas";
import { contextOut, createContext, createMetrics, createSession, sessionOut } from "./store";
import { swaggerDocument } from "./swagger";

/** pytest-monitor's remote server (docs/api/monitor.md), mounted at /api/v1. Any token reads and writes. */
export const monitorRoutes = familyRouter();
// The API description is public, like /openapi.json: registered before the token check.
// Built once per isolate: the routes are fixed at startup and a build takes tens of ms.
let swagger: ReturnType<typeof swaggerDocument> | undefined;
monitorRoutes.get("/swagger.json", (c) => {
  swagger ??= swaggerDocument(monitorRoutes, pkg.version);
  return c.json(swagger);
});
monitorRoutes.use("*", requireToken());
monitorRoutes.use("*", metricsAsCsv);

type C = Context<AppEnv>;
const tags = ["test-run monitor"];
const json = (schema: z.ZodType) => ({ content: { "application/json": { schema } } });
const doc = (summary: string, out?: z.ZodType, extra: EndpointDoc = {}): EndpointDoc => ({
  tags,
  summary,
  ...(out ? { responses: { 200: { description: "OK", ...json(out) }, 204: { description: "Empty first page" } } } : {}),
  ...extra,
});
const get = (path: string, d: EndpointDoc, handler: (c: C, q: Scope) => Promise<Response>) =>
  endpoint(monitorRoutes, "get", path, d, async (c) => handler(c, await scopeOf(c)));

/** Counts of filtered lists stop here (docs/api/monitor.md, "Counts"); MONITOR_COUNT_CAP may lower it. */
export const COUNT_CAP = 10_000;

/** The request's project, its shard and the count cap: every read is bound to them. */
async function scopeOf(c: C): Promise<Scope> {
  const cap = parseInteger((c.env as { MONITOR_COUNT_CAP?: string }).MONITOR_COUNT_CAP);
  const project = projectOf(c);
  return {
    db: await projectDatabase(c.env, project),
    project,
    countCap: cap !== null && cap > 0 ? Math.min(cap, COUNT_CAP) : COUNT_CAP,
  };
}

// ─── Paging (docs/api/monitor.md: "Pagination") ─────────────────────────────

/**
 * A keyset step carried by `next_url` / `prev_url` of filtered lists: `a<seq>` (rows after)
 * or `b<seq>` (rows before), then `.<pages>`, the page count when paging began, so a
 * step reads only its page instead of counting every match again.
 */
const CURSOR = /^([ab])(\d{1,15})\.(\d{1,15})$/;

/** `page` from the query, else from a JSON body (the reference reads both), else 1. */
async function requestedPage(c: C): Promise<number> {
  let raw: unknown = c.req.query("page");
  if (raw === undefined && c.req.raw.body) {
    const body = await readJson(c, { maxBytes: 64 * 1024 });
    if (body !== null && typeof body === "object" && !Array.isArray(body)) raw = (body as Record<string, unknown>).page;
  }
  if (raw === undefined) return 1;
  const page =
    typeof raw === "number" && Number.isSafeInteger(raw) ? raw : typeof raw === "string" ? parseInteger(raw) : null;
  if (page === null) throw errors.badRequest("page must be a non-zero integer", { page: "must be a non-zero integer" });
  // The reference answers 404 for page 0: there is no such page.
  if (page === 0) throw errors.notFound("Page 0 does not exist: pages count from 1 (or from -1 at the end).");
  return page;
}

/** Rows a page holds: MONITOR_PAGE_SIZE, 500 by default. */
const pageSize = (c: C) => Math.max(1, parseInteger(c.env.MONITOR_PAGE_SIZE) ?? 500);

/** Links: null instead of absent, and extra keys, for the envelopes the reference marshals without skip_none. */
type Envelope = Record<string, unknown>;

/**
 * One page of a listing in one D1 round trip: `?page=N` (1-based, negative from the end;
 * count and page go in one batch), or a keyset step from a link (one statement). 204 for
 * an empty first page (200 with an empty list for envelopes, as the reference answers),
 * 404 past the end, relative links that keep the route and the other arguments.
 */
async function sendPage<T>(c: C, q: Scope, key: string, listing: Listing<T>, envelope?: Envelope) {
  const { db } = q;
  const size = pageSize(c);
  const requested = await requestedPage(c);
  const rawCursor = c.req.query("cursor");
  const cursor = rawCursor === undefined ? null : CURSOR.exec(rawCursor);
  if (rawCursor !== undefined && (!cursor || !listing.seq))
    throw errors.badRequest("cursor is not one this server sent", { cursor: "use the links of a previous page" });

  let rows: unknown[];
  let page: number;
  let pages: number;
  let hasPrev: boolean;
  let hasNext: boolean;
  if (cursor) {
    const [, way, seq, total] = cursor;
    pages = Number(total);
    const found = (
      await db.batch([
        listing.rows(way === "a" ? { after: Number(seq), limit: size + 1 } : { before: Number(seq), limit: size + 1 }),
      ])
    )[0] as unknown[];
    if (found.length === 0) throw errors.notFound(`Page ${requested} does not exist.`);
    const more = found.length > size;
    rows = found.slice(0, size);
    if (way === "b") rows.reverse();
    page = Math.abs(requested);
    hasPrev = way === "b" ? more : page > 1;
    hasNext = way === "a" ? more : true;
  } else {
    // From the end, page -k lies within the rows [(k-2)·size, k·size) counted backwards (the
    // last page holds 1..size rows): two pages are fetched, the rows before them only stepped
    // over, so no page number, however large, pulls more than two pages into the Worker.
    const back = -requested;
    const window =
      requested > 0
        ? { offset: Math.min((requested - 1) * size, Number.MAX_SAFE_INTEGER), limit: size }
        : {
            offset: Math.min(Math.max(0, back - 2) * size, Number.MAX_SAFE_INTEGER),
            fromEnd: true,
            limit: (back === 1 ? 1 : 2) * size,
            back,
            size,
          };
    // One row more than the page on the way forward: whether another follows, when the count stopped at its cap.
    const [counted, found] = (await db.batch([
      listing.count,
      listing.rows(requested > 0 ? { ...window, limit: size + 1 } : window),
    ])) as [Array<{ n: number }>, unknown[]];
    const total = counted[0]?.n ?? 0;
    if (listing.cap !== undefined && total > listing.cap) {
      // More rows than the count reads: page numbers stay exact, the last page is unknown.
      // From the end, pages are whole pages counted back from the newest row.
      if (requested > 0) {
        rows = found.slice(0, size);
        hasNext = found.length > size;
      } else {
        const from = (back - 1) * size - window.offset;
        rows = found.slice(from, from + size).reverse();
        hasNext = back > 1;
      }
      if (rows.length === 0) throw errors.notFound(`Page ${requested} does not exist.`);
      page = requested;
      hasPrev = requested > 1 || requested < 0;
      // A lower bound: at least the pages the cap fills, and this one and the next.
      pages = Math.max(pageCount(listing.cap, size), requested > 0 ? requested + (hasNext ? 1 : 0) : 0);
    } else {
      pages = pageCount(total, size);
      const resolved = resolvePage(requested, pages);
      if (total === 0 && (requested === 1 || requested === -1)) {
        if (!envelope) return c.body(null, 204);
      } else if (resolved === null)
        throw errors.notFound(`Page ${requested} does not exist: there are ${pages} page(s).`);
      page = Math.max(1, resolved ?? 1);
      if (requested > 0) rows = found.slice(0, size);
      else if (listing.exactFromEnd) rows = found.reverse();
      else {
        const first = (page - 1) * size;
        const last = Math.min(page * size, total);
        rows = found.slice(total - last - window.offset, total - first - window.offset).reverse();
      }
      hasPrev = page > 1;
      hasNext = page < pages;
    }
  }

  const url = new URL(c.req.url);
  const link = (p: number, step: string | null) =>
    relativeLink(url, { page: p, cursor: listing.seq && step ? `${step}.${pages}` : null });
  const body: Record<string, unknown> = { ...envelope, [key]: rows.map(listing.out), total_page: pages };
  const seqOf = listing.seq;
  if (hasPrev) body.prev_url = link(page - 1, seqOf ? `b${seqOf(rows[0])}` : null);
  else if (envelope) body.prev_url = null;
  if (hasNext) body.next_url = link(page + 1, seqOf ? `a${seqOf(rows.at(-1))}` : null);
  else if (envelope) body.next_url = null;
  return c.json(body);
}

/**
 * `{"count": N}`; a filtered count stops at the cap: more answers the cap with
 * `"capped": true` (docs/api/monitor.md, "Counts").
 */
const count = async (c: C, q: Scope, listing: Listing<unknown>) => {
  const [[row]] = (await q.db.batch([listing.count])) as [Array<{ n: number }>];
  const n = row?.n ?? 0;
  if (listing.cap !== undefined && n > listing.cap) return c.json({ count: listing.cap, capped: true });
  return c.json({ count: n });
};
const metricsPage = (c: C, q: Scope, scope: MetricScope) => sendPage(c, q, "metrics", metrics.in(q, scope));
const metricsCount = (c: C, q: Scope, scope: MetricScope) => count(c, q, metrics.in(q, scope));

const SessionsPage = pageOf("sessions", SessionOut);
const ContextsPage = pageOf("contexts", ContextOut);
const MetricsPage = pageOf("metrics", MetricOut);
const links = { total_page: z.number(), prev_url: z.string().nullable(), next_url: z.string().nullable() };
const NamesPage = (key: string) =>
  z.object({
    [key]: z.array(z.string()),
    total_page: z.number(),
    prev_url: z.string().optional(),
    next_url: z.string().optional(),
  });

// ─── Writes ─────────────────────────────────────────────────────────────────

/** Answers a create: 201 new, 200 when the same record was stored before, 409 when a different one was. */
function created<T>(c: C, what: string, key: string, outcome: "created" | "identical" | "conflict", body: T) {
  if (outcome === "conflict") throw errors.conflict(`${what} ${key} already exists with different content`);
  return c.json(body as object, outcome === "created" ? 201 : 200);
}

async function postSession(c: C, pathHash?: string) {
  const body = await readJson(c);
  // POST /sessions/<h> takes the hash from the path when the body has none (as the reference does).
  const withHash =
    pathHash !== undefined &&
    body !== null &&
    typeof body === "object" &&
    !Array.isArray(body) &&
    !Object.hasOwn(body, "session_h")
      ? { ...body, session_h: pathHash }
      : body;
  const input = parseInput(SessionIn, withHash);
  if (!Object.hasOwn(withHash as object, "description")) {
    throw errors.badRequest("Input payload validation failed", { description: "Missing required parameter" });
  }
  const description = Description.safeParse(input.description);
  if (!description.success || Array.isArray(input.description)) throw errors.badRequest("Bad description format");
  if (Object.keys(description.data).length > DESCRIPTION_MAX_ENTRIES) {
    throw errors.badRequest("Input payload validation failed", {
      description: `at most ${DESCRIPTION_MAX_ENTRIES} entries`,
    });
  }
  const { outcome, stored } = await writeInProject(c.env, projectOf(c), (w) =>
    createSession(w, { ...input, description: description.data }),
  );
  return created(c, "Session", input.session_h, outcome, sessionOut(stored));
}

endpoint(
  monitorRoutes,
  "post",
  "/sessions",
  doc("Record a test session", SessionOut, { request: { body: json(SessionIn) } }),
  (c) => postSession(c),
);
endpoint(
  monitorRoutes,
  "post",
  "/sessions/:h",
  doc("Record a test session whose hash is in the path", SessionOut, { request: { body: json(SessionIn) } }),
  (c) => postSession(c, param(c, "h")),
);

async function postContext(c: C) {
  const input = parseInput(ContextIn, await readJson(c));
  const { outcome, stored } = await writeInProject(c.env, projectOf(c), (w) => createContext(w, input));
  return created(c, "Context", input.h, outcome, contextOut(stored));
}
endpoint(
  monitorRoutes,
  "post",
  "/contexts",
  doc("Record an execution context (a machine)", ContextOut, { request: { body: json(ContextIn) } }),
  postContext,
);
// The reference takes the same post on /contexts/<h> (the hash still comes from the body).
endpoint(
  monitorRoutes,
  "post",
  "/contexts/:h",
  doc("Record an execution context (the path's hash is not read)", ContextOut, { request: { body: json(ContextIn) } }),
  postContext,
);

endpoint(
  monitorRoutes,
  "post",
  "/metrics",
  doc(`Record one metric, or an array of up to ${METRICS_PER_POST} (all or nothing)`, MetricOut, {
    request: { body: json(z.union([MetricIn, MetricsIn])) },
  }),
  async (c) => {
    const body = await readJson(c, { maxBytes: 4 * 1024 * 1024 });
    const bulk = Array.isArray(body);
    const input = bulk ? parseInput(MetricsIn, body) : [parseInput(MetricIn, body)];
    const result = await writeInProject(c.env, projectOf(c), (w) => createMetrics(w, input));
    if (result.outcome === "conflict") {
      const where = bulk ? ` (item ${result.index})` : "";
      throw errors.conflict(
        `A different metric with the same session, start time, path, variant and kind is stored already${where}`,
      );
    }
    const status = result.outcome === "created" ? 201 : 200;
    return bulk ? c.json({ count: input.length }, status) : c.json(input[0], status);
  },
);

// ─── Sessions ───────────────────────────────────────────────────────────────

/** `with_flags=a,b&restrict_flags=v1,v2&method=match_any|…`, flags and values paired by position. */
function flagFilter(c: C) {
  // `with_tags` is what the reference's client library sends for `with_flags`.
  const names = (c.req.query("with_flags") ?? c.req.query("with_tags") ?? "").split(",").map((x) => x.trim());
  const values = (c.req.query("restrict_flags") ?? "").split(",").map((x) => x.trim());
  if (names.length > FLAGS_MAX || values.length > FLAGS_MAX) {
    const field = names.length > FLAGS_MAX ? "with_flags" : "restrict_flags";
    throw errors.badRequest(`Too many flags: at most ${FLAGS_MAX}`, {
      [field]: `at most ${FLAGS_MAX} comma-separated names`,
    });
  }
  const flags = names.flatMap((name, i) => (name ? [{ name, value: values[i] ? values[i] : null }] : []));
  return { flags, any: (c.req.query("method") ?? "match_any") === "match_any" };
}

get("/sessions", doc("List sessions, optionally filtered by description flags", SessionsPage), (c, q) => {
  const { flags, any } = flagFilter(c);
  return sendPage(c, q, "sessions", flags.length ? sessions.withFlags(q, flags, any) : sessions.all(q));
});
get("/sessions/count", doc("Number of sessions", Count), (c, q) => count(c, q, sessions.all(q)));
get("/sessions/:h/metrics", doc("Metrics of a session", MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.session(q.project, param(c, "h"))),
);
get("/sessions/:h/metrics/count", doc("Number of metrics of a session", Count), (c, q) =>
  metricsCount(c, q, metricScopes.session(q.project, param(c, "h"))),
);
get("/sessions/:prefix", doc("Sessions whose hash starts with a prefix", SessionsPage), (c, q) =>
  sendPage(c, q, "sessions", sessions.withPrefix(q, param(c, "prefix"))),
);

// ─── Contexts ───────────────────────────────────────────────────────────────

get("/contexts", doc("List execution contexts", ContextsPage), (c, q) => sendPage(c, q, "contexts", contexts.all(q)));
get("/contexts/count", doc("Number of contexts", Count), (c, q) => count(c, q, contexts.all(q)));
get("/contexts/:h/metrics", doc("Metrics run on a context", MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.context(param(c, "h"))),
);
get("/contexts/:h/metrics/count", doc("Number of metrics run on a context", Count), (c, q) =>
  metricsCount(c, q, metricScopes.context(param(c, "h"))),
);
get(
  "/contexts/:prefix",
  doc("Contexts whose hash starts with a prefix (the plugin's existence check)", ContextsPage),
  async (c, q) => {
    const prefix = param(c, "prefix");
    // The plugin's first call (`GET /contexts/<h>`): one indexed lookup.
    if (c.req.query("page") !== undefined || c.req.query("cursor") !== undefined || c.req.raw.body) {
      return sendPage(c, q, "contexts", contexts.withPrefix(q, prefix));
    }
    // A first page that is not full needs no count: its rows are all there is.
    const size = pageSize(c);
    const [found] = await q.db.batch([contexts.prefixHead(q, prefix, size + 1)]);
    if (found.length > size) return sendPage(c, q, "contexts", contexts.withPrefix(q, prefix));
    if (found.length === 0) return c.body(null, 204);
    return c.json({ contexts: found.map(contextOut), total_page: 1 });
  },
);

// ─── Metrics by item, variant, SCM reference, scope ─────────────────────────

get("/metrics", doc("List all metrics", MetricsPage), (c, q) => sendPage(c, q, "metrics", metrics.all(q)));
get("/metrics/count", doc("Number of metrics", Count), (c, q) => count(c, q, metrics.all(q)));

for (const [what, exact, like] of [
  ["items", (_p: string, x: string) => metricScopes.item(x), metricScopes.itemLike],
  ["variants", (_p: string, x: string) => metricScopes.variant(x), metricScopes.variantLike],
] as const) {
  get(
    `/${what}/like/:text/metrics`,
    doc(`Metrics whose ${what.slice(0, -1)} contains a text (literally)`, MetricsPage),
    (c, q) => metricsPage(c, q, like(q.project, param(c, "text"))),
  );
  get(
    `/${what}/like/:text/metrics/count`,
    doc(`Number of metrics whose ${what.slice(0, -1)} contains a text`, Count),
    (c, q) => metricsCount(c, q, like(q.project, param(c, "text"))),
  );
  get(`/${what}/:name/metrics`, doc(`Metrics of one ${what.slice(0, -1)}`, MetricsPage), (c, q) =>
    metricsPage(c, q, exact(q.project, param(c, "name"))),
  );
  get(`/${what}/:name/metrics/count`, doc(`Number of metrics of one ${what.slice(0, -1)}`, Count), (c, q) =>
    metricsCount(c, q, exact(q.project, param(c, "name"))),
  );
}

get("/filters/scm/:ref/sessions", doc("Sessions whose SCM reference starts with ref", SessionsPage), (c, q) =>
  sendPage(c, q, "sessions", sessions.withScmPrefix(q, param(c, "ref"))),
);
get("/filters/scm/:ref/metrics", doc("Metrics of those sessions", MetricsPage), (c, q) =>
  sendPage(c, q, "metrics", metrics.ofScm(q, param(c, "ref"))),
);
get("/filters/scm/:ref/metrics/count", doc("Number of metrics of those sessions", Count), (c, q) =>
  metricsCount(c, q, metricScopes.scm(q.project, param(c, "ref"))),
);
get("/filters/scope/:kind/metrics", doc("Metrics of a kind (function, module, package…)", MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.kind(param(c, "kind"))),
);
get("/filters/scope/:kind/metrics/count", doc("Number of metrics of a kind", Count), (c, q) =>
  metricsCount(c, q, metricScopes.kind(param(c, "kind"))),
);

// ─── Components ─────────────────────────────────────────────────────────────

get("/components", doc("Distinct component names", NamesPage("components")), (c, q) =>
  sendPage(c, q, "components", components.list(q)),
);
get("/components/count", doc("Number of components", Count), (c, q) => count(c, q, components.list(q)));
get("/components/metrics", doc('Metrics of the unnamed component ("")', MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.component("")),
);
get("/components/items/:item/metrics", doc('Metrics of an item of the unnamed component ("")', MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.componentItem("", param(c, "item"))),
);
get("/components/variants/:v/metrics", doc('Metrics of a variant of the unnamed component ("")', MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.componentVariant("", param(c, "v"))),
);
get("/components/:c/metrics", doc("Metrics of a component", MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.component(param(c, "c"))),
);
get("/components/:c/items/:item/metrics", doc("Metrics of an item of a component", MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.componentItem(param(c, "c"), param(c, "item"))),
);
get("/components/:c/variants/:v/metrics", doc("Metrics of a variant of a component", MetricsPage), (c, q) =>
  metricsPage(c, q, metricScopes.componentVariant(param(c, "c"), param(c, "v"))),
);

// ─── Pipelines and builds (description.pipeline_branch / pipeline_build_no) ─

get(
  "/pipelines",
  doc(
    "Pipelines, in order of first appearance (204 when there are none)",
    z.object({ pipelines: z.array(z.string()) }),
  ),
  async (c, q) => {
    const [rows] = await q.db.batch([pipelines.all(q)]);
    return rows.length ? c.json({ pipelines: rows.map((r) => r.name) }) : c.body(null, 204);
  },
);
get(
  "/components/:c/pipelines",
  doc(
    "Pipelines whose sessions have metrics of a component",
    z.object({ component: z.string(), pipelines: z.array(z.string()), ...links }),
  ),
  (c, q) => sendPage(c, q, "pipelines", pipelines.ofComponent(q, param(c, "c")), { component: param(c, "c") }),
);
for (const scope of ["", "/components/:c"]) {
  const component = (c: C) => (scope ? param(c, "c") : undefined);
  const envelope = (c: C, extra: Envelope) => ({
    ...(scope ? { component: param(c, "c") } : {}),
    pipeline: param(c, "p"),
    ...extra,
  });
  const componentKey = scope ? { component: z.string() } : {};
  get(
    `${scope}/pipelines/:p/builds`,
    doc(
      "Builds of a pipeline",
      z.object({ ...componentKey, pipeline: z.string(), builds: z.array(z.string()), ...links }),
    ),
    (c, q) => sendPage(c, q, "builds", pipelines.builds(q, param(c, "p"), component(c)), envelope(c, {})),
  );
  get(
    `${scope}/pipelines/:p/builds/:b/sessions`,
    doc(
      "Hashes of the sessions of a build",
      z.object({ ...componentKey, pipeline: z.string(), build: z.string(), sessions: z.array(z.string()), ...links }),
    ),
    (c, q) =>
      sendPage(
        c,
        q,
        "sessions",
        sessions.inBuild(q, param(c, "p"), param(c, "b"), component(c)),
        envelope(c, { build: param(c, "b") }),
      ),
  );
}

get("/components/:prefix", doc("Component names starting with a prefix", NamesPage("components")), (c, q) =>
  sendPage(c, q, "components", components.list(q, param(c, "prefix"))),
);

// ─── Resources: the n highest (head) or lowest (tail) metrics ───────────────

/** Scopes come after the resource, as in the reference: `/resources/<r>/components/<c>/head/metrics`. */
const resourceScopes: Array<[string, (c: C, project: string) => MetricScope]> = [
  ["", () => metricScopes.all()],
  ["/components/:c", (c) => metricScopes.component(param(c, "c"))],
  ["/pipelines/:p", (c, p) => metricScopes.pipeline(p, param(c, "p"))],
  ["/pipelines/:p/builds/:b", (c, p) => metricScopes.pipeline(p, param(c, "p"), param(c, "b"))],
];
const MAX_EXTREMES = 500;

function resourceOf(c: C): Resource {
  const r = param(c, "r");
  if (!(RESOURCES as readonly string[]).includes(r)) {
    throw new ApiError("validation", `Unknown resource '${r}': use one of ${RESOURCES.join(", ")}`, {
      fields: { resource: `one of ${RESOURCES.join(", ")}` },
    });
  }
  return r as Resource;
}

function countOf(c: C): number {
  const raw = c.req.param("n");
  if (raw === undefined) return 10;
  const n = parseInteger(raw);
  if (n === null || n < 1) throw errors.badRequest("n must be a positive integer", { n: "must be a positive integer" });
  return Math.min(n, MAX_EXTREMES);
}

for (const [scope, where] of resourceScopes) {
  for (const path of [
    `/resources/:r${scope}/:end{head|tail}/metrics`,
    `/resources/:r${scope}/:end{head|tail}/:n/metrics`,
  ]) {
    get(
      path,
      doc(
        "Metrics with the highest (head) or lowest (tail) memory, cpu, kernel_time, user_time or total_time",
        z.object({ metrics: z.array(MetricOut) }),
      ),
      async (c, q) => {
        const rows = await extremes(
          q,
          resourceOf(c),
          param(c, "end") as "head" | "tail",
          countOf(c),
          where(c, q.project),
        );
        return c.json({ metrics: rows });
      },
    );
  }
}

registerRegressionRoutes(monitorRoutes);
refuseOtherMethods(monitorRoutes);
