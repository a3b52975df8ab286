import { z } from "zod";
import { caller, requireToken } from "../auth/middleware";
import { readableDatasets } from "../auth/store";
import { onlineDaemons } from "../daemon/store";
import { batchAll, database } from "../db/client";
import { endpoint, familyRouter } from "../http/app";
import { type LogRow, listPage, listQuery } from "../logs/store";
import { DEFAULT_PROJECT, existingMonitorProjects } from "../monitor/project-list";
import { newestSessionsQueries } from "../scheduler/store";
import { alarmOverview } from "../telemetry/alarms/overview";

/**
 * The dashboard. Its page and script are static assets under /dashboard/
 * (public/, built by scripts/build-dashboard.mjs); every view reads the families' own
 * JSON APIs. What no family API answers is served here, read through the families'
 * stores: which daemons are online across users, and what a view opens on before a
 * person names anything (recent logs of the token's datasets, its projects' sessions).
 */
export const dashboardRoutes = familyRouter();

const tags = ["dashboard"];
/** At most this many online daemons, and abnormal tags, in one answer: a screenful, not a scan. */
const DAEMONS_SHOWN = 200;
const TAGS_SHOWN = 1000;

const toDashboard = {
  tags,
  summary: "The dashboard (a redirect to /dashboard/)",
  security: [],
  responses: { 302: { description: "to /dashboard/" } },
};
endpoint(dashboardRoutes, "get", "/", toDashboard, (c) => c.redirect("/dashboard/", 302));
endpoint(dashboardRoutes, "get", "/dashboard", toDashboard, (c) => c.redirect("/dashboard/", 302));

const DaemonRow = z.object({
  user: z.string(),
  daemon_id: z.string(),
  online: z.boolean(),
  since: z.string().nullable().describe("when it last came online"),
  last_beat: z.string().nullable(),
  entrypoints: z.array(z.string()),
  abnormal_tags: z.array(z.object({ tag: z.string(), since: z.string() })),
});

endpoint(
  dashboardRoutes,
  "get",
  "/dashboard/api/daemons",
  {
    tags,
    summary: "Daemons online now (admins: every user's; others: their own), with entrypoints and abnormal tags",
    responses: {
      200: {
        description: "OK",
        content: { "application/json": { schema: z.object({ daemons: z.array(DaemonRow) }) } },
      },
    },
  },
  requireToken(),
  async (c) => {
    const me = caller(c);
    const presence = c.env.DAEMON_PRESENCE;
    const list = await onlineDaemons(
      database(c.env),
      { user: me.role === "admin" ? null : me.user, limit: DAEMONS_SHOWN, tagLimit: TAGS_SHOWN },
      (daemonId) => presence.get(presence.idFromName(daemonId)).view(),
    );
    return c.json({ daemons: list });
  },
);

/** What the logs view opens on: at most this many logs, newest first. */
const LOGS_SHOWN = 50;
/** A user's datasets: the newest this many access records are searched, this many kept, this many logs of each read. */
const ACCESS_SCANNED = 1000;
const DATASETS_SHOWN = 20;
const LOGS_PER_DATASET = 10;

const RecentLog = z.object({
  log_id: z.string(),
  name: z.string().nullable(),
  dataset_id: z.string().nullable(),
  task_id: z.string().nullable(),
  timestamp: z.string(),
  body_bytes: z.number(),
});
const recentLog = (r: LogRow) => ({
  log_id: r.logId,
  name: r.name,
  dataset_id: r.datasetId,
  task_id: r.taskId,
  timestamp: r.timestamp,
  body_bytes: r.bodyBytes,
});

endpoint(
  dashboardRoutes,
  "get",
  "/dashboard/api/logs",
  {
    tags,
    summary: `Recent logs the token may read, newest first (at most ${LOGS_SHOWN}): admins and system tokens every log; users those of datasets whose access record names them or a group of theirs`,
    responses: {
      200: {
        description: "OK",
        content: {
          "application/json": {
            schema: z.object({
              datasets: z
                .array(z.string())
                .nullable()
                .describe("the user's readable datasets searched; null: every log"),
              logs: z.array(RecentLog),
            }),
          },
        },
      },
    },
  },
  requireToken(),
  async (c) => {
    const me = caller(c);
    const db = database(c.env);
    const quiet = { order: "desc", withData: false } as const;
    if (me.role !== "user") {
      const rows = await listPage(db, quiet, null, LOGS_SHOWN);
      return c.json({ datasets: null, logs: rows.map(recentLog) });
    }
    const datasets = await readableDatasets(db, me, { scan: ACCESS_SCANNED, limit: DATASETS_SHOWN });
    const pages = await batchAll(
      db,
      datasets.map((d) => listQuery(db, { ...quiet, datasetId: d }, null, LOGS_PER_DATASET)),
    );
    const rows = pages.flat().sort((a, b) => b.timestamp.localeCompare(a.timestamp));
    return c.json({ datasets, logs: rows.slice(0, LOGS_SHOWN).map(recentLog) });
  },
);

/** What the scheduler view opens on: at most this many sessions, of at most this many of the token's projects. */
const SESSIONS_SHOWN = 50;
const PROJECTS_SHOWN = 20;

endpoint(
  dashboardRoutes,
  "get",
  "/dashboard/api/sessions",
  {
    tags,
    summary: `The newest scheduler sessions the token may see (at most ${SESSIONS_SHOWN}): admins every project's, others their projects' (the first ${PROJECTS_SHOWN})`,
    responses: {
      200: {
        description: "OK",
        content: {
          "application/json": {
            schema: z.object({
              projects: z.array(z.string()).nullable().describe("the projects read; null: every project"),
              sessions: z.array(
                z.object({ project_id: z.string() }).passthrough().describe("the Freezer session document"),
              ),
            }),
          },
        },
      },
    },
  },
  requireToken(),
  async (c) => {
    const me = caller(c);
    const db = database(c.env);
    const projects = me.role === "admin" ? null : me.projects.slice(0, PROJECTS_SHOWN);
    const pages = await batchAll(db, newestSessionsQueries(db, projects, SESSIONS_SHOWN));
    const rows = pages
      .flat()
      .sort((a, b) => b.seq - a.seq)
      .slice(0, SESSIONS_SHOWN);
    return c.json({ projects, sessions: rows.map((r) => ({ ...r.doc, project_id: r.projectId })) });
  },
);

/**
 * The test-runs view's project picker: at most this many projects (an admin's: the first by name; a user's: the first
 * of its token).
 */
const MONITOR_PROJECTS_SHOWN = 200;

endpoint(
  dashboardRoutes,
  "get",
  "/dashboard/api/monitor-projects",
  {
    tags,
    summary: `The test-run monitor projects the token may pick (at most ${MONITOR_PROJECTS_SHOWN}): admins every project that has data, first by name; users their token's projects, marked whether the monitor has data in them`,
    responses: {
      200: {
        description: "OK",
        content: {
          "application/json": {
            schema: z.object({
              projects: z.array(z.object({ name: z.string(), has_data: z.boolean() })),
              default: z.string().nullable().describe("the project the view opens on; null: the token has none"),
              limit: z.number().describe("at most this many projects are listed"),
            }),
          },
        },
      },
    },
  },
  requireToken(),
  async (c) => {
    const me = caller(c);
    const mine = me.role === "admin" ? null : me.projects.slice(0, MONITOR_PROJECTS_SHOWN);
    // Admins: every shard in parallel, merged by name; users: their projects on their shards.
    const existing = await existingMonitorProjects(c.env, mine, MONITOR_PROJECTS_SHOWN);
    const withData = new Set(existing);
    const projects = (mine ?? existing).map((name) => ({ name, has_data: withData.has(name) }));
    // Admin: `default` (where its plain /api/v1 works) unless other projects exist without it;
    // user: its first project with data, else its first.
    const opening =
      mine === null
        ? withData.has(DEFAULT_PROJECT) || !existing.length
          ? DEFAULT_PROJECT
          : existing[0]
        : (existing[0] ?? mine[0] ?? null);
    return c.json({ projects, default: opening, limit: MONITOR_PROJECTS_SHOWN });
  },
);

endpoint(
  dashboardRoutes,
  "get",
  "/dashboard/api/alarms",
  {
    tags,
    summary: "Telemetry alarms in the token's projects: state, condition and last transitions (docs/api/alarms.md)",
  },
  requireToken(),
  async (c) => {
    const me = caller(c);
    return c.json({ alarms: await alarmOverview(c.env.DB, me.role === "admin" ? null : me.projects) });
  },
);
