import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sessionObjectName } from "../src/scheduler/store";
import { callJson } from "./helpers/http";
import { act, addJob, ageRun, createJob, createSession, getSession } from "./helpers/scheduler";

let n = 0;
const project = () => `act${Date.now().toString(36)}${n++}`;

async function sessionWithJobs(count: number, body: Record<string, unknown> = {}, ids?: string[]) {
  const p = project();
  const s = await createSession(p, body);
  const jobs: string[] = [];
  for (let i = 0; i < count; i++) {
    const j = await createJob(p, { job_id: ids?.[i], client_id: `node-${i}` });
    await addJob(p, s, j);
    jobs.push(j);
  }
  return { p, s, jobs };
}

const sessionObject = (projectId: string, sessionId: string) =>
  env.SESSION_TAGS.get(env.SESSION_TAGS.idFromName(sessionObjectName({ projectId, sessionId })));

const start = (p: string, s: string, job_id: string, current_tag: unknown) =>
  act(p, s, { start: { job_id, current_tag } });
const end = (p: string, s: string, job_id: string, result: string) =>
  act(p, s, { end: { job_id, current_tag: 0, result } });

describe("start", () => {
  it("moves the tag on outside the hold-off, lets stale agents join inside it, holds off the rest", async () => {
    const { p, s, jobs } = await sessionWithJobs(3, { hold_off: 600 });
    const [a, b, c] = jobs;

    const first = await start(p, s, a, 0);
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ result: "success", session_tag: 1 });
    const doc = await getSession(p, s);
    expect(doc).toMatchObject({ session_tag: 1, status: "running", result: "" });
    expect(doc.time_start).toBe(doc.last_start);
    expect(Math.abs(doc.time_start - Date.now() / 1000)).toBeLessThan(120);
    expect(doc.jobs[a]).toMatchObject({ status: "running", result: "", time_started: doc.time_start, time_ended: -1 });

    // Inside the window an agent with the previous tag joins the run (freezerclient sends tags as text).
    expect((await start(p, s, b, "0")).body).toEqual({ result: "success", session_tag: 1 });
    expect((await getSession(p, s)).jobs[b].status).toBe("running");

    // Inside the window an agent already on the current tag is held off: nothing changes.
    const before = await getSession(p, s);
    expect((await start(p, s, c, 1)).body).toEqual({ result: "hold-off", session_tag: 1 });
    expect(await getSession(p, s)).toEqual(before);
  });

  it("outside the hold-off, a stale tag is out-of-sync and the current one starts the next run", async () => {
    const { p, s, jobs } = await sessionWithJobs(2);
    const [a, b] = jobs;
    await start(p, s, a, 0);
    await ageRun(p, s);
    const before = await getSession(p, s);
    expect((await start(p, s, b, 0)).body).toEqual({ result: "out-of-sync", session_tag: 1 });
    expect(await getSession(p, s)).toEqual(before);
    expect((await start(p, s, b, 1)).body).toEqual({ result: "success", session_tag: 2 });
    expect((await getSession(p, s)).session_tag).toBe(2);
  });

  it("refuses a tag above the session's, an unknown job and a non-numeric tag with 400", async () => {
    const { p, s, jobs } = await sessionWithJobs(1, { session_tag: 4 });
    const high = await start(p, s, jobs[0], 5);
    expect(high.status).toBe(400);
    expect(high.body).toEqual({
      title: "Bad request format",
      description: "requested tag value too high. Session Tag: 4 Job Tag: 5",
    });
    const stranger = await start(p, s, "not-in-session", 4);
    expect(stranger.status).toBe(400);
    expect(stranger.body.description).toBe("job_id not found in session");
    for (const tag of ["five", null, 1.5, {}]) {
      const res = await start(p, s, jobs[0], tag);
      expect(res.status, JSON.stringify(tag)).toBe(400);
      expect(res.body.title).toBe("Bad request format");
    }
    expect((await getSession(p, s)).version).toBe(2);
  });

  it("uses a hold-off of 60 seconds where a stored session lacks one", async () => {
    const { p, s, jobs } = await sessionWithJobs(1);
    // A row as an older version stored it; the object reads D1 again once its copy is dropped.
    await env.DB.prepare(
      "UPDATE scheduler_sessions SET doc = json_set(json_remove(doc, '$.hold_off'), '$.time_start', ?) WHERE project_id = ? AND session_id = ?",
    )
      .bind(Math.floor(Date.now() / 1000) - 45, p, s)
      .run();
    await sessionObject(p, s).forget();
    // 45 s ago is inside a 60 s window: the current tag is held off.
    expect((await start(p, s, jobs[0], 0)).body).toEqual({ result: "hold-off", session_tag: 0 });
  });

  it("50 agents starting at once with the same tag move it on exactly once", async () => {
    const { p, s, jobs } = await sessionWithJobs(50);
    const answers = await Promise.all(jobs.map((j) => start(p, s, j, "0")));
    for (const a of answers) {
      expect(a.status).toBe(202);
      // One moved the tag to 1; the other 49 joined that run (inside its hold-off, with the older tag).
      expect(a.body).toEqual({ result: "success", session_tag: 1 });
    }
    const doc = await getSession(p, s);
    expect(doc.session_tag).toBe(1);
    expect(Object.values(doc.jobs).every((j: any) => j.status === "running")).toBe(true);
    // create + 50 adds + 50 starts: every start was applied once, none lost.
    expect(doc.version).toBe(101);

    // Next run: 50 agents on tag 1, outside the hold-off; still exactly one move.
    await ageRun(p, s);
    const again = await Promise.all(jobs.map((j) => start(p, s, j, 1)));
    expect(new Set(again.map((a) => JSON.stringify(a.body)))).toEqual(
      new Set([JSON.stringify({ result: "success", session_tag: 2 })]),
    );
    expect(await getSession(p, s)).toMatchObject({ session_tag: 2, version: 152 });

    // And agents already on the new tag, inside its hold-off, are all held off.
    const held = await Promise.all(jobs.map((j) => start(p, s, j, 2)));
    expect(held.every((a) => a.body.result === "hold-off" && a.body.session_tag === 2)).toBe(true);
    expect((await getSession(p, s)).session_tag).toBe(2);
  });

  it("writes the document through to D1 exactly as the Durable Object holds it", async () => {
    const { p, s, jobs } = await sessionWithJobs(2);
    await start(p, s, jobs[0], 0);
    await end(p, s, jobs[0], "success");
    const held = await runInDurableObject(sessionObject(p, s), (_, state) => state.storage.kv.get("doc"));
    expect(held).toMatchObject({ session_id: s, project_id: p });
    const row = await env.DB.prepare("SELECT doc FROM scheduler_sessions WHERE project_id = ? AND session_id = ?")
      .bind(p, s)
      .first<{ doc: string }>();
    expect(JSON.parse(row!.doc)).toEqual(held);
    expect(await getSession(p, s)).toEqual(held);
  });
});

describe("end", () => {
  it("completes jobs and the session when all have, walking jobs in the order they were added", async () => {
    // Numeric-looking ids: a JSON object would list "10" before "20"; the order added is 20, 10.
    const { p, s } = await sessionWithJobs(2, {}, ["20", "10"]);
    await start(p, s, "20", 0);
    await start(p, s, "10", 0);

    const first = await end(p, s, "10", "fail");
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ result: "success", session_tag: 1 });
    let doc = await getSession(p, s);
    // "20" is still running, and it comes first: the session runs on.
    expect(doc).toMatchObject({ status: "running", result: "", time_end: -1 });
    expect(doc.jobs["10"]).toMatchObject({ status: "completed", result: "fail" });
    expect(doc.jobs["10"].time_ended).toBeGreaterThan(0);

    await end(p, s, "20", "success");
    doc = await getSession(p, s);
    expect(doc).toMatchObject({ status: "completed", result: "fail" });
    expect(Math.abs(doc.time_end - Date.now() / 1000)).toBeLessThan(120);

    // A completed session keeps its result; the job's own state still changes.
    await end(p, s, "10", "success");
    doc = await getSession(p, s);
    expect(doc).toMatchObject({ status: "completed", result: "fail" });
    expect(doc.jobs["10"].result).toBe("success");
  });

  it("succeeds when every job succeeded, and ignores current_tag", async () => {
    const { p, s, jobs } = await sessionWithJobs(2);
    await start(p, s, jobs[0], 0);
    await start(p, s, jobs[1], 0);
    await act(p, s, { end: { job_id: jobs[0], current_tag: 99, result: "success" } }, "actions");
    const last = await act(p, s, { end: { job_id: jobs[1], current_tag: "x", result: "success" } });
    expect(last.body).toEqual({ result: "success", session_tag: 1 });
    expect(await getSession(p, s)).toMatchObject({ status: "completed", result: "success" });
    expect((await end(p, s, "stranger", "success")).body.description).toBe("job_id not found in session");
  });
});

describe("action bodies", () => {
  it("answers 400 for an empty or non-object body and 405 for an unknown action", async () => {
    const { p, s, jobs } = await sessionWithJobs(1);
    for (const body of ["", "[]", "{}", "3", "null"]) {
      const res = await callJson(`/v2/${p}/sessions/${s}/action`, { method: "POST", body });
      expect(res.status, body).toBe(400);
      expect(res.body).toEqual({ title: "Bad request format", description: "Bad action request format" });
    }
    const unknown = await act(p, s, { restart: { job_id: jobs[0] } });
    expect(unknown.status).toBe(405);
    expect(unknown.body).toEqual({ title: "Bad Method", description: "Bad Action Method" });
    // The action is the first key.
    expect((await act(p, s, { start: { job_id: jobs[0], current_tag: 0 }, end: {} }, "actions")).body).toEqual({
      result: "success",
      session_tag: 1,
    });
    expect((await act(p, s, { end: { job_id: jobs[0] } })).status).toBe(400);
    expect((await act(p, s, { start: "now" })).status).toBe(400);
  });
});
