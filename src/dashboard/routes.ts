import { z } from "zod";
import { onlineDaemons } from "../daemon/store";
import { database } from "../db/client";
import { endpoint, familyRouter } from "../http/app";
import { caller, requireToken } from "../http/auth";
import { alarmOverview } from "../telemetry/alarms/overview";

/**
 * The dashboard. Its page and script are static assets under /dashboard/
 * (public/, built by scripts/build-dashboard.mjs); every view reads the families' own
 * JSON APIs. The one thing no family API answers, "which daemons are online, across
 * users", is served here.
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
    responses: { 200: { description: "OK", content: { "application/json": { schema: z.object({ daemons: z.array(DaemonRow) }) } } } },
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

endpoint(
  dashboardRoutes,
  "get",
  "/dashboard/api/alarms",
  { tags, summary: "Telemetry alarms in the token's projects: state, condition and last transitions (docs/api/alarms.md)" },
  requireToken(),
  async (c) => {
    const me = caller(c);
    return c.json({ alarms: await alarmOverview(c.env.DB, me.role === "admin" ? null : me.projects) });
  },
);
