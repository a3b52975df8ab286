import { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { HTTPException } from "hono/http-exception";
import pkg from "../package.json";
import { authRoutes } from "./auth/routes";
import type { AppEnv } from "./http/app";
import { ApiError, DialectTable, errors, plainDialect, renderError } from "./http/errors";
import { d1CostReport } from "./http/d1-cost";
import { requestId } from "./http/observe";
import { dashboardRoutes } from "./dashboard/routes";
import { daemonDialect } from "./daemon/dialect";
import { daemonRoutes } from "./daemon/routes";
import { logsDialect } from "./logs/dialect";
import { logsRoutes } from "./logs/routes";
import { monitorDialect } from "./monitor/dialect";
import { monitorRoutes } from "./monitor/routes";
import { schedulerDialect } from "./scheduler/dialect";
import { schedulerRoutes } from "./scheduler/routes";
import { telemetryDialect } from "./telemetry/dialect";
import { telemetryRoutes } from "./telemetry/routes";
import { scheduled } from "./telemetry/archive-cron";

const app = new OpenAPIHono<AppEnv>({ strict: false });

/** Which family words the error of a request, by path. */
const dialects = new DialectTable()
  .add(/^\/api\/v1(\/|$)/, monitorDialect)
  .add(/^\/v2\/(samples|meters)(\/|$)/, telemetryDialect)
  .add(/^\/(v2\/[^/]+\/(sessions|jobs)|v3)(\/|$)/, schedulerDialect)
  .add(/^\/(daemon|heartbeat)(\/|$)/, daemonDialect)
  .add(/^\/(logs|datasets)(\/|$)/, logsDialect)
  .add(/^\/auth(\/|$)/, plainDialect);

app.use(requestId, d1CostReport);

app.get("/health", (c) => c.json({ status: "ok", version: pkg.version }));

app.route("/auth", authRoutes);
app.route("/api/v1", monitorRoutes);
// Telemetry before the scheduler: `/v2/meters/x` must not be read as project "meters".
app.route("/v2", telemetryRoutes);
// The scheduler router holds `/v2/:project_id/sessions|jobs` and the Keystone shim `/v3`.
app.route("/", schedulerRoutes);
app.route("/", daemonRoutes);
app.route("/", logsRoutes);
// The dashboard's page is a static asset (wrangler.toml [assets]); this adds `/` and its daemon list.
app.route("/", dashboardRoutes);

app.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: { title: "OpsHub", version: pkg.version, description: "Operations telemetry: five APIs real tools already call." },
});
app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "OpsHub API" }));

app.notFound((c) => renderError(c, dialects.for(c.req.path), errors.notFound()));

app.onError((err, c) => {
  const dialect = dialects.for(c.req.path);
  if (err instanceof ApiError) return renderError(c, dialect, err);
  if (err instanceof HTTPException && err.status < 500) {
    return renderError(c, dialect, new ApiError("other", err.message, { status: err.status as 400 }));
  }
  console.error(JSON.stringify({ requestId: c.var.requestId, error: String(err), stack: (err as Error)?.stack }));
  return renderError(c, dialect, new ApiError("other", "internal error", { status: 500 }));
});

/** HTTP and the telemetry archive cron; `app` stays importable for tests. */
export { app };
export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;
export { SessionTagCounter } from "./scheduler/session-tag-counter";
export { DaemonPresence } from "./daemon/presence";
