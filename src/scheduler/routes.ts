import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { caller, mayUseProject, principalOf } from "../auth/middleware";
import { database } from "../db/client";
import { endpoint, familyRouter, param, refuseOtherMethods } from "../http/app";
import { assertJsonDepth, readJson } from "../http/body";
import type { AppEnv } from "../http/env";
import { ApiError, errors } from "../http/errors";
import { parseInteger } from "../http/query";
import { jobFrom, nowSeconds, type Owner, patchedJob } from "./documents";
import { mountKeystoneShim } from "./keystone";
import { JOB_ID, JobBody, JobPatch, parseFreezer, parseTag, Search, SessionBody, SessionPatch } from "./schemas";
import { type Outcome, type SessionAction, unreadableJob } from "./session-tag-counter";
import {
  deleteJob,
  getJob,
  getJobText,
  getSessionText,
  insertJob,
  listBody,
  listJobs,
  listSessions,
  MAX_SEARCH_TERMS,
  type Page,
  replaceJob,
  type SessionRef,
  searchTerms,
  sessionObjectName,
  setJobEvent,
  updateJobIfUnchanged,
} from "./store";

/**
 * OpenStack Freezer v2 sessions and jobs (docs/api/scheduler.md), plus the Keystone shim its client logs in through.
 */
export const schedulerRoutes = familyRouter();
const tags = ["scheduler"];
type C = Context<AppEnv>;

mountKeystoneShim(schedulerRoutes);

const SESSIONS = "/v2/:project_id/sessions";
const JOBS = "/v2/:project_id/jobs";
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 1000;
/** Documents are small; this bounds what one body may make the Worker parse. */
const BODY_MAX = 256 * 1024;

/** A token for `{project_id}`: 401 without one, 403 for another project (admin sees all). */
const projectAccess: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = await principalOf(c);
  if (!principal) throw errors.unauthenticated();
  if (!mayUseProject(principal, param(c, "project_id"))) throw errors.forbidden();
  await next();
};

const owner = (c: C): Owner => ({ projectId: param(c, "project_id"), userId: caller(c).user });

/** An id a document is created under; other routes just find no document for a bad one (404). */
function newDocumentId(c: C, name: string): string {
  const id = param(c, name);
  if (!JOB_ID.test(id)) throw errors.badRequest(`'${id}' is not a valid ${name}: it must match '^[\\w-]+$'`);
  return id;
}

const newId = () => crypto.randomUUID().replaceAll("-", "");

const body = (c: C) => readJson(c, { maxBytes: BODY_MAX });

// ─── Lists ──────────────────────────────────────────────────────────────────

function pageOf(c: C): Page {
  const read = (name: string, fallback: number) => {
    const raw = c.req.query(name);
    if (raw === undefined || raw === "") return fallback;
    const n = parseInteger(raw);
    if (n === null || n < 0) throw errors.badRequest(`'${name}' must be a non-negative integer, not '${raw}'`);
    return n;
  };
  return { limit: Math.min(read("limit", DEFAULT_LIMIT), MAX_LIMIT), offset: read("offset", 0) };
}

/** The search, from the `search` query argument or the JSON body of the GET (freezerclient sends it there). */
async function searchOf(c: C): Promise<Search> {
  const inQuery = c.req.query("search");
  let raw: unknown;
  if (inQuery !== undefined && inQuery !== "") {
    try {
      raw = JSON.parse(inQuery);
    } catch {
      throw errors.malformedJson("The 'search' argument is not JSON");
    }
    assertJsonDepth(raw, "The 'search' argument");
  } else raw = await readJson(c, { maxBytes: BODY_MAX, empty: {} });
  const search = parseFreezer(Search, raw);
  if (searchTerms(search) > MAX_SEARCH_TERMS)
    throw errors.badRequest(`A search may hold at most ${MAX_SEARCH_TERMS} terms`);
  return search;
}

/** Documents are stored as the JSON text they are sent as: passed through, not parsed and re-serialised. */
const jsonText = (c: C, text: string) => c.body(text, 200, { "content-type": "application/json" });

const listDoc = {
  request: {
    query: z.object({ limit: z.string().optional(), offset: z.string().optional(), search: z.string().optional() }),
  },
};

// ─── Sessions ───────────────────────────────────────────────────────────────

function sessionStub(c: C, ref: SessionRef) {
  return c.env.SESSION_TAGS.get(c.env.SESSION_TAGS.idFromName(sessionObjectName(ref)));
}

/** Unwraps a Durable Object outcome, counting the D1 work it did for this request. */
function settled<T>(c: C, outcome: Outcome<T>): T {
  c.var.d1Cost.addWork(outcome.d1);
  if (!outcome.ok) throw new ApiError(outcome.kind, outcome.message, { status: outcome.status });
  return outcome.value;
}

/**
 * An id of an existing session or job. Every stored id matches `[\w-]+` (made by the server
 * or checked on creation), so any other text names nothing: 404 before D1 or a Durable
 * Object is touched (an encoded `/` in it cannot reach another project's session).
 */
function existingId(c: C, name: "session_id" | "job_id"): string {
  const id = param(c, name);
  if (!JOB_ID.test(id)) throw errors.notFound(`No ${name === "job_id" ? "job" : "session"} found with the given ID`);
  return id;
}

const sessionRef = (c: C): SessionRef => ({
  projectId: param(c, "project_id"),
  sessionId: existingId(c, "session_id"),
});

const sessionBodyDoc = { request: { body: { content: { "application/json": { schema: SessionBody } } } } };

endpoint(
  schedulerRoutes,
  "get",
  SESSIONS,
  { tags, summary: "List sessions (creation order; optional search)", ...listDoc },
  projectAccess,
  async (c) => {
    const page = pageOf(c);
    const sessions = await listSessions(database(c.env), param(c, "project_id"), await searchOf(c), page);
    return jsonText(c, listBody("sessions", sessions));
  },
);

endpoint(
  schedulerRoutes,
  "post",
  SESSIONS,
  { tags, summary: "Create a session", ...sessionBodyDoc },
  projectAccess,
  async (c) => {
    const input = parseFreezer(SessionBody, await body(c));
    const ref = { projectId: param(c, "project_id"), sessionId: newId() };
    settled(c, await sessionStub(c, ref).put(ref, input, owner(c), true));
    return c.json({ session_id: ref.sessionId }, 201);
  },
);

endpoint(
  schedulerRoutes,
  "get",
  `${SESSIONS}/:session_id`,
  { tags, summary: "A session with its jobs" },
  projectAccess,
  async (c) => {
    const doc = await getSessionText(database(c.env), sessionRef(c));
    if (!doc) throw errors.notFound("No session found with the given ID");
    return jsonText(c, doc);
  },
);

endpoint(
  schedulerRoutes,
  "patch",
  `${SESSIONS}/:session_id`,
  { tags, summary: "Merge changes into a session" },
  projectAccess,
  async (c) => {
    const ref = sessionRef(c);
    const patch = parseFreezer(SessionPatch, await body(c));
    if (Object.keys(patch).length === 0) throw errors.badRequest("Empty request body");
    const { version } = settled(c, await sessionStub(c, ref).patch(ref, patch));
    return c.json({ session_id: ref.sessionId, version });
  },
);

endpoint(
  schedulerRoutes,
  "post",
  `${SESSIONS}/:session_id`,
  { tags, summary: "Replace (or create) the session with this id", ...sessionBodyDoc },
  projectAccess,
  async (c) => {
    const ref = { projectId: param(c, "project_id"), sessionId: newDocumentId(c, "session_id") };
    const input = parseFreezer(SessionBody, await body(c));
    const { version } = settled(c, await sessionStub(c, ref).put(ref, input, owner(c)));
    return c.json({ session_id: ref.sessionId, version }, 201);
  },
);

endpoint(
  schedulerRoutes,
  "delete",
  `${SESSIONS}/:session_id`,
  { tags, summary: "Delete a session; its jobs are detached and stopped" },
  projectAccess,
  async (c) => {
    const ref = sessionRef(c);
    settled(c, await sessionStub(c, ref).remove(ref));
    return c.body(null, 204);
  },
);

const membership = [
  { method: "put", summary: "Add a job to the session", change: "addJob" },
  { method: "delete", summary: "Remove a job from the session (the job is stopped)", change: "removeJob" },
] as const;
for (const { method, summary, change } of membership) {
  endpoint(
    schedulerRoutes,
    method,
    `${SESSIONS}/:session_id/jobs/:job_id`,
    { tags, summary },
    projectAccess,
    async (c) => {
      const ref = sessionRef(c);
      settled(c, await sessionStub(c, ref)[change](ref, existingId(c, "job_id")));
      return c.body(null, 204);
    },
  );
}

const ActionBody = z.union([
  z.object({ start: z.object({ job_id: z.string(), current_tag: z.union([z.int(), z.string()]) }) }),
  z.object({ end: z.object({ job_id: z.string(), current_tag: z.unknown().optional(), result: z.string() }) }),
]);

/** `{"start": {...}}` / `{"end": {...}}`: the action is the body's first key. */
function actionOf(raw: unknown): SessionAction {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw) || Object.keys(raw).length === 0) {
    throw errors.badRequest("Bad action request format");
  }
  const [name, params] = Object.entries(raw)[0];
  if (name !== "start" && name !== "end") {
    throw new ApiError("method_not_allowed", "Bad Action Method", { status: 405 });
  }
  if (params === null || typeof params !== "object" || typeof (params as { job_id?: unknown }).job_id !== "string") {
    throw errors.badRequest(`Bad action request format: '${name}' needs a 'job_id'`);
  }
  const p = params as Record<string, unknown>;
  if (name === "end") {
    if (typeof p.result !== "string") throw errors.badRequest("Bad action request format: 'end' needs a 'result'");
    return { action: "end", jobId: p.job_id as string, result: p.result };
  }
  const tag = parseTag(p.current_tag);
  if (tag === null)
    throw errors.badRequest(`'current_tag' must be an integer, not ${JSON.stringify(p.current_tag ?? null)}`);
  return { action: "start", jobId: p.job_id as string, tag };
}

for (const path of [`${SESSIONS}/:session_id/action`, `${SESSIONS}/:session_id/actions`]) {
  endpoint(
    schedulerRoutes,
    "post",
    path,
    {
      tags,
      summary: "start / end a session run for a job (202 {result, session_tag})",
      request: { body: { content: { "application/json": { schema: ActionBody } } } },
    },
    projectAccess,
    async (c) => {
      const ref = sessionRef(c);
      const action = actionOf(await body(c));
      const answer = settled(c, await sessionStub(c, ref).act(ref, action));
      return c.json(answer, 202);
    },
  );
}

// ─── Jobs ───────────────────────────────────────────────────────────────────

const jobBodyDoc = { request: { body: { content: { "application/json": { schema: JobBody } } } } };

endpoint(
  schedulerRoutes,
  "get",
  JOBS,
  { tags, summary: "List jobs (creation order; optional search, e.g. by client_id)", ...listDoc },
  projectAccess,
  async (c) => {
    const page = pageOf(c);
    const jobs = await listJobs(database(c.env), param(c, "project_id"), await searchOf(c), page);
    return jsonText(c, listBody("jobs", jobs));
  },
);

endpoint(schedulerRoutes, "post", JOBS, { tags, summary: "Create a job", ...jobBodyDoc }, projectAccess, async (c) => {
  const input = parseFreezer(JobBody, await body(c));
  const doc = jobFrom(input, input.job_id ?? newId(), owner(c), nowSeconds());
  if (!(await insertJob(database(c.env), doc))) throw errors.conflict(`A job with id ${doc.job_id} already exists`);
  return c.json({ job_id: doc.job_id }, 201);
});

const jobRef = (c: C) => ({ projectId: param(c, "project_id"), jobId: existingId(c, "job_id") });

endpoint(schedulerRoutes, "get", `${JOBS}/:job_id`, { tags, summary: "A job" }, projectAccess, async (c) => {
  const { projectId, jobId } = jobRef(c);
  const doc = await getJobText(database(c.env), projectId, jobId);
  if (!doc) throw errors.notFound("No job found with the given ID");
  return jsonText(c, doc);
});

/** A job stored before the depth limit, which SQLite cannot change in place (see unreadableJob). */
const unreadableJobError = (jobId: string) => {
  const r = unreadableJob(jobId);
  return new ApiError(r.kind, r.message, { status: r.status });
};

/** Attempts at a job PATCH when concurrent writers keep moving its version. */
const PATCH_ATTEMPTS = 5;

endpoint(
  schedulerRoutes,
  "patch",
  `${JOBS}/:job_id`,
  { tags, summary: "Merge changes into a job" },
  projectAccess,
  async (c) => {
    const { projectId, jobId } = jobRef(c);
    const patch = parseFreezer(JobPatch, await body(c));
    if (Object.keys(patch).length === 0) throw errors.badRequest("Empty request body");
    const db = database(c.env);
    for (let attempt = 0; attempt < PATCH_ATTEMPTS; attempt++) {
      const doc = await getJob(db, projectId, jobId);
      if (!doc) throw errors.notFound("No job found with the given ID");
      const next = patchedJob(doc, patch);
      // A job stored before the depth limit is taken only with a patch that brings it within it.
      assertJsonDepth(next, "The job's document (stored before the depth limit) with this patch");
      if (await updateJobIfUnchanged(db, doc, next)) return c.json({ job_id: jobId, version: next.version });
    }
    throw errors.conflict("The job kept changing while it was being updated; try again");
  },
);

endpoint(
  schedulerRoutes,
  "post",
  `${JOBS}/:job_id`,
  { tags, summary: "Replace (or create) the job with this id", ...jobBodyDoc },
  projectAccess,
  async (c) => {
    const jobId = newDocumentId(c, "job_id");
    const input = parseFreezer(JobBody, await body(c));
    const version = await replaceJob(database(c.env), jobFrom(input, jobId, owner(c), nowSeconds()));
    return c.json({ job_id: jobId, version }, 201);
  },
);

endpoint(schedulerRoutes, "delete", `${JOBS}/:job_id`, { tags, summary: "Delete a job" }, projectAccess, async (c) => {
  const { projectId, jobId } = jobRef(c);
  if (!(await deleteJob(database(c.env), projectId, jobId))) throw errors.notFound("No job found with the given ID");
  return c.body(null, 204);
});

const EVENTS = ["start", "stop", "abort"];

endpoint(
  schedulerRoutes,
  "post",
  `${JOBS}/:job_id/event`,
  {
    tags,
    summary: "Request start / stop / abort of a job (sets job_schedule.event)",
    request: { body: { content: { "application/json": { schema: z.record(z.enum(EVENTS), z.null()) } } } },
  },
  projectAccess,
  async (c) => {
    const { projectId, jobId } = jobRef(c);
    const raw = await body(c);
    if (raw === null || typeof raw !== "object" || Array.isArray(raw) || Object.keys(raw).length === 0) {
      throw errors.badRequest("Bad event request format");
    }
    const event = Object.keys(raw)[0];
    if (!EVENTS.includes(event)) throw new ApiError("method_not_allowed", "Bad Event Method", { status: 405 });
    const outcome = await setJobEvent(database(c.env), projectId, jobId, event);
    if (outcome === "missing") throw errors.notFound("No job found with the given ID");
    if (outcome === "unreadable") throw unreadableJobError(jobId);
    return c.json({ result: "success" }, 202);
  },
);

refuseOtherMethods(schedulerRoutes);
