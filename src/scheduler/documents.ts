import type { JobBody, JobPatch, Schedule, SessionBody, SessionPatch } from "./schemas";

/** "-1 before": the Freezer API's timestamp for a moment that has not happened. */
export const NEVER = -1;
/** Hold-off for a stored session that has none (the reference's fallback). */
export const LEGACY_HOLD_OFF = 60;

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A job as its session records it. */
export interface SessionJob {
  client_id: string;
  status: string;
  result: string;
  time_started: number;
  time_ended: number;
}

export interface SessionDoc {
  session_id: string;
  session_tag: number;
  description: string;
  hold_off: number;
  schedule: Schedule;
  jobs: Record<string, SessionJob>;
  status: "active" | "running" | "completed";
  result: "" | "success" | "fail";
  time_start: number;
  time_end: number;
  time_started: number;
  time_ended: number;
  last_start: number;
  user_id: string;
  project_id: string;
  version: number;
}

export interface JobDoc {
  job_id: string;
  client_id: string;
  description: string;
  job_actions: unknown[];
  job_schedule: Schedule & Record<string, unknown>;
  session_id: string;
  session_tag: number;
  user_id: string;
  project_id: string;
  version: number;
}

export interface Owner {
  projectId: string;
  userId: string;
}

/** Server-owned keys a body may echo back; they never overwrite what the server keeps. */
function withoutServerOwned<T extends Record<string, unknown>>(body: T) {
  const { session_id: _s, jobs: _j, version: _v, user_id: _u, project_id: _p, ...rest } = body;
  return rest;
}

/** A new session (or a replacement keeping the run state the Durable Object owns: jobs). */
export function sessionFrom(body: SessionBody, sessionId: string, owner: Owner, previous?: SessionDoc): SessionDoc {
  const fields = withoutServerOwned(body);
  return {
    session_id: sessionId,
    session_tag: 0,
    description: "",
    hold_off: 30,
    status: "active",
    result: "",
    time_start: NEVER,
    time_end: NEVER,
    time_started: NEVER,
    time_ended: NEVER,
    last_start: NEVER,
    ...fields,
    schedule: body.schedule,
    jobs: previous?.jobs ?? {},
    user_id: previous?.user_id ?? owner.userId,
    project_id: owner.projectId,
    version: (previous?.version ?? 0) + 1,
  };
}

export function patchedSession(doc: SessionDoc, patch: SessionPatch): SessionDoc {
  const { schedule, ...fields } = withoutServerOwned(patch);
  return {
    ...doc,
    ...fields,
    schedule: schedule ? { ...doc.schedule, ...schedule } : doc.schedule,
    version: doc.version + 1,
  };
}

/** A job document as created or replaced; creation stamps the schedule's times. */
export function jobFrom(body: JobBody, jobId: string, owner: Owner, now: number): JobDoc {
  const { job_id: _i, user_id: _u, project_id: _p, version: _v, client_id, ...fields } = body;
  return {
    job_id: jobId,
    client_id,
    description: "",
    session_id: "",
    session_tag: 0,
    ...fields,
    job_schedule: { ...body.job_schedule, time_created: now, time_started: NEVER, time_ended: NEVER },
    user_id: owner.userId,
    project_id: owner.projectId,
    version: 1,
  };
}

export function patchedJob(doc: JobDoc, patch: JobPatch): JobDoc {
  const { job_id: _i, user_id: _u, project_id: _p, version: _v, job_schedule, ...fields } = patch;
  return {
    ...doc,
    ...fields,
    job_schedule: job_schedule ? { ...doc.job_schedule, ...job_schedule } : doc.job_schedule,
    version: doc.version + 1,
  };
}
