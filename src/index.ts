import { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import pkg from "../package.json";
import { shardRoutes } from "./admin/shards";
import { authRoutes } from "./auth/routes";
import { daemonDialect } from "./daemon/dialect";
import { daemonRoutes } from "./daemon/routes";
import { dashboardRoutes } from "./dashboard/routes";
import { d1CostReport, serverTiming } from "./http/d1-cost";
import type { AppEnv } from "./http/env";
import { ApiError, DialectTable, errors, plainDialect, renderError } from "./http/errors";
import { logFailure, requestId } from "./http/observe";
import { logsDialect } from "./logs/dialect";
import { logsRoutes } from "./logs/routes";
import { monitorDialect } from "./monitor/dialect";
import { monitorIndexPage } from "./monitor/index-page";
import { monitorRoutes } from "./monitor/routes";
import { schedulerDialect } from "./scheduler/dialect";
import { schedulerRoutes } from "./scheduler/routes";
import { alarmsDialect } from "./telemetry/alarms/dialect";
import { ALARM_CRON, alarmScheduled } from "./telemetry/alarms/evaluator";
import { alarmQueryRoutes, alarmRoutes } from "./telemetry/alarms/routes";
import { scheduled } from "./telemetry/archive-cron";
import { telemetryDialect } from "./telemetry/dialect";
import { telemetryRoutes } from "./telemetry/routes";

const app = new OpenAPIHono<AppEnv>({ strict: false });

/** Which family words the error of a request, by path. */
const dialects = new DialectTable()
  .add(/^\/api\/v1(\/|$)/, monitorDialect)
  .add(/^\/projects\/[^/]+\/api\/v1(\/|$)/, monitorDialect)
  .add(/^\/v2\/(query\/)?alarms(\/|$)/, alarmsDialect)
  .add(/^\/v2\/(samples|meters)(\/|$)/, telemetryDialect)
  .add(/^\/(v2\/[^/]+\/(sessions|jobs)|v3)(\/|$)/, schedulerDialect)
  .add(/^\/(daemon|heartbeat)(\/|$)/, daemonDialect)
  // The DataHub daemon and web UI put `/api` before every path and read only `code`:
  // any other `/api/...` miss must still carry one.
  .add(/^\/api(\/|$)/, daemonDialect)
  .add(/^\/(logs|datasets)(\/|$)/, logsDialect)
  .add(/^\/auth(\/|$)/, plainDialect)
  .add(/^\/admin(\/|$)/, plainDialect);

app.use(requestId, serverTiming, d1CostReport);

app.get("/health", (c) => c.json({ status: "ok", version: pkg.version }));

/**
 * D1 reachable, and the newest migration it has: one primary-key read (the last row of
 * wrangler's `d1_migrations` table), no token, nothing about anyone's data. The
 * benchmark's floor: no route that touches D1 can be cheaper.
 */
app.get("/health/d1", async (c) => {
  const row = await c.env.DB.prepare("SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1").first<{
    name: string;
  }>();
  return c.json({ status: "ok", migration: row?.name ?? null });
});

app.route("/auth", authRoutes);
app.route("/admin/shards", shardRoutes);
app.route("/api/v1", monitorRoutes);
// The same API within a named project (docs/api/monitor.md, "Projects"); listed once in /openapi.json.
app.route("/projects/:project/api/v1", new Hono<AppEnv>().route("/", monitorRoutes));
// The reference server's welcome page with its counts (docs/api/monitor.md).
app.route("/", monitorIndexPage);
// Telemetry before the scheduler: `/v2/meters/x` must not be read as project "meters".
app.route("/v2", telemetryRoutes);
app.route("/v2/alarms", alarmRoutes);
app.route("/v2/query/alarms", alarmQueryRoutes);
// The scheduler router holds `/v2/:project_id/sessions|jobs` and the Keystone shim `/v3`.
app.route("/", schedulerRoutes);
app.route("/", daemonRoutes);
// Where the real daemon calls it: `$DATAHUB_SERVER/api/heartbeat` (see docs/api/daemon.md).
// Mounted through a plain Hono router, so /openapi.json lists these routes once (at "/")
// and says so in its description, rather than every path twice.
app.route("/api", new Hono<AppEnv>().route("/", daemonRoutes));
app.route("/", logsRoutes);
// The dashboard's page is a static asset (wrangler.toml [assets]); this adds `/` and its daemon list.
app.route("/", dashboardRoutes);

const openApiConfig = {
  openapi: "3.1.0",
  info: {
    title: "OpsHub",
    version: pkg.version,
    description:
      "Operations telemetry: five APIs real tools already call. The daemon registry's routes (/daemon/…, /heartbeat…) are also served under /api (e.g. POST /api/heartbeat), where the DataHub daemon and web UI call them; they are listed once, without the prefix.",
  },
};
/**
 * Built on the first request and kept for the isolate's life: routes do not change after startup, and a build takes
 * tens of ms.
 */
let openApiDocument: ReturnType<typeof app.getOpenAPI31Document> | undefined;
app.get("/openapi.json", (c) => {
  openApiDocument ??= app.getOpenAPI31Document(openApiConfig);
  return c.json(openApiDocument);
});
// The reference UI's script is our own static asset (scripts/build-dashboard.mjs copies the
// pinned @scalar/api-reference bundle), and it is told not to fetch web fonts: the page
// works offline and under a strict CSP. What needs Scalar's cloud is off: the "Ask AI"
// agent, the "Generate SDKs & MCP" card (mcp.disabled, showDeveloperTools "never"), the
// developer toolbar and telemetry. These are options of the pinned bundle; the types of
// @scalar/hono-api-reference lag behind it (no `mcp`), hence a spread, not a literal.
const offlineReference = {
  agent: { disabled: true },
  mcp: { disabled: true },
  showDeveloperTools: "never",
  telemetry: false,
} as const;
app.get(
  "/docs",
  Scalar({
    url: "/openapi.json",
    pageTitle: "OpsHub API",
    cdn: "/docs/assets/api-reference.js",
    withDefaultFonts: false,
    ...offlineReference,
  }),
);

app.notFound((c) => renderError(c, dialects.for(c.req.path), errors.notFound()));

app.onError((err, c) => {
  const dialect = dialects.for(c.req.path);
  if (err instanceof ApiError) return renderError(c, dialect, err);
  if (err instanceof HTTPException && err.status < 500) {
    return renderError(c, dialect, new ApiError("other", err.message, { status: err.status as 400 }));
  }
  logFailure(c, `${c.req.method} ${c.req.routePath}`, err);
  return renderError(c, dialect, new ApiError("other", "internal error", { status: 500 }));
});

/** HTTP, the telemetry archive cron and the alarm cron; `app` stays importable for tests. */
export { app };
export default {
  fetch: app.fetch,
  // Each Cron Trigger by its string (wrangler.toml): the alarm evaluator every minute, else the archive.
  scheduled: (controller, env, ctx) =>
    (controller.cron === ALARM_CRON ? alarmScheduled : scheduled)(controller, env, ctx),
} satisfies ExportedHandler<Env>;
export { DaemonPresence } from "./daemon/presence";
export { SessionTagCounter } from "./scheduler/session-tag-counter";
