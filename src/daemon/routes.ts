import type { Context } from "hono";
import { z } from "zod";
import { caller, requireToken } from "../auth/middleware";
import { database } from "../db/client";
import { type EndpointDoc, endpoint, familyRouter, param, refuseOtherMethods } from "../http/app";
import { parseInput, readJson } from "../http/body";
import type { AppEnv } from "../http/env";
import { ApiError, errors } from "../http/errors";
import { parseInteger } from "../http/query";
import { DaemonCode } from "./dialect";
import {
  DAEMON_ID,
  DaemonError,
  DaemonIdResponse,
  DaemonStatusResponse,
  EntrypointResponse,
  HeartbeatBody,
  HeartbeatResponse,
  HeartbeatStatusResponse,
  LOG_KEEP,
  LogResponse,
  normaliseBeat,
  TagStatusQuery,
  TagStatusResponse,
} from "./schemas";
import { daemonIdOf, ensureDaemonId, itemTagStatus, tagStatus } from "./store";

/**
 * DataHub's daemon registry and heartbeat (docs/api/daemon.md), mounted at "/" and at
 * "/api" (where the real daemon and web UI call it). Routes
 * carry their own auth: the beat is authenticated by its daemon id alone and
 * `/heartbeat/status/:user` and `/daemon/tags/status` are public.
 */
export const daemonRoutes = familyRouter();

type C = Context<AppEnv>;
const tags = ["daemon registry"];
const signedIn = requireToken();
const json = (schema: z.ZodType) => ({ content: { "application/json": { schema } } });
const errorDoc = (description: string) => ({ description, ...json(DaemonError) });
const doc = (summary: string, ok: z.ZodType, extra: EndpointDoc = {}): EndpointDoc => ({
  tags,
  summary,
  responses: { 200: { description: "OK", ...json(ok) }, ...extra.responses },
  ...(extra.request ? { request: extra.request } : {}),
  ...(extra.security ? { security: extra.security } : {}),
});
const publicRoute: EndpointDoc = { security: [] };

/**
 * A beat is a short JSON document, but it carries every line the daemon logged since
 * its last beat got through: 2 MiB holds about a day of an unreachable server's retries.
 */
const HEARTBEAT_MAX_BYTES = 2 * 1024 * 1024;

/**
 * The presence object of a daemon id. The object is named by the id itself, so only a
 * well-formed id (40 lowercase hex, as `/daemon/id` makes them) may name one: nothing a
 * caller sends can reach an object under any other name.
 */
function presenceOf(c: C, daemonId: string) {
  if (!DAEMON_ID.test(daemonId)) throw refused(DaemonCode.notRegistered, "user not registered yet");
  return c.env.DAEMON_PRESENCE.get(c.env.DAEMON_PRESENCE.idFromName(daemonId));
}

const refused = (code: number, msg: string) => new ApiError("forbidden", msg, { extra: { code } });

/** The live view of a user's daemon; `null` when the user never asked for a daemon id. */
async function presenceOfUser(c: C, user: string) {
  const daemonId = await daemonIdOf(database(c.env), user);
  return daemonId ? presenceOf(c, daemonId).view() : null;
}

endpoint(
  daemonRoutes,
  "get",
  "/daemon/id",
  doc("The caller's daemon id (created on the first call, stable after)", DaemonIdResponse, {
    responses: { 401: errorDoc("No valid token (code 1005)") },
  }),
  signedIn,
  async (c) => c.json({ daemonid: await ensureDaemonId(database(c.env), caller(c).user) }),
);

endpoint(
  daemonRoutes,
  "get",
  "/daemon/ep/:user",
  doc("Where a user's daemon can be reached (yourself, or anyone for admins)", EntrypointResponse, {
    request: { params: z.object({ user: z.string() }) },
    responses: {
      403: errorDoc("Another user's entrypoint (code 1006)"),
      404: errorDoc("No daemon or no entrypoint (code 1009)"),
    },
  }),
  signedIn,
  async (c) => {
    const me = caller(c);
    const user = param(c, "user");
    if (me.role !== "admin" && me.user !== user) throw errors.forbidden("only your own daemon's entrypoint");
    const view = await presenceOfUser(c, user);
    if (!view) throw errors.notFound(`user ${user} has no daemon`);
    if (!view.entrypoints.length) throw errors.notFound(`the daemon of ${user} has reported no entrypoint`);
    return c.json({ entrypoint: view.entrypoints });
  },
);

endpoint(
  daemonRoutes,
  "get",
  "/daemon/log/:index",
  doc("The caller's daemon log, newest first, positions index..index+range", LogResponse, {
    request: {
      params: z.object({ index: z.string().describe("0 is the newest line") }),
      query: z.object({ range: z.string().optional().describe("lines after index (default 9: 10 lines)") }),
    },
    responses: { 400: errorDoc("Bad index or range (code 1007)"), 404: errorDoc("No daemon (code 1009)") },
  }),
  signedIn,
  async (c) => {
    const index = parseInteger(param(c, "index"));
    if (index === null || index < 0)
      throw errors.badRequest("index must be a whole number from 0", { index: "must be a whole number from 0" });
    const rawRange = c.req.query("range");
    const range = rawRange === undefined || rawRange === "" ? 9 : parseInteger(rawRange);
    if (range === null || range < 0)
      throw errors.badRequest("range must be a whole number from 0", { range: "must be a whole number from 0" });
    const daemonId = await daemonIdOf(database(c.env), caller(c).user);
    if (!daemonId) throw errors.notFound("you have no daemon");
    // Only the newest LOG_KEEP lines exist: a window past them is empty, not an error.
    const lines =
      index >= LOG_KEEP ? [] : await presenceOf(c, daemonId).logWindow(index, Math.min(range + 1, LOG_KEEP - index));
    return c.json({ log: lines });
  },
);

endpoint(
  daemonRoutes,
  "get",
  "/daemon/status",
  doc("Is the caller's daemon online, and where it can be reached", DaemonStatusResponse),
  signedIn,
  async (c) => {
    const view = await presenceOfUser(c, caller(c).user);
    return c.json({ status: view?.online ? "online" : "offline", entrypoint: view?.entrypoints ?? [] });
  },
);

endpoint(
  daemonRoutes,
  "get",
  "/daemon/tags/status",
  doc("Abnormal tags of an item, or whether one tag is abnormal (public)", TagStatusResponse, {
    ...publicRoute,
    request: { query: TagStatusQuery },
    responses: { 400: errorDoc("repname or itemname missing, bad page or size (code 1007)") },
  }),
  async (c) => {
    // A UI sends empty arguments for fields left blank: those mean "not given".
    const given = Object.fromEntries(
      Object.entries(c.req.query()).filter(([k, v]) => v !== "" || k === "repname" || k === "itemname"),
    );
    const q = parseInput(TagStatusQuery, given, "invalid parameters");
    const db = database(c.env);
    const status = q.tagname
      ? await tagStatus(db, { repname: q.repname, itemname: q.itemname, tagname: q.tagname })
      : await itemTagStatus(db, q.repname, q.itemname, q.page, q.size);
    return c.json(status);
  },
);

endpoint(
  daemonRoutes,
  "post",
  "/heartbeat",
  doc("A daemon's beat (authenticated by its daemon id)", HeartbeatResponse, {
    ...publicRoute,
    request: { body: json(HeartbeatBody) },
    responses: {
      400: errorDoc("Malformed beat (code 1007)"),
      403: errorDoc("Empty daemon id (code 6201) or one never handed out (code 6002)"),
    },
  }),
  async (c) => {
    const raw = await readJson(c, { maxBytes: HEARTBEAT_MAX_BYTES });
    if (typeof raw !== "object" || raw === null || Array.isArray(raw))
      throw errors.badRequest("the beat must be a JSON object");
    const daemonId = (raw as { daemonid?: unknown }).daemonid;
    if (daemonId === undefined || daemonId === null || daemonId === "")
      throw refused(DaemonCode.daemonIdEmpty, "daemonid is empty");
    const beat = parseInput(HeartbeatBody, raw, "invalid parameters");
    const { accepted, d1 } = await presenceOf(c, beat.daemonid).beat(beat.daemonid, normaliseBeat(beat));
    c.var.d1Cost.addWork(d1);
    if (!accepted) throw refused(DaemonCode.notRegistered, "user not registered yet");
    return c.json({ code: 0, msg: "OK", data: {} });
  },
);

endpoint(
  daemonRoutes,
  "get",
  "/heartbeat/status/:user",
  doc("Is a user's daemon online (public)", HeartbeatStatusResponse, {
    ...publicRoute,
    request: { params: z.object({ user: z.string() }) },
  }),
  async (c) => {
    const view = await presenceOfUser(c, param(c, "user"));
    return c.json({ status: view?.online ? "online" : "offline" });
  },
);

refuseOtherMethods(daemonRoutes);
