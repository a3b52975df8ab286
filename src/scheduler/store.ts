import { and, asc, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { rowsPerStatement } from "../db/d1";
import { schedulerJobs, schedulerSessions } from "../db/schema";
import { assertJsonDepth } from "../http/body";
import type { JobDoc, SessionDoc } from "./documents";
import type { Search } from "./schemas";

/** A session's address: the D1 key, and the name of its Durable Object. */
export interface SessionRef {
  projectId: string;
  sessionId: string;
}

/**
 * The Durable Object's name: a JSON pair, so no project id and session id can spell
 * another pair's name (with `project/session`, `pa` + `q/S` named `pa/q` + `S`).
 */
export const sessionObjectName = (ref: SessionRef) => JSON.stringify([ref.projectId, ref.sessionId]);

// ─── Sessions (written only by Durable Objects; every write checks the version it read) ──

const sessionKey = (ref: SessionRef) =>
  and(eq(schedulerSessions.projectId, ref.projectId), eq(schedulerSessions.sessionId, ref.sessionId));

const docVersion = sql`json_extract(${schedulerSessions.doc}, '$.version')`;

/** A document column as its stored text: a `sql` field skips drizzle's JSON decoding. */
const docText = (column: typeof schedulerSessions.doc | typeof schedulerJobs.doc) => sql<string>`${column}`;

/** A list's JSON body from stored document texts: `{"<key>":[doc,doc,...]}`. */
export const listBody = (key: string, docs: string[]) => `{"${key}":[${docs.join(",")}]}`;

/** Reads the session row for its Durable Object. */
export async function readSession(db: Database, ref: SessionRef): Promise<SessionDoc | null> {
  const r = (await db
    .select({ doc: schedulerSessions.doc })
    .from(schedulerSessions)
    .where(sessionKey(ref))
    .limit(1)
    .run()) as D1Result<{
    doc: string;
  }>;
  const row = r.results[0];
  return row ? (JSON.parse(row.doc) as SessionDoc) : null;
}

/**
 * Creates the session, or replaces the row still at `previousVersion` (null: none was
 * seen). Changes nothing when another writer got there first.
 */
export const putSession = (db: Database, doc: SessionDoc, previousVersion: number | null) =>
  db
    .insert(schedulerSessions)
    .values({ projectId: doc.project_id, sessionId: doc.session_id, doc: doc as unknown as Record<string, unknown> })
    .onConflictDoUpdate({
      target: [schedulerSessions.projectId, schedulerSessions.sessionId],
      set: { doc: sql`excluded.doc` },
      setWhere: sql`${docVersion} IS ${previousVersion}`,
    });

/** Writes `doc` over the row if it is still at the version before it (`doc.version - 1`). */
export const updateSession = (db: Database, doc: SessionDoc) =>
  db
    .update(schedulerSessions)
    .set({ doc: doc as unknown as Record<string, unknown> })
    .where(
      and(
        sessionKey({ projectId: doc.project_id, sessionId: doc.session_id }),
        sql`${docVersion} = ${doc.version - 1}`,
      ),
    );

export const deleteSession = (db: Database, ref: SessionRef) => db.delete(schedulerSessions).where(sessionKey(ref));

/** The stored JSON text of a session, sent as it is (no parse and re-serialise per request). */
export async function getSessionText(db: Database, ref: SessionRef): Promise<string | null> {
  const [row] = await db
    .select({ doc: docText(schedulerSessions.doc) })
    .from(schedulerSessions)
    .where(sessionKey(ref))
    .limit(1);
  return row?.doc ?? null;
}

// ─── Jobs ───────────────────────────────────────────────────────────────────

const jobKey = (projectId: string, jobId: string) =>
  and(eq(schedulerJobs.projectId, projectId), eq(schedulerJobs.jobId, jobId));

export async function getJob(db: Database, projectId: string, jobId: string): Promise<JobDoc | null> {
  const [row] = await db
    .select({ doc: schedulerJobs.doc })
    .from(schedulerJobs)
    .where(jobKey(projectId, jobId))
    .limit(1);
  return (row?.doc as unknown as JobDoc) ?? null;
}

export async function getJobText(db: Database, projectId: string, jobId: string): Promise<string | null> {
  const [row] = await db
    .select({ doc: docText(schedulerJobs.doc) })
    .from(schedulerJobs)
    .where(jobKey(projectId, jobId))
    .limit(1);
  return row?.doc ?? null;
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
  const rows = await db
    .insert(schedulerJobs)
    .values(jobRow(doc))
    .onConflictDoNothing()
    .returning({ seq: schedulerJobs.seq });
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
        // A stored document SQLite cannot read (kept from before the depth limit) counts as version 0.
        doc: sql`json_set(excluded.doc, '$.version', CASE WHEN json_valid(${schedulerJobs.doc}) THEN json_extract(${schedulerJobs.doc}, '$.version') ELSE 0 END + 1)`,
      },
    })
    .returning({ version: sql<number>`json_extract(${schedulerJobs.doc}, '$.version')` });
  return Number(row.version);
}

/**
 * Writes `next` only if the stored job is still at `previous.version` (optimistic: job
 * documents are also changed by session routes in single statements); false if it moved.
 * A stored document SQLite cannot read has no version to compare: it is overwritten.
 */
export async function updateJobIfUnchanged(db: Database, previous: JobDoc, next: JobDoc): Promise<boolean> {
  const rows = await db
    .update(schedulerJobs)
    .set({ clientId: next.client_id, sessionId: next.session_id, doc: next as unknown as Record<string, unknown> })
    .where(
      and(
        jobKey(previous.project_id, previous.job_id),
        sql`CASE WHEN json_valid(${schedulerJobs.doc}) THEN json_extract(${schedulerJobs.doc}, '$.version') = ${previous.version} ELSE 1 END`,
      ),
    )
    .returning({ seq: schedulerJobs.seq });
  return rows.length === 1;
}

export async function deleteJob(db: Database, projectId: string, jobId: string): Promise<boolean> {
  const rows = await db.delete(schedulerJobs).where(jobKey(projectId, jobId)).returning({ seq: schedulerJobs.seq });
  return rows.length === 1;
}

/**
 * Sets `job_schedule.event` (one statement, so it never loses a concurrent change), in one
 * batch with a look at the job: "missing", "unreadable" (stored before the depth limit,
 * SQLite cannot change it in place) or "set".
 */
export async function setJobEvent(
  db: Database,
  projectId: string,
  jobId: string,
  event: string,
): Promise<"set" | "missing" | "unreadable"> {
  const [updated, found] = await db.batch([
    db
      .update(schedulerJobs)
      .set({
        doc: sql`json_set(${schedulerJobs.doc}, '$.job_schedule.event', ${event}, '$.version', json_extract(${schedulerJobs.doc}, '$.version') + 1)`,
      })
      .where(and(jobKey(projectId, jobId), sql`json_valid(${schedulerJobs.doc})`))
      .returning({ seq: schedulerJobs.seq }),
    db.select({ seq: schedulerJobs.seq }).from(schedulerJobs).where(jobKey(projectId, jobId)).limit(1),
  ]);
  if (updated.length === 1) return "set";
  return found.length === 1 ? "unreadable" : "missing";
}

/** A job as adding it to a session needs it: its session column, and whether SQLite can read its document. */
export async function readJobForSession(db: Database, projectId: string, jobId: string) {
  const r = (await db
    .select({
      doc: schedulerJobs.doc,
      sessionId: schedulerJobs.sessionId,
      readable: sql<number>`json_valid(${schedulerJobs.doc})`.as("readable"),
    })
    .from(schedulerJobs)
    .where(jobKey(projectId, jobId))
    .limit(1)
    .run()) as D1Result<{ doc: string; session_id: string; readable: number }>;
  const row = r.results[0];
  return row ? { doc: JSON.parse(row.doc) as JobDoc, sessionId: row.session_id, readable: row.readable === 1 } : null;
}

/** The session row now holds the version `doc` was written at: the first write of a batch happened. */
const sessionWritten = (doc: SessionDoc) =>
  sql`EXISTS (SELECT 1 FROM scheduler_sessions WHERE project_id = ${doc.project_id} AND session_id = ${doc.session_id} AND json_extract(doc, '$.version') = ${doc.version})`;

const jobIn = (projectId: string, jobId: string, sessionId: string) =>
  sql`EXISTS (SELECT 1 FROM scheduler_jobs WHERE project_id = ${projectId} AND job_id = ${jobId} AND session_id = ${sessionId} AND json_valid(doc))`;

/**
 * Adding a job to `doc`'s session, as one batch whose writes are each conditioned on the
 * one before (a batch is one transaction, so they all happen or none does):
 * 1. the session row, if still at the version read and the job is still in `from`;
 * 2. the job gets the session's id, tag and schedule;
 * 3. when it came from another session, it leaves that session's job map.
 * The caller checks that the first changed a row.
 */
export function addJobWrites(db: Database, doc: SessionDoc, jobId: string, from: string) {
  const { project_id: projectId, session_id: sessionId } = doc;
  const session = db
    .update(schedulerSessions)
    .set({ doc: doc as unknown as Record<string, unknown> })
    .where(
      and(sessionKey({ projectId, sessionId }), sql`${docVersion} = ${doc.version - 1}`, jobIn(projectId, jobId, from)),
    );
  const job = db
    .update(schedulerJobs)
    .set({
      sessionId,
      doc: sql`json_set(${schedulerJobs.doc}, '$.session_id', ${sessionId}, '$.session_tag', ${doc.session_tag}, '$.job_schedule', json(${JSON.stringify(doc.schedule)}), '$.version', json_extract(${schedulerJobs.doc}, '$.version') + 1)`,
    })
    .where(and(jobKey(projectId, jobId), eq(schedulerJobs.sessionId, from), sessionWritten(doc)));
  if (!from || from === sessionId) return [session, job] as const;
  const entry = `$.jobs."${jobId}"`;
  const leaveOld = db
    .update(schedulerSessions)
    .set({ doc: sql`json_set(json_remove(${schedulerSessions.doc}, ${entry}), '$.version', ${docVersion} + 1)` })
    .where(
      and(
        sessionKey({ projectId, sessionId: from }),
        sql`json_type(${schedulerSessions.doc}, ${entry}) IS NOT NULL`,
        jobIn(projectId, jobId, sessionId),
        sessionWritten(doc),
      ),
    );
  return [session, job, leaveOld] as const;
}

/**
 * Removing a job stops it: `session_id: ""`, `session_tag: 0`, `job_schedule: {"event":"stop"}`.
 * A document SQLite cannot read (stored before the depth limit) only loses its session column.
 */
const detachedDoc = sql`CASE WHEN json_valid(${schedulerJobs.doc}) THEN json_set(${schedulerJobs.doc}, '$.session_id', '', '$.session_tag', 0, '$.job_schedule', json('{"event":"stop"}'), '$.version', json_extract(${schedulerJobs.doc}, '$.version') + 1) ELSE ${schedulerJobs.doc} END`;

/** The session's map without the job (`doc`, at its new version), then the job detached if that was written. */
export function removeJobWrites(db: Database, doc: SessionDoc, jobId: string) {
  return [updateSession(db, doc), detachJob(db, doc, jobId, sessionWritten(doc))] as const;
}

/** Detaches the job from the session (only if it is in it), when `condition` holds. */
export const detachJob = (
  db: Database,
  ref: { project_id: string; session_id: string },
  jobId: string,
  condition?: SQL,
) =>
  db
    .update(schedulerJobs)
    .set({ sessionId: "", doc: detachedDoc })
    .where(and(jobKey(ref.project_id, jobId), eq(schedulerJobs.sessionId, ref.session_id), condition));

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

/**
 * Each term binds up to three parameters; 25 of D1's 100 stay for the list's project and paging, with room to spare.
 */
export const MAX_SEARCH_TERMS = rowsPerStatement(3, 25);

/**
 * Turns a Freezer search into SQL conditions. `{"_all": T}`: T holding the JSON text of a
 * list of pairs means those pairs; any other T is a substring of a string field.
 * `client_id`/`session_id` of jobs use their indexed columns.
 */
function searchConditions(
  doc: SQL,
  shape: SearchShape,
  search: Search,
  columns: Record<string, SQL>,
): { where: SQL[]; lifted: SQL[] } {
  const where: SQL[] = [];
  const lifted: SQL[] = [];
  const match: Array<[string, unknown]> = [];
  for (const pairs of search.match ?? []) {
    for (const [k, v] of Object.entries(pairs)) {
      if (k !== "_all") match.push([k, v]);
      else {
        const text = allText(v);
        const listed = pairsInText(text);
        if (listed) match.push(...listed);
        else where.push(textContains(doc, shape, text));
      }
    }
  }
  for (const [k, v] of match) {
    const column = columns[k];
    if (column && typeof v === "string") lifted.push(sql`${column} = ${v}`);
    else where.push(pairMatches(doc, shape, k, v));
  }
  const not = (search.match_not ?? []).flatMap((pairs) => Object.entries(pairs));
  for (const [k, v] of not) where.push(sql`NOT ${pairMatches(doc, shape, k, v)}`);
  return { where, lifted };
}

/** What an `_all` term searches for: its text, or the JSON text of any other value. */
const allText = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** The pairs an `_all` text lists, or null when it is plain text. Listed values obey the depth limit. */
function pairsInText(text: string): Array<[string, unknown]> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  assertJsonDepth(parsed, "The '_all' search text");
  if (!Array.isArray(parsed) || !parsed.every((p) => p && typeof p === "object" && !Array.isArray(p))) return null;
  const pairs = parsed.flatMap((p) => Object.entries(p as Record<string, unknown>));
  return pairs.every(([k]) => /^[\w-]+$/.test(k)) ? pairs : null;
}

export interface Page {
  limit: number;
  offset: number;
}

/**
 * The conditions on a document, applied only where SQLite can read it: a job stored
 * before the depth limit never matches a search on its document (and never fails one).
 */
function readable(doc: SQL, where: SQL[]): SQL[] {
  return where.length === 0 ? [] : [sql`CASE WHEN json_valid(${doc}) THEN ${and(...where)} ELSE 0 END`];
}

/** A page of session documents as their stored JSON texts. */
export async function listSessions(db: Database, projectId: string, search: Search, page: Page): Promise<string[]> {
  const { where } = searchConditions(sql`${schedulerSessions.doc}`, sessionShape, search, {});
  const rows = await db
    .select({ doc: docText(schedulerSessions.doc) })
    .from(schedulerSessions)
    .where(and(eq(schedulerSessions.projectId, projectId), ...readable(sql`${schedulerSessions.doc}`, where)))
    .orderBy(asc(schedulerSessions.seq))
    .limit(page.limit)
    .offset(page.offset);
  return rows.map((r) => r.doc);
}

/** A page of job documents as their stored JSON texts. */
export async function listJobs(db: Database, projectId: string, search: Search, page: Page): Promise<string[]> {
  const { where, lifted } = searchConditions(sql`${schedulerJobs.doc}`, jobShape, search, {
    client_id: sql`${schedulerJobs.clientId}`,
    session_id: sql`${schedulerJobs.sessionId}`,
  });
  const rows = await db
    .select({ doc: docText(schedulerJobs.doc) })
    .from(schedulerJobs)
    .where(and(eq(schedulerJobs.projectId, projectId), ...lifted, ...readable(sql`${schedulerJobs.doc}`, where)))
    .orderBy(asc(schedulerJobs.seq))
    .limit(page.limit)
    .offset(page.offset);
  return rows.map((r) => r.doc);
}

/** Counts pairs and `_all` terms so a search stays under D1's bound-parameter cap. */
export function searchTerms(search: Search): number {
  const count = (list?: Array<Record<string, unknown>>) =>
    (list ?? []).reduce(
      (n, pairs) =>
        n +
        Object.entries(pairs).reduce((m, [k, v]) => m + (k === "_all" ? (pairsInText(allText(v))?.length ?? 1) : 1), 0),
      0,
    );
  return count(search.match) + count(search.match_not);
}

/**
 * The newest sessions (creation order), `limit` of each listed project, or of all
 * projects when `projectIds` is null: one statement per project, each a range of the
 * project index read backwards, for one batch. The dashboard opens its scheduler view on these.
 */
export function newestSessionsQueries(db: Database, projectIds: string[] | null, limit: number) {
  const newest = (where?: SQL) =>
    db
      .select({ seq: schedulerSessions.seq, projectId: schedulerSessions.projectId, doc: schedulerSessions.doc })
      .from(schedulerSessions)
      .where(where)
      .orderBy(desc(schedulerSessions.seq))
      .limit(limit);
  return projectIds === null ? [newest()] : projectIds.map((p) => newest(eq(schedulerSessions.projectId, p)));
}
