import { expect } from "vitest";
import { callJson } from "./http";

/** Scheduler test fixtures: sessions and jobs made through the API, as freezerclient makes them. */
export const schedule = { schedule_interval: "1 days", schedule_start_date: "2026-01-01T02:00:00" };

export async function createSession(
  project: string,
  body: Record<string, unknown> = {},
  token?: string,
): Promise<string> {
  const res = await callJson(`/v2/${project}/sessions/`, { method: "POST", json: { schedule, ...body }, token });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.session_id;
}

export async function createJob(project: string, body: Record<string, unknown> = {}, token?: string): Promise<string> {
  const res = await callJson(`/v2/${project}/jobs/`, {
    method: "POST",
    json: {
      client_id: "host-a",
      job_actions: [{ freezer_action: { action: "backup", mode: "fs" }, max_retries: 3 }],
      job_schedule: {},
      ...body,
    },
    token,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.job_id;
}

export async function addJob(project: string, sessionId: string, jobId: string) {
  const res = await callJson(`/v2/${project}/sessions/${sessionId}/jobs/${jobId}`, { method: "PUT" });
  expect(res.status, JSON.stringify(res.body)).toBe(204);
}

export function act(project: string, sessionId: string, json: unknown, path = "action") {
  return callJson(`/v2/${project}/sessions/${sessionId}/${path}`, { method: "POST", json });
}

export const getSession = async (project: string, sessionId: string) =>
  (await callJson(`/v2/${project}/sessions/${sessionId}`)).body;
export const getJob = async (project: string, jobId: string) => (await callJson(`/v2/${project}/jobs/${jobId}`)).body;

/** Puts the session's last run start far in the past: the next start is outside its hold-off. */
export async function ageRun(project: string, sessionId: string) {
  const res = await callJson(`/v2/${project}/sessions/${sessionId}`, {
    method: "PATCH",
    json: { time_start: Math.floor(Date.now() / 1000) - 100_000 },
  });
  expect(res.status).toBe(200);
}
