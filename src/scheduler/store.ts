import { and, asc, eq, sql, type SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { schedulerJobs, schedulerSessions } from "../db/schema";
import type { JobDoc, SessionDoc } from "./documents";
import type { Search } from "./schemas";

/** A session's address: the Durable Object name and the D1 key. */
export interface SessionRef {
  projectId: string;
  sessionId: string;
}

// ─── Sessions (written only by the session's Durable Object) ─────────────────

const sessionKey = (ref: SessionRef) =>
  and(eq(schedulerSessions.projectId, ref.projectId), eq(schedulerSessions.sessionId, ref.sessionId));

export const insertSession = (db: Database, doc: SessionDoc) =>
  db
    .insert(schedulerSessions)
    .values({ projectId: doc.project_id, sessionId: doc.session_id, doc: doc as unknown as Record<string, unknown> })
    .onConflictDoUpdate({ target: [schedulerSessions.projectId, schedulerSessions.sessionId], set: { doc: sql`excluded.doc` } });

export const updateSession = (db: Database, doc: SessionDoc) =>
  db
    .update(schedulerSessions)
    .set({ doc: doc as unknown as Record<string, unknown> })
    .where(sessionKey({ projectId: doc.project_id, sessionId: doc.session_id }));

export const deleteSession = (db: Database, ref: SessionRef) => db.delete(schedulerSessions).where(sessionKey(ref));

export async function getSession(db: Database, ref: SessionRef): Promise<SessionDoc | null> {
  const [row] = await db.select({ doc: schedulerSessions.doc }).from(schedulerSessions).where(sessionKey(ref)).limit(1);
  return (row?.doc as unknown as SessionDoc) ?? null;
}

// ─── Jobs ───────────────────────────────────────────────────────────────────

const jobKey = (projectId: string, jobId: string) => and(eq(schedulerJobs.projectId, projectId), eq(schedulerJobs.jobId, jobId));

export async function getJob(db: Database, projectId: string, jobId: string): Promise<JobDoc | null> {
  const [row] = await db.select({ doc: schedulerJobs.doc }).from(schedulerJobs).where(jobKey(projectId, jobId)).limit(1);
  return (row?.doc as unknown as JobDoc) ?? null;
}

const jobRow = (doc: JobDoc) => ({
  projectId: doc.project_id,
  jobId: doc.job_id,
  clientId: doc.client_id,
  sessionId: doc.session_id,
  doc: doc as unknown as Record<string, unknown>,
});

/** Inserts a new job; false when the id is taken. */
export async function insertJob(db: Database, doc: JobDoc): Promise<boolean> {
  const rows = await db.insert(schedulerJobs).values(jobRow(doc)).onConflictDoNothing().returning({ seq: schedulerJobs.seq });
  return rows.length === 1;
}

/** Creates or replaces a job in one statement; a replacement's version follows the stored one. */
export async function replaceJob(db: Database, doc: JobDoc): Promise<number> {
  const [row] = await db
    .insert(schedulerJobs)
    .values(jobRow(doc))
    .onConflictDoUpdate({
      target: [schedulerJobs.projectId, schedulerJobs.jobId],
      set: {
        clientId: sql`excluded.client_id`,
        sessionId: sql`excluded.session_id`,
        doc: sql`json_set(excluded.doc, '$.version', json_extract(${schedulerJobs.doc}, '$.version') + 1)`,
      },
    })
    .returning({ version: sql<number>`json_extract(${schedulerJobs.doc}, '$.version')` });
  return Number(row.version);
}

/**
 * Writes `next` only if the stored job is still at `previous.version` (optimistic: job
 * documents are also changed by session routes in single statements); false if it moved.
 */
export async function updateJobIfUnchanged(db: Database, previous: JobDoc, next: JobDoc): Promise<boolean> {
  const rows = await db
    .update(schedulerJobs)
    .set({ clientId: next.client_id, sessionId: next.session_id, doc: next as unknown as Record<string, unknown> })
    .where(and(jobKey(previous.project_id, previous.job_id), sql`json_extract(${schedulerJobs.doc}, '$.version') = ${previous.version}`))
    .returning({ seq: schedulerJobs.seq });
  return rows.length === 1;
}

export async function deleteJob(db: Database, projectId: string, jobId: string): Promise<boolean> {
  const rows = await db.delete(schedulerJobs).where(jobKey(projectId, jobId)).returning({ seq: schedulerJobs.seq });
  return rows.length === 1;
}

/** Sets `job_schedule.event` (one statement, so it never loses a concurrent change); false if no such job. */
export async function setJobEvent(db: Database, projectId: string, jobId: string, event: string): Promise<boolean> {
  const rows = await db
    .update(schedulerJobs)
    .set({ doc: sql`json_set(${schedulerJobs.doc}, '$.job_schedule.event', ${event}, '$.version', json_extract(${schedulerJobs.doc}, '$.version') + 1)` })
    .where(jobKey(projectId, jobId))
    .returning({ seq: schedulerJobs.seq });
  return rows.length === 1;
}

/** Ties a job to a session, unless it belongs to another one (then it changes nothing). */
export const attachJob = (db: Database, ref: SessionRef, jobId: string, tag: number, schedule: unknown) =>
  db
    .update(schedulerJobs)
    .set({
      sessionId: ref.sessionId,
      doc: sql`json_set(${schedulerJobs.doc}, '$.session_id', ${ref.sessionId}, '$.session_tag', ${tag}, '$.job_schedule', json(${JSON.stringify(schedule)}), '$.version', json_extract(${schedulerJobs.doc}, '$.version') + 1)`,
    })
    .where(and(jobKey(ref.projectId, jobId), sql`${schedulerJobs.sessionId} IN ('', ${ref.sessionId})`));

/** The session half of adding a job: written only if the job now points at the session. */
export const updateSessionIfAttached = (db: Database, doc: SessionDoc, jobId: string) =>
  db
    .update(schedulerSessions)
    .set({ doc: doc as unknown as Record<string, unknown> })
    .where(
      and(
        sessionKey({ projectId: doc.project_id, sessionId: doc.session_id }),
        sql`EXISTS (SELECT 1 FROM scheduler_jobs WHERE project_id = ${doc.project_id} AND job_id = ${jobId} AND session_id = ${doc.session_id})`,
      ),
    );

const detachedDoc = sql`json_set(${schedulerJobs.doc}, '$.session_id', '', '$.session_tag', 0, '$.job_schedule', json('{"event":"stop"}'), '$.version', json_extract(${schedulerJobs.doc}, '$.version') + 1)`;

/** Removing a job from its session stops it: `session_id: ""`, `session_tag: 0`, `job_schedule: {"event":"stop"}`. */
export const detachJob = (db: Database, ref: SessionRef, jobId: string) =>
  db
    .update(schedulerJobs)
    .set({ sessionId: "", doc: detachedDoc })
    .where(and(jobKey(ref.projectId, jobId), eq(schedulerJobs.sessionId, ref.sessionId)));

/** Every job of a deleted session, through the (project, session) index. */
export const detachAllJobs = (db: Database, ref: SessionRef) =>
  db
    .update(schedulerJobs)
    .set({ sessionId: "", doc: detachedDoc })
    .where(and(eq(schedulerJobs.projectId, ref.projectId), eq(schedulerJobs.sessionId, ref.sessionId)));

// ─── Lists and search ───────────────────────────────────────────────────────

/** Where a key is looked up, in order, and where `_all` looks for text. */
interface SearchShape {
  nested: string; // "$.schedule" | "$.job_schedule"
  entries: string; // json_each over these: "$.jobs" (map) | "$.job_actions" (list)
  entryPrefix: string; // inside an entry: "$" | "$.freezer_action"
  textTop: string[];
  textTrees: string[];
}

const sessionShape: SearchShape = {
  nested: "$.schedule",
  entries: "$.jobs",
  entryPrefix: "$",
  textTop: ["description", "status", "result"],
  textTrees: ["$.schedule", "$.jobs"],
};
const jobShape: SearchShape = {
  nested: "$.job_schedule",
  entries: "$.job_actions",
  entryPrefix: "$.freezer_action",
  textTop: ["description", "client_id", "job_id"],
  textTrees: ["$.job_schedule", "$.job_actions"],
};

/** A JSON value as SQLite compares it with what json_extract returns. */
function sqlValue(v: unknown): SQL {
  if (v === null) return sql`NULL`;
  if (typeof v === "boolean") return sql`${v ? 1 : 0}`;
  if (typeof v === "object") return sql`json(${JSON.stringify(v)})`;
  return sql`${v as string | number}`;
}

/** `key = value`, the key taken from the top level, else the nested schedule, else any entry. */
function pairMatches(doc: SQL, shape: SearchShape, key: string, value: unknown): SQL {
  // Keys are `[\w-]+` (checked by the Search schema), so paths are written inline, not bound.
  const top = sql.raw(`'$."${key}"'`);
  const nested = sql.raw(`'${shape.nested}."${key}"'`);
  const inEntry = sql.raw(`'${shape.entryPrefix}."${key}"'`);
  const entries = sql.raw(`'${shape.entries}'`);
  const v = sqlValue(value);
  return sql`(CASE WHEN json_type(${doc}, ${top}) IS NOT NULL THEN json_extract(${doc}, ${top}) IS ${v}
    WHEN json_type(${doc}, ${nested}) IS NOT NULL THEN json_extract(${doc}, ${nested}) IS ${v}
    ELSE EXISTS (SELECT 1 FROM json_each(${doc}, ${entries}) e WHERE json_extract(e.value, ${inEntry}) IS ${v}) END)`;
}

function textContains(doc: SQL, shape: SearchShape, text: string): SQL {
  const tops = sql.raw(shape.textTop.map((k) => `'${k}'`).join(", "));
  const trees = sql.raw(shape.textTrees.map((p) => `t.path LIKE '${p}%'`).join(" OR "));
  return sql`EXISTS (SELECT 1 FROM json_tree(${doc}) t WHERE t.type = 'text' AND instr(t.atom, ${text}) > 0
    AND ((t.path = '$' AND t.key IN (${tops})) OR ${trees}))`;
}

/** Each term binds up to three parameters; D1 binds at most 100 per statement. */
export const MAX_SEARCH_TERMS = 25;

/**
 * Turns a Freezer search into SQL conditions. `{"_all": T}`: T holding the JSON text of a
 * list of pairs means those pairs; any other T is a substring of a string field.
 * `client_id`/`session_id` of jobs use their indexed columns.
 */
function searchConditions(doc: SQL, shape: SearchShape, search: Search, lifted: Record<string, SQL>): { where: SQL[]; terms: number } {
  const where: SQL[] = [];
  const match: Array<[string, unknown]> = [];
  for (const pairs of search.match ?? []) {
    for (const [k, v] of Object.entries(pairs)) {
      if (k !== "_all") match.push([k, v]);
      else {
        const text = typeof v === "string" ? v : JSON.stringify(v);
        const listed = pairsInText(text);
        if (listed) match.push(...listed);
        else where.push(textContains(doc, shape, text));
      }
    }
  }
  for (const [k, v] of match) {
    const column = lifted[k];
    where.push(column && typeof v === "string" ? sql`${column} = ${v}` : pairMatches(doc, shape, k, v));
  }
  const not = (search.match_not ?? []).flatMap((pairs) => Object.entries(pairs));
  for (const [k, v] of not) where.push(sql`NOT ${pairMatches(doc, shape, k, v)}`);
  return { where, terms: where.length };
}

function pairsInText(text: string): Array<[string, unknown]> | null {
  try {
    const parsed = JSON.parse(text);
    if (!Array.isArray(parsed) || !parsed.every((p) => p && typeof p === "object" && !Array.isArray(p))) return null;
    const pairs = parsed.flatMap((p) => Object.entries(p as Record<string, unknown>));
    return pairs.every(([k]) => /^[\w-]+$/.test(k)) ? pairs : null;
  } catch {
    return null;
  }
}

export interface Page {
  limit: number;
  offset: number;
}

export async function listSessions(db: Database, projectId: string, search: Search, page: Page) {
  const { where } = searchConditions(sql`${schedulerSessions.doc}`, sessionShape, search, {});
  const rows = await db
    .select({ doc: schedulerSessions.doc })
    .from(schedulerSessions)
    .where(and(eq(schedulerSessions.projectId, projectId), ...where))
    .orderBy(asc(schedulerSessions.seq))
    .limit(page.limit)
    .offset(page.offset);
  return rows.map((r) => r.doc as unknown as SessionDoc);
}

export async function listJobs(db: Database, projectId: string, search: Search, page: Page) {
  const { where } = searchConditions(sql`${schedulerJobs.doc}`, jobShape, search, {
    client_id: sql`${schedulerJobs.clientId}`,
    session_id: sql`${schedulerJobs.sessionId}`,
  });
  const rows = await db
    .select({ doc: schedulerJobs.doc })
    .from(schedulerJobs)
    .where(and(eq(schedulerJobs.projectId, projectId), ...where))
    .orderBy(asc(schedulerJobs.seq))
    .limit(page.limit)
    .offset(page.offset);
  return rows.map((r) => r.doc as unknown as JobDoc);
}

/** Counts pairs and `_all` terms so a search stays under D1's bound-parameter cap. */
export function searchTerms(search: Search): number {
  const count = (list?: Array<Record<string, unknown>>) =>
    (list ?? []).reduce((n, pairs) => n + Object.entries(pairs).reduce((m, [k, v]) => m + (k === "_all" ? (pairsInText(String(v))?.length ?? 1) : 1), 0), 0);
  return count(search.match) + count(search.match_not);
}
