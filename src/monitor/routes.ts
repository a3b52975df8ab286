import type { Context } from "hono";
import { database, type Database } from "../db/client";
import { endpoint, familyRouter, param, refuseOtherMethods, type AppEnv, type EndpointDoc } from "../http/app";
import { requireToken } from "../http/auth";
import { parseInput, readJson } from "../http/body";
import { ApiError, errors } from "../http/errors";
import { pageCount, parseInteger, relativeLink, resolvePage } from "../http/paging";
import {
  ContextIn,
  ContextOut,
  Count,
  Description,
  MetricIn,
  MetricOut,
  MetricsIn,
  METRICS_PER_POST,
  pageOf,
  RESOURCES,
  SessionIn,
  SessionOut,
  type Resource,
} from "./schemas";
import {
  components,
  contextOut,
  contexts,
  createContext,
  createMetrics,
  createSession,
  extremes,
  metricScopes,
  metrics,
  pipelines,
  sessionOut,
  sessions,
  type Listing,
  type MetricScope,
} from "./store";
import { z } from "zod";
import { metricsAsCsv } from "./csv";
import { registerRegressionRoutes } from "./regressions-routes";

/** pytest-monitor's remote server (spec/monitor.md), mounted at /api/v1. Any token reads and writes. */
export const monitorRoutes = familyRouter();
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
const get = (path: string, d: EndpointDoc, handler: (c: C, db: Database) => Promise<Response>) =>
  endpoint(monitorRoutes, "get", path, d, (c) => handler(c, database(c.env)));

// ─── Paging (spec: "Pagination") ────────────────────────────────────────────

/**
 * One page of a listing: `?page=N` (1-based, negative from the end), 204 for an
 * empty first page, 404 past the end, relative links that keep the other arguments.
 * The component and pipeline lists send null links instead of omitting them.
 */
async function sendPage<T>(c: C, key: string, listing: Listing<T>, nullLinks = false) {
  const size = Math.max(1, parseInteger(c.env.MONITOR_PAGE_SIZE) ?? 500);
  const raw = c.req.query("page");
  const requested = raw === undefined ? 1 : parseInteger(raw);
  if (requested === null) throw errors.badRequest("page must be an integer", { page: "must be an integer" });
  const total = await listing.count();
  if (total === 0 && (requested === 1 || requested === -1)) return c.body(null, 204);
  const pages = pageCount(total, size);
  const page = resolvePage(requested, pages);
  if (page === null) throw errors.notFound(`Page ${requested} does not exist: there are ${pages} page(s).`);
  const items = await listing.page((page - 1) * size, size);
  const url = new URL(c.req.url);
  const body: Record<string, unknown> = { [key]: items, total_page: pages };
  if (page > 1) body.prev_url = relativeLink(url, { page: page - 1 });
  else if (nullLinks) body.prev_url = null;
  if (page < pages) body.next_url = relativeLink(url, { page: page + 1 });
  else if (nullLinks) body.next_url = null;
  return c.json(body);
}

const count = async (c: C, n: Promise<number>) => c.json({ count: await n });
const metricsPage = (c: C, db: Database, scope: MetricScope) => sendPage(c, "metrics", metrics.in(db, scope));
const metricsCount = (c: C, db: Database, scope: MetricScope) => count(c, metrics.in(db, scope).count());

const SessionsPage = pageOf("sessions", SessionOut);
const ContextsPage = pageOf("contexts", ContextOut);
const MetricsPage = pageOf("metrics", MetricOut);
const NamesPage = (key: string) =>
  z.object({ [key]: z.array(z.string()), total_page: z.number(), prev_url: z.string().nullable(), next_url: z.string().nullable() });

// ─── Writes ─────────────────────────────────────────────────────────────────

/** Answers a create: 201 new, 200 when the same record was stored before, 409 when a different one was. */
function created<T>(c: C, what: string, key: string, outcome: "created" | "identical" | "conflict", body: T) {
  if (outcome === "conflict") throw errors.conflict(`${what} ${key} already exists with different content`);
  return c.json(body as object, outcome === "created" ? 201 : 200);
}

endpoint(monitorRoutes, "post", "/sessions", doc("Record a test session", SessionOut, { request: { body: json(SessionIn) } }), async (c) => {
  const body = await readJson(c);
  const input = parseInput(SessionIn, body);
  if (!Object.hasOwn(body as object, "description")) {
    throw errors.badRequest("Input payload validation failed", { description: "Missing required parameter" });
  }
  const description = Description.safeParse(input.description);
  if (!description.success || Array.isArray(input.description)) throw errors.badRequest("Bad description format");
  const { outcome, stored } = await createSession(database(c.env), { ...input, description: description.data });
  return created(c, "Session", input.session_h, outcome, sessionOut(stored));
});

endpoint(monitorRoutes, "post", "/contexts", doc("Record an execution context (a machine)", ContextOut, { request: { body: json(ContextIn) } }), async (c) => {
  const input = parseInput(ContextIn, await readJson(c));
  const { outcome, stored } = await createContext(database(c.env), input);
  return created(c, "Context", input.h, outcome, contextOut(stored));
});

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
    const result = await createMetrics(database(c.env), input);
    if (result.outcome === "conflict") {
      const where = bulk ? ` (item ${result.index})` : "";
      throw errors.conflict(`A different metric with the same session, start time, path, variant and kind is stored already${where}`);
    }
    const status = result.outcome === "created" ? 201 : 200;
    return bulk ? c.json({ count: input.length }, status) : c.json(input[0], status);
  },
);

// ─── Sessions ───────────────────────────────────────────────────────────────

/** `with_flags=a,b&restrict_flags=v1,v2&method=match_any|…`, flags and values paired by position. */
function flagFilter(c: C) {
  const names = (c.req.query("with_flags") ?? "").split(",").map((x) => x.trim());
  const values = (c.req.query("restrict_flags") ?? "").split(",").map((x) => x.trim());
  const flags = names.flatMap((name, i) => (name ? [{ name, value: values[i] ? values[i] : null }] : []));
  return { flags, any: (c.req.query("method") ?? "match_any") === "match_any" };
}

get("/sessions", doc("List sessions, optionally filtered by description flags", SessionsPage), (c, db) => {
  const { flags, any } = flagFilter(c);
  return sendPage(c, "sessions", flags.length ? sessions.withFlags(db, flags, any) : sessions.all(db));
});
get("/sessions/count", doc("Number of sessions", Count), (c, db) => count(c, sessions.all(db).count()));
get("/sessions/:h/metrics", doc("Metrics of a session", MetricsPage), (c, db) => metricsPage(c, db, metricScopes.session(param(c, "h"))));
get("/sessions/:h/metrics/count", doc("Number of metrics of a session", Count), (c, db) => metricsCount(c, db, metricScopes.session(param(c, "h"))));
get("/sessions/:prefix", doc("Sessions whose hash starts with a prefix", SessionsPage), (c, db) =>
  sendPage(c, "sessions", sessions.withPrefix(db, param(c, "prefix"))),
);

// ─── Contexts ───────────────────────────────────────────────────────────────

get("/contexts", doc("List execution contexts", ContextsPage), (c, db) => sendPage(c, "contexts", contexts.all(db)));
get("/contexts/count", doc("Number of contexts", Count), (c, db) => count(c, contexts.all(db).count()));
get("/contexts/:h/metrics", doc("Metrics run on a context", MetricsPage), (c, db) => metricsPage(c, db, metricScopes.context(param(c, "h"))));
get("/contexts/:h/metrics/count", doc("Number of metrics run on a context", Count), (c, db) => metricsCount(c, db, metricScopes.context(param(c, "h"))));
get("/contexts/:prefix", doc("Contexts whose hash starts with a prefix (the plugin's existence check)", ContextsPage), (c, db) =>
  sendPage(c, "contexts", contexts.withPrefix(db, param(c, "prefix"))),
);

// ─── Metrics by item, variant, SCM reference, scope ─────────────────────────

get("/metrics", doc("List all metrics", MetricsPage), (c, db) => sendPage(c, "metrics", metrics.all(db)));
get("/metrics/count", doc("Number of metrics", Count), (c, db) => count(c, metrics.all(db).count()));

for (const [what, exact, like] of [
  ["items", metricScopes.item, metricScopes.itemLike],
  ["variants", metricScopes.variant, metricScopes.variantLike],
] as const) {
  get(`/${what}/like/:text/metrics`, doc(`Metrics whose ${what.slice(0, -1)} contains a text (literally)`, MetricsPage), (c, db) =>
    metricsPage(c, db, like(param(c, "text"))),
  );
  get(`/${what}/like/:text/metrics/count`, doc(`Number of metrics whose ${what.slice(0, -1)} contains a text`, Count), (c, db) =>
    metricsCount(c, db, like(param(c, "text"))),
  );
  get(`/${what}/:name/metrics`, doc(`Metrics of one ${what.slice(0, -1)}`, MetricsPage), (c, db) => metricsPage(c, db, exact(param(c, "name"))));
  get(`/${what}/:name/metrics/count`, doc(`Number of metrics of one ${what.slice(0, -1)}`, Count), (c, db) =>
    metricsCount(c, db, exact(param(c, "name"))),
  );
}

get("/filters/scm/:ref/sessions", doc("Sessions whose SCM reference starts with ref", SessionsPage), (c, db) =>
  sendPage(c, "sessions", sessions.withScmPrefix(db, param(c, "ref"))),
);
get("/filters/scm/:ref/metrics", doc("Metrics of those sessions", MetricsPage), (c, db) => metricsPage(c, db, metricScopes.scm(db, param(c, "ref"))));
get("/filters/scm/:ref/metrics/count", doc("Number of metrics of those sessions", Count), (c, db) =>
  metricsCount(c, db, metricScopes.scm(db, param(c, "ref"))),
);
get("/filters/scope/:kind/metrics", doc("Metrics of a kind (function, module, package…)", MetricsPage), (c, db) =>
  metricsPage(c, db, metricScopes.kind(param(c, "kind"))),
);
get("/filters/scope/:kind/metrics/count", doc("Number of metrics of a kind", Count), (c, db) => metricsCount(c, db, metricScopes.kind(param(c, "kind"))));

// ─── Components ─────────────────────────────────────────────────────────────

get("/components", doc("Distinct component names", NamesPage("components")), (c, db) => sendPage(c, "components", components.list(db), true));
get("/components/count", doc("Number of components", Count), (c, db) => count(c, components.count(db)));
get("/components/metrics", doc('Metrics of the unnamed component ("")', MetricsPage), (c, db) => metricsPage(c, db, metricScopes.component("")));
get("/components/:c/metrics", doc("Metrics of a component", MetricsPage), (c, db) => metricsPage(c, db, metricScopes.component(param(c, "c"))));
get("/components/:c/items/:item/metrics", doc("Metrics of an item of a component", MetricsPage), (c, db) =>
  metricsPage(c, db, metricScopes.componentItem(param(c, "c"), param(c, "item"))),
);
get("/components/:c/variants/:v/metrics", doc("Metrics of a variant of a component", MetricsPage), (c, db) =>
  metricsPage(c, db, metricScopes.componentVariant(param(c, "c"), param(c, "v"))),
);

// ─── Pipelines and builds (description.pipeline_branch / pipeline_build_no) ─

for (const scope of ["", "/components/:c"]) {
  const component = (c: C) => (scope ? param(c, "c") : undefined);
  get(`${scope}/pipelines`, doc("Pipelines, in order of first appearance", z.object({ pipelines: z.array(z.string()) })), async (c, db) =>
    c.json({ pipelines: await pipelines.list(db, component(c)) }),
  );
  get(`${scope}/pipelines/:p/builds`, doc("Builds of a pipeline", NamesPage("builds")), (c, db) =>
    sendPage(c, "builds", pipelines.builds(db, param(c, "p"), component(c)), true),
  );
  get(`${scope}/pipelines/:p/builds/:b/sessions`, doc("Sessions of a build", SessionsPage), (c, db) =>
    sendPage(c, "sessions", sessions.inBuild(db, param(c, "p"), param(c, "b"), component(c))),
  );
}

get("/components/:prefix", doc("Component names starting with a prefix", NamesPage("components")), (c, db) =>
  sendPage(c, "components", components.list(db, param(c, "prefix")), true),
);

// ─── Resources: the n highest (head) or lowest (tail) metrics ───────────────

const resourceScopes: Array<[string, (c: C, db: Database) => MetricScope]> = [
  ["", () => metricScopes.all()],
  ["/components/:c", (c) => metricScopes.component(param(c, "c"))],
  ["/pipelines/:p", (c, db) => metricScopes.pipeline(db, param(c, "p"))],
  ["/pipelines/:p/builds/:b", (c, db) => metricScopes.pipeline(db, param(c, "p"), param(c, "b"))],
];
const MAX_EXTREMES = 500;

function resourceOf(c: C): Resource {
  const r = param(c, "r");
  if (!(RESOURCES as readonly string[]).includes(r)) {
    throw new ApiError("validation", `Unknown resource '${r}': use one of ${RESOURCES.join(", ")}`, { fields: { resource: `one of ${RESOURCES.join(", ")}` } });
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
  for (const path of [`${scope}/resources/:r/:end{head|tail}/metrics`, `${scope}/resources/:r/:end{head|tail}/:n/metrics`]) {
    get(path, doc("Metrics with the highest (head) or lowest (tail) memory, cpu, kernel_time, user_time or total_time", z.object({ metrics: z.array(MetricOut) })), async (c, db) => {
      const rows = await extremes(db, resourceOf(c), param(c, "end") as "head" | "tail", countOf(c), where(c, db));
      return c.json({ metrics: rows });
    });
  }
}

registerRegressionRoutes(monitorRoutes);
refuseOtherMethods(monitorRoutes);
