import { DurableObject } from "cloudflare:workers";
import type { BatchItem } from "drizzle-orm/batch";
import { type Database, database } from "../db/client";
import { serialQueue } from "../durable/serially";
import { JSON_MAX_DEPTH } from "../http/body";
import { countingD1, D1Cost, type D1Work } from "../http/d1-cost";
import type { ErrorKind } from "../http/errors";
import {
  LEGACY_HOLD_OFF,
  NEVER,
  nowSeconds,
  type Owner,
  patchedSession,
  type SessionDoc,
  sessionFrom,
} from "./documents";
import type { SessionBody, SessionPatch } from "./schemas";
import {
  addJobWrites,
  deleteSession,
  detachAllJobs,
  detachJob,
  getJob,
  putSession,
  readJobForSession,
  readSession,
  removeJobWrites,
  type SessionRef,
  sessionObjectName,
  updateSession,
} from "./store";

/**
 * What an RPC call answers: errors travel as data (RPC keeps only an Error's message);
 * either way with the D1 work the call did, for the route's Server-Timing.
 */
export type Outcome<T> = (
  | { ok: true; value: T }
  | { ok: false; kind: ErrorKind; status: 400 | 404 | 409; message: string }
) & {
  d1: D1Work;
};

class Refusal {
  constructor(
    readonly kind: ErrorKind,
    readonly status: 400 | 404 | 409,
    readonly message: string,
  ) {}
}

const badRequest = (m: string) => new Refusal("other", 400, m);
const noSession = () => new Refusal("not_found", 404, "No session found with the given ID");

export type StartResult = "success" | "hold-off" | "out-of-sync";

/**
 * The start rule (docs/api/scheduler.md, **start** under Routes), applied to `doc` in
 * place. Returns the result and whether the document changed.
 */
export function startRun(
  doc: SessionDoc,
  jobId: string,
  tag: number,
  now: number,
): { result: StartResult; changed: boolean } {
  if (tag > doc.session_tag) {
    throw badRequest(`requested tag value too high. Session Tag: ${doc.session_tag} Job Tag: ${tag}`);
  }
  const job = doc.jobs[jobId];
  if (!job) throw badRequest("job_id not found in session");
  const holdOff = doc.hold_off ?? LEGACY_HOLD_OFF;
  const joinRun = () => Object.assign(job, { status: "running", result: "", time_started: now, time_ended: NEVER });
  if (now - doc.time_start <= holdOff) {
    // A run started moments ago: agents still holding the previous tag join it.
    if (tag < doc.session_tag) {
      joinRun();
      return { result: "success", changed: true };
    }
    return { result: "hold-off", changed: false };
  }
  if (tag === doc.session_tag) {
    // The first agent outside the window moves the tag on: a new run.
    doc.session_tag += 1;
    doc.time_start = now;
    doc.last_start = now;
    doc.status = "running";
    doc.result = "";
    joinRun();
    return { result: "success", changed: true };
  }
  return { result: "out-of-sync", changed: false };
}

/** The end rule: the job completes; the session completes when every job has. */
export function endJob(doc: SessionDoc, order: string[], jobId: string, result: string, now: number) {
  const job = doc.jobs[jobId];
  if (!job) throw badRequest("job_id not found in session");
  Object.assign(job, { status: "completed", result, time_ended: now });
  let overall: "running" | "fail" | "success" = "success";
  for (const id of order) {
    const j = doc.jobs[id];
    if (j.status !== "completed") {
      overall = "running";
      break;
    }
    if (j.result !== "success") {
      overall = "fail";
      break;
    }
  }
  if (overall !== "running" && doc.status !== "completed") {
    doc.status = "completed";
    doc.result = overall;
    doc.time_end = now;
  }
}

export type SessionAction =
  | { action: "start"; jobId: string; tag: number }
  | { action: "end"; jobId: string; result: string };

/** A conditional write changed nothing: another writer moved the row since it was read. */
class Stale {}

/** Attempts at an operation whose row keeps moving under it (a job moving between sessions). */
const ATTEMPTS = 3;

/**
 * One per scheduler session, named by `sessionObjectName`: every change to the session
 * runs here, one at a time, so racing agents see a single tag. D1 holds the document;
 * this object keeps a copy (and the order jobs were added in) so a start reads nothing.
 * Every D1 write is conditioned on the version the copy holds: when another writer moved
 * the row (a job moving to another session leaves this map), the write changes nothing,
 * the copy is dropped and the operation runs again on the row as it is. The copy is
 * dropped before each write and kept again after it, so whatever fails in between, the
 * object never holds a document D1 does not: it only ever holds D1's row or nothing.
 */
export class SessionTagCounter extends DurableObject<Env> {
  /** D1 calls let other requests in; this queue keeps read-decide-write whole. */
  private readonly serially = serialQueue();

  /** D1 for the change in progress, counting into its cost (one change at a time, so one cost per change). */
  private db: Database = database(this.env);

  /** Runs one change in the queue, again on a stale row, and answers it with its D1 work. */
  private change<T>(work: () => Promise<T>): Promise<Outcome<T>> {
    return this.serially(async (): Promise<Outcome<T>> => {
      const cost = new D1Cost();
      this.db = database({ ...this.env, DB: countingD1(this.env.DB, cost) });
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            return { ok: true, value: await work(), d1: cost.work() };
          } catch (e) {
            if (!(e instanceof Stale)) throw e;
            this.drop();
            if (attempt === ATTEMPTS)
              throw new Refusal("other", 409, "The session kept changing while it was being updated; try again");
          }
        }
      } catch (e) {
        if (e instanceof Refusal)
          return { ok: false, kind: e.kind, status: e.status, message: e.message, d1: cost.work() };
        throw e;
      }
    });
  }

  /** The session as D1 holds it: the kept copy, else the row (kept for the next call). */
  private async current(ref: SessionRef): Promise<SessionDoc | undefined> {
    const kept = this.ctx.storage.kv.get<SessionDoc>("doc");
    // The name holds both ids, so a kept copy is always this pair's; checked all the same.
    if (kept && kept.project_id === ref.projectId && kept.session_id === ref.sessionId) return kept;
    const generation = this.generation;
    const doc = await readSession(this.db, ref);
    if (doc && generation === this.generation) this.ctx.storage.kv.put("doc", doc);
    return doc ?? undefined;
  }

  private async existing(ref: SessionRef): Promise<SessionDoc> {
    const doc = await this.current(ref);
    if (!doc) throw noSession();
    return structuredClone(doc);
  }

  /** Job ids in the order they were added (a JSON object puts numeric-looking keys first). */
  private order(doc: SessionDoc): string[] {
    const order = (this.ctx.storage.kv.get<string[]>("order") ?? []).filter((id) => id in doc.jobs);
    for (const id of Object.keys(doc.jobs)) if (!order.includes(id)) order.push(id);
    return order;
  }

  /** Counts `forget` calls, so a copy read before one is not kept after it. */
  private generation = 0;

  private drop() {
    this.ctx.storage.kv.delete("doc");
  }

  /** Called by the session a job moved to: this session's row changed behind its copy. */
  forget() {
    this.generation += 1;
    this.drop();
  }

  /**
   * Runs `writes` (one batch) with the copy dropped; keeps `doc` when the first write
   * changed a row, else the row moved since it was read: Stale.
   */
  private async commit(
    doc: SessionDoc | null,
    writes: readonly [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]],
    order?: string[],
  ) {
    this.drop();
    const generation = this.generation;
    const results = (await this.db.batch(writes)) as unknown as D1Result[];
    if (results[0].meta.changes !== 1) throw new Stale();
    if (doc && generation === this.generation) this.ctx.storage.kv.put("doc", doc);
    if (order) this.ctx.storage.kv.put("order", order);
  }

  /**
   * Creates the session, or replaces it keeping its jobs (POST with an id). `fresh`: the
   * id was just made by the server, so there is no row to read first.
   */
  put(ref: SessionRef, body: SessionBody, owner: Owner, fresh = false): Promise<Outcome<{ version: number }>> {
    let first = fresh;
    return this.change(async () => {
      const previous = first ? undefined : await this.current(ref);
      first = false;
      const doc = sessionFrom(body, ref.sessionId, owner, previous);
      await this.commit(doc, [putSession(this.db, doc, previous?.version ?? null)]);
      return { version: doc.version };
    });
  }

  patch(ref: SessionRef, patch: SessionPatch): Promise<Outcome<{ version: number }>> {
    return this.change(async () => {
      const doc = patchedSession(await this.existing(ref), patch);
      await this.commit(doc, [updateSession(this.db, doc)]);
      return { version: doc.version };
    });
  }

  /** Deletes the session and detaches its jobs, in one batch. */
  remove(ref: SessionRef): Promise<Outcome<null>> {
    return this.change(async () => {
      await this.existing(ref);
      await this.commit(null, [deleteSession(this.db, ref), detachAllJobs(this.db, ref)]);
      this.ctx.storage.kv.delete("order");
      return null;
    });
  }

  /**
   * The session records the job; the job gets the session's id, tag and schedule. A job
   * in another session moves: it leaves that session's map in the same batch.
   */
  addJob(ref: SessionRef, jobId: string): Promise<Outcome<null>> {
    return this.change(async () => {
      const doc = await this.existing(ref);
      const job = await readJobForSession(this.db, ref.projectId, jobId);
      if (!job) throw new Refusal("not_found", 404, `No job found with the given ID: ${jobId}`);
      if (!job.readable) throw unreadableJob(jobId);
      const s = job.doc.job_schedule ?? {};
      doc.jobs[jobId] = {
        client_id: job.doc.client_id,
        status: (s.status as string) ?? "",
        result: (s.result as string) ?? "",
        time_started: (s.time_started as number) ?? NEVER,
        time_ended: (s.time_ended as number) ?? NEVER,
      };
      doc.version += 1;
      const order = this.order(doc);
      // Stale also when the job moved since it was read: the next attempt reads it again.
      await this.commit(doc, addJobWrites(this.db, doc, jobId, job.sessionId), order);
      if (job.sessionId && job.sessionId !== ref.sessionId) {
        // The other session's row changed in that batch; its object must not answer from its copy.
        // Should this call fail, the move stands: that object's next write is refused (stale
        // version) and it reads the row again.
        const other = { projectId: ref.projectId, sessionId: job.sessionId };
        await this.env.SESSION_TAGS.get(this.env.SESSION_TAGS.idFromName(sessionObjectName(other)))
          .forget()
          .catch(() => {});
      }
      return null;
    });
  }

  /** The job leaves the map and is stopped; a job that is not in the session is left as it is. */
  removeJob(ref: SessionRef, jobId: string): Promise<Outcome<null>> {
    return this.change(async () => {
      const doc = await this.existing(ref);
      if (!(jobId in doc.jobs)) {
        // Already removed (a retry) or never added: a known job answers the same, an unknown one 404.
        if (!(await getJob(this.db, ref.projectId, jobId)))
          throw new Refusal("not_found", 404, `No job found with the given ID: ${jobId}`);
        await detachJob(this.db, doc, jobId).run();
        return null;
      }
      delete doc.jobs[jobId];
      doc.version += 1;
      await this.commit(doc, removeJobWrites(this.db, doc, jobId), this.order(doc));
      return null;
    });
  }

  /** `start` / `end` (docs/api/scheduler.md); answers `{result, session_tag}`. */
  act(ref: SessionRef, action: SessionAction): Promise<Outcome<{ result: string; session_tag: number }>> {
    return this.change(async () => {
      const doc = await this.existing(ref);
      const now = nowSeconds();
      if (action.action === "start") {
        const { result, changed } = startRun(doc, action.jobId, action.tag, now);
        if (changed) await this.write(doc);
        return { result, session_tag: doc.session_tag };
      }
      endJob(doc, this.order(doc), action.jobId, action.result, now);
      await this.write(doc);
      return { result: "success", session_tag: doc.session_tag };
    });
  }

  private async write(doc: SessionDoc) {
    doc.version += 1;
    await this.commit(doc, [updateSession(this.db, doc)]);
  }
}

/** A job stored before the depth limit: SQLite cannot change it in place; replacing it repairs it. */
export const unreadableJob = (jobId: string) =>
  new Refusal(
    "other",
    409,
    `Job ${jobId} was stored before the JSON depth limit (${JSON_MAX_DEPTH} levels) and nests deeper than the database can read: replace it (POST /v2/{project_id}/jobs/${jobId}) or delete it`,
  );
