import { asc, eq } from "drizzle-orm";
import { z } from "zod";
import { database } from "../db/client";
import { daemonAbnormalTags, daemons } from "../db/schema";
import { endpoint, familyRouter } from "../http/app";
import { caller, requireToken } from "../http/auth";

/**
 * The dashboard (issue #8). Its page and script are static assets under /dashboard/
 * (public/, built by scripts/build-dashboard.mjs); every view reads the families' own
 * JSON APIs. The one thing no family API answers, "which daemons are online, across
 * users", is served here.
 */
export const dashboardRoutes = familyRouter();

const tags = ["dashboard"];
/** At most this many online daemons, and abnormal tags, in one answer: a screenful, not a scan. */
const DAEMONS_SHOWN = 200;
const TAGS_SHOWN = 1000;

const toDashboard = { tags, summary: "The dashboard (a redirect to /dashboard/)", security: [], responses: { 302: { description: "to /dashboard/" } } };
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
    const db = database(c.env);
    // D1 holds the last recorded flip (indexed by status); the presence object is the live truth.
    const rows = await db
      .select({ user: daemons.user, daemonId: daemons.daemonId, since: daemons.statusChangedAt })
      .from(daemons)
      .where(me.role === "admin" ? eq(daemons.status, "online") : eq(daemons.user, me.user))
      .limit(DAEMONS_SHOWN);
    if (!rows.length) return c.json({ daemons: [] });
    const live = await Promise.all(rows.map((r) => c.env.DAEMON_PRESENCE.get(c.env.DAEMON_PRESENCE.idFromName(r.daemonId)).view()));
    const online = rows.map((r, i) => ({ ...r, view: live[i] })).filter((r) => r.view.online);
    const tagsOf = new Map<string, Array<{ tag: string; since: string }>>();
    if (online.length) {
      // The tag table is keyed by tag, not daemon: read a bounded slice in key order.
      const tagRows = await db
        .select()
        .from(daemonAbnormalTags)
        .orderBy(asc(daemonAbnormalTags.repname), asc(daemonAbnormalTags.itemname), asc(daemonAbnormalTags.tagname), asc(daemonAbnormalTags.daemonId))
        .limit(TAGS_SHOWN);
      for (const t of tagRows) {
        const list = tagsOf.get(t.daemonId) ?? [];
        list.push({ tag: `${t.repname}/${t.itemname}:${t.tagname}`, since: t.since });
        tagsOf.set(t.daemonId, list);
      }
    }
    return c.json({
      daemons: online.map((r) => ({
        user: r.user,
        daemon_id: r.daemonId,
        online: true,
        since: r.since,
        last_beat: r.view.lastBeat === null ? null : new Date(r.view.lastBeat).toISOString(),
        entrypoints: r.view.entrypoints,
        abnormal_tags: tagsOf.get(r.daemonId) ?? [],
      })),
    });
  },
);
