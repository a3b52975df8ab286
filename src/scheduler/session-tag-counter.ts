import { DurableObject } from "cloudflare:workers";
import { database, type Database } from "../db/client";
import type { ErrorKind } from "../http/errors";
import { LEGACY_HOLD_OFF, NEVER, nowSeconds, patchedSession, sessionFrom, type Owner, type SessionDoc } from "./documents";
import type { SessionBody, SessionPatch } from "./schemas";
import {
  attachJob,
  deleteSession,
  detachAllJobs,
  detachJob,
  getJob,
  insertSession,
  updateSession,
  updateSessionIfAttached,
  type SessionRef,
} from "./store";

/** What an RPC call answers: errors travel as data (RPC keeps only an Error's message). */
export type Outcome<T> =
  | { ok: true; value: T; d1: D1Meta[] }
  | { ok: false; kind: ErrorKind; status: 400 | 404 | 409; message: string };

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
 * The start rule of the spec, applied to `doc` in place. Returns the result and
 * whether the document changed.
 */
export function startRun(doc: SessionDoc, jobId: string, tag: number, now: number): { result: StartResult; changed: boolean } {
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

/**
 * One per scheduler session (named `project/session`): every change to the session
 * runs here, one at a time, so racing agents see a single tag. The document lives in
 * this object's storage and is written through to D1 (lists and reads use D1) before
 * it is kept here: a failed D1 write changes nothing.
 */
export class SessionTagCounter extends DurableObject<Env> {
  private tail: Promise<unknown> = Promise.resolve();

  /** D1 calls let other requests in; this queue keeps read-decide-write whole. */
  private serially<T>(work: () => Promise<T>): Promise<Outcome<T>> {
    const run = this.tail.then(async (): Promise<Outcome<T>> => {
      const d1: D1Meta[] = [];
      this.d1 = d1; // one change at a time, so one list per change
      try {
        return { ok: true, value: await work(), d1 };
      } catch (e) {
        if (e instanceof Refusal) return { ok: false, kind: e.kind, status: e.status, message: e.message };
        throw e;
      }
    });
    this.tail = run.catch(() => {});
    return run;
  }

  /** D1 metadata of the change in progress, handed back so the route counts its cost. */
  private d1: D1Meta[] = [];
  private readonly db: Database = database(this.env);

  private stored(): SessionDoc | undefined {
    return this.ctx.storage.kv.get<SessionDoc>("doc");
  }

  /** Job ids in the order they were added (a JSON object puts numeric-looking keys first). */
  private order(doc: SessionDoc): string[] {
    const order = (this.ctx.storage.kv.get<string[]>("order") ?? []).filter((id) => id in doc.jobs);
    for (const id of Object.keys(doc.jobs)) if (!order.includes(id)) order.push(id);
    return order;
  }

  private keep(doc: SessionDoc, order?: string[]) {
    this.ctx.storage.kv.put("doc", doc);
    if (order) this.ctx.storage.kv.put("order", order);
  }

  private existing(): SessionDoc {
    const doc = this.stored();
    if (!doc) throw noSession();
    return doc;
  }

  private note(results: unknown[]) {
    for (const r of results) {
      const meta = (r as { meta?: D1Meta })?.meta;
      if (meta) this.d1.push(meta);
    }
  }

  /** Creates the session, or replaces it keeping its jobs (POST with an id). */
  put(ref: SessionRef, body: SessionBody, owner: Owner): Promise<Outcome<{ version: number }>> {
    return this.serially(async () => {
      const doc = sessionFrom(body, ref.sessionId, owner, this.stored());
      this.note([await insertSession(this.db, doc).run()]);
      this.keep(doc);
      return { version: doc.version };
    });
  }

  patch(ref: SessionRef, patch: SessionPatch): Promise<Outcome<{ version: number }>> {
    return this.serially(async () => {
      const doc = patchedSession(this.existing(), patch);
      this.note([await updateSession(this.db, doc).run()]);
      this.keep(doc);
      return { version: doc.version };
    });
  }

  /** Deletes the session and detaches its jobs, in one batch. */
  remove(ref: SessionRef): Promise<Outcome<null>> {
    return this.serially(async () => {
      this.existing();
      this.note(await this.db.batch([detachAllJobs(this.db, ref), deleteSession(this.db, ref)]));
      this.ctx.storage.kv.delete("doc");
      this.ctx.storage.kv.delete("order");
      return null;
    });
  }

  /** The session records the job; the job gets the session's id, tag and schedule. */
  addJob(ref: SessionRef, jobId: string): Promise<Outcome<null>> {
    return this.serially(async () => {
      const doc = structuredClone(this.existing());
      const job = await getJob(this.db, ref.projectId, jobId);
      if (!job) throw new Refusal("not_found", 404, `No job found with the given ID: ${jobId}`);
      if (job.session_id && job.session_id !== ref.sessionId) {
        throw new Refusal("conflict", 409, `Job ${jobId} already belongs to session ${job.session_id}`);
      }
      const s = job.job_schedule ?? {};
      doc.jobs[jobId] = {
        client_id: job.client_id,
        status: (s.status as string) ?? "",
        result: (s.result as string) ?? "",
        time_started: (s.time_started as number) ?? NEVER,
        time_ended: (s.time_ended as number) ?? NEVER,
      };
      doc.version += 1;
      const order = this.order(doc);
      const [jobWrite, sessionWrite] = await this.db.batch([
        attachJob(this.db, ref, jobId, doc.session_tag, doc.schedule),
        updateSessionIfAttached(this.db, doc, jobId),
      ]);
      this.note([jobWrite, sessionWrite]);
      // The job moved to another session (or vanished) since it was read: nothing was written.
      if ((sessionWrite as D1Result).meta.changes !== 1) {
        throw new Refusal("conflict", 409, `Job ${jobId} was changed by another request; try again`);
      }
      this.keep(doc, order);
      return null;
    });
  }

  /** The job leaves the map and is stopped; a job that is not in the session is left as it is. */
  removeJob(ref: SessionRef, jobId: string): Promise<Outcome<null>> {
    return this.serially(async () => {
      const doc = structuredClone(this.existing());
      const inMap = jobId in doc.jobs;
      if (!inMap) {
        // Already removed (a retry) or never added: a known job answers the same, an unknown one 404.
        if (!(await getJob(this.db, ref.projectId, jobId))) throw new Refusal("not_found", 404, `No job found with the given ID: ${jobId}`);
        this.note([await detachJob(this.db, ref, jobId).run()]);
        return null;
      }
      delete doc.jobs[jobId];
      doc.version += 1;
      this.note(await this.db.batch([detachJob(this.db, ref, jobId), updateSession(this.db, doc)]));
      this.keep(doc, this.order(doc));
      return null;
    });
  }

  /** `start` / `end` of the spec; answers `{result, session_tag}`. */
  act(ref: SessionRef, action: SessionAction): Promise<Outcome<{ result: string; session_tag: number }>> {
    return this.serially(async () => {
      const doc = structuredClone(this.existing());
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
    this.note([await updateSession(this.db, doc).run()]);
    this.keep(doc);
  }
}
