import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { JSON_MAX_DEPTH } from "../src/http/body";
import { sessionObjectName } from "../src/scheduler/store";
import { call, callJson, mintToken } from "./helpers/http";
import { act, addJob, createJob, createSession, getJob, getSession, schedule } from "./helpers/scheduler";

let n = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${n++}`;
const sessionObject = (projectId: string, sessionId: string) =>
  env.SESSION_TAGS.get(env.SESSION_TAGS.idFromName(sessionObjectName({ projectId, sessionId })));
const keptCopy = (projectId: string, sessionId: string) =>
  runInDurableObject(sessionObject(projectId, sessionId), (_, state) => state.storage.kv.get("doc") ?? null);
const row = (projectId: string, sessionId: string) =>
  env.DB.prepare("SELECT doc FROM scheduler_sessions WHERE project_id = ? AND session_id = ?")
    .bind(projectId, sessionId)
    .first<{ doc: string }>();

describe("a session or job belongs to its project", () => {
  it("answers 404 with nothing changed to `PATCH /v2/pa/sessions/q%2F<S>` and every other route, for S of project pa/q", async () => {
    const pa = unique("pa");
    const victim = `${pa}/q`;
    const v = encodeURIComponent(victim);
    const { token } = await mintToken({ user: "mallory", role: "user", projects: [pa] });
    const s = await createSession(v, { description: "victim's" });
    const j = await createJob(v, { job_id: "victim-job" });
    await addJob(v, s, j);
    const snapshot = async () => [
      await getSession(v, s),
      await getJob(v, j),
      await callJson(`/v2/${v}/sessions/`),
      await callJson(`/v2/${v}/jobs/`),
    ];
    const before = await snapshot();

    const attacks: Array<[string, string, unknown?]> = [
      ["PATCH", `/v2/${pa}/sessions/q%2F${s}`, { description: "pwned" }],
      ["POST", `/v2/${pa}/sessions/q%2F${s}/action`, { end: { job_id: j, current_tag: 0, result: "fail" } }],
      ["POST", `/v2/${pa}/sessions/q%2F${s}/actions`, { start: { job_id: j, current_tag: 0 } }],
      ["PUT", `/v2/${pa}/sessions/q%2F${s}/jobs/${j}`],
      ["DELETE", `/v2/${pa}/sessions/q%2F${s}/jobs/${j}`],
      ["DELETE", `/v2/${pa}/sessions/q%2F${s}`],
      ["GET", `/v2/${pa}/sessions/q%2F${s}`],
      ["GET", `/v2/${pa}/jobs/q%2F${j}`],
      ["PATCH", `/v2/${pa}/jobs/q%2F${j}`, { description: "pwned" }],
      ["POST", `/v2/${pa}/jobs/q%2F${j}/event`, { stop: null }],
      ["DELETE", `/v2/${pa}/jobs/q%2F${j}`],
    ];
    for (const [method, path, json] of attacks) {
      const res = await callJson(path, { method, json, token });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.title).toBe("Not Found");
    }
    // Naming the session's real project is refused outright; a replace with such an id is a bad id.
    for (const method of ["GET", "PATCH", "DELETE"]) {
      const res = await callJson(`/v2/${v}/sessions/${s}`, {
        method,
        json: method === "PATCH" ? { description: "pwned" } : undefined,
        token,
      });
      expect(res.status).toBe(403);
    }
    const replace = await callJson(`/v2/${pa}/sessions/q%2F${s}`, { method: "POST", json: { schedule }, token });
    expect(replace.status).toBe(400);

    expect(await snapshot()).toEqual(before);
    // The victim's session still works, and its object and row agree.
    expect((await act(v, s, { start: { job_id: j, current_tag: 0 } })).status).toBe(202);
    expect(JSON.parse((await row(victim, s))!.doc)).toEqual(await keptCopy(victim, s));
  });

  it("names each session's Durable Object by both ids unambiguously, and the object checks the pair", async () => {
    expect(sessionObjectName({ projectId: "pa", sessionId: "q/S" })).not.toBe(
      sessionObjectName({ projectId: "pa/q", sessionId: "S" }),
    );
    const victim = `${unique("pa")}/q`;
    const s = await createSession(encodeURIComponent(victim));
    const [pa, q] = [victim.slice(0, -2), "q"];
    // Even called directly, the object for (pa, "q/S") knows no such session.
    const ref = { projectId: pa, sessionId: `${q}/${s}` };
    const outcome = await env.SESSION_TAGS.get(env.SESSION_TAGS.idFromName(sessionObjectName(ref))).patch(ref, {
      description: "pwned",
    });
    expect(outcome).toMatchObject({ ok: false, status: 404 });
    expect(JSON.parse((await row(victim, s))!.doc).description).toBe("");
  });
});

describe("D1 and the session's object never disagree", () => {
  it("after a DELETE: the row and the copy are gone, the jobs are free, every route answers 404, the id can be used again", async () => {
    const p = unique("del");
    const s = await createSession(p, { description: "to delete" });
    const j = await createJob(p);
    await addJob(p, s, j);
    expect(await keptCopy(p, s)).toEqual(JSON.parse((await row(p, s))!.doc));

    expect((await call(`/v2/${p}/sessions/${s}`, { method: "DELETE" })).status).toBe(204);
    expect(await row(p, s)).toBeNull();
    expect(await keptCopy(p, s)).toBeNull();
    expect(await getJob(p, j)).toMatchObject({ session_id: "", session_tag: 0, job_schedule: { event: "stop" } });
    for (const [method, path, json] of [
      ["GET", "", undefined],
      ["PATCH", "", { description: "x" }],
      ["DELETE", "", undefined],
      ["POST", "/action", { start: { job_id: j, current_tag: 0 } }],
      ["PUT", `/jobs/${j}`, undefined],
      ["DELETE", `/jobs/${j}`, undefined],
    ] as const) {
      expect((await callJson(`/v2/${p}/sessions/${s}${path}`, { method, json })).status, `${method} ${path}`).toBe(404);
    }
    expect(await row(p, s)).toBeNull();
    // A replace with the same id makes a new session: nothing of the old one comes back.
    const again = await callJson(`/v2/${p}/sessions/${s}`, { method: "POST", json: { schedule } });
    expect(again.status).toBe(201);
    expect(again.body.version).toBe(1);
    expect(await getSession(p, s)).toMatchObject({ jobs: {}, description: "", version: 1 });
    expect(await keptCopy(p, s)).toEqual(JSON.parse((await row(p, s))!.doc));
  });

  it("rebuilds a session's object from its D1 row (objects named before the pair naming start empty)", async () => {
    const p = unique("rebuild");
    const s = await createSession(p, { hold_off: 600 });
    const j = await createJob(p);
    await addJob(p, s, j);
    await runInDurableObject(sessionObject(p, s), (_, state) => state.storage.deleteAll());
    const started = await act(p, s, { start: { job_id: j, current_tag: 0 } });
    expect(started.body).toEqual({ result: "success", session_tag: 1 });
    expect(await getSession(p, s)).toMatchObject({ session_tag: 1, version: 3, jobs: { [j]: { status: "running" } } });
  });
});

describe("a job in another session moves", () => {
  it("leaves the old map in the same step; the old session's object answers from the new state", async () => {
    const p = unique("move");
    const [s1, s2] = [await createSession(p, { hold_off: 600 }), await createSession(p, { session_tag: 4 })];
    const [j, other] = [await createJob(p), await createJob(p)];
    await addJob(p, s1, j);
    await addJob(p, s1, other);
    expect((await act(p, s1, { start: { job_id: j, current_tag: 0 } })).body.result).toBe("success");

    expect((await call(`/v2/${p}/sessions/${s2}/jobs/${j}`, { method: "PUT" })).status).toBe(204);
    expect(Object.keys((await getSession(p, s1)).jobs)).toEqual([other]);
    expect(Object.keys((await getSession(p, s2)).jobs)).toEqual([j]);
    expect(await getJob(p, j)).toMatchObject({ session_id: s2, session_tag: 4 });
    // s1's object dropped its copy: the job is no longer in that session.
    const stale = await act(p, s1, { start: { job_id: j, current_tag: 0 } });
    expect(stale.status).toBe(400);
    expect(stale.body.description).toBe("job_id not found in session");
    for (const s of [s1, s2]) {
      const kept = await keptCopy(p, s);
      if (kept) expect(kept).toEqual(JSON.parse((await row(p, s))!.doc));
    }
  });

  it("racing moves of one job leave it in exactly one session's map, the one its document names", async () => {
    const p = unique("race");
    const sessions = [await createSession(p), await createSession(p), await createSession(p), await createSession(p)];
    const j = await createJob(p);
    await addJob(p, sessions[0], j);
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => call(`/v2/${p}/sessions/${sessions[i % 4]}/jobs/${j}`, { method: "PUT" })),
    );
    // Every move succeeds, or (when the job kept moving under it) is refused whole with a 409.
    for (const a of answers) expect([204, 409]).toContain(a.status);
    expect(answers.some((a) => a.status === 204)).toBe(true);
    const holders = [];
    for (const s of sessions) if (j in (await getSession(p, s)).jobs) holders.push(s);
    expect(holders).toEqual([(await getJob(p, j)).session_id]);
  });
});

describe("the depth limit at every scheduler door", () => {
  it("refuses a document one level past the limit on every route that takes a body, and changes nothing", async () => {
    const p = unique("door");
    const s = await createSession(p);
    const j = await createJob(p, { job_id: "door-job" });
    await addJob(p, s, j);
    const before = [await getSession(p, s), await getJob(p, j)];
    const deep = JSON.parse(`${"[".repeat(JSON_MAX_DEPTH)}${"]".repeat(JSON_MAX_DEPTH)}`);
    const action = { freezer_action: { action: "backup", mode: "fs", extra: deep } };
    const cases: Array<[string, string, unknown]> = [
      ["POST", `/v2/${p}/sessions/`, { schedule: {}, description: "x", extra: deep }],
      ["POST", `/v2/${p}/sessions/${s}`, { schedule: {}, junk: deep }],
      ["PATCH", `/v2/${p}/sessions/${s}`, { description: "x", junk: deep }],
      ["POST", `/v2/${p}/sessions/${s}/action`, { start: { job_id: j, current_tag: deep } }],
      ["POST", `/v2/${p}/jobs/`, { client_id: "c", job_actions: [action], job_schedule: {} }],
      ["POST", `/v2/${p}/jobs/${j}`, { client_id: "c", job_actions: [action], job_schedule: {} }],
      ["PATCH", `/v2/${p}/jobs/${j}`, { job_actions: [action] }],
      ["POST", `/v2/${p}/jobs/${j}/event`, { stop: deep }],
    ];
    for (const [method, path, json] of cases) {
      const res = await callJson(path, { method, json });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body.description).toContain(`deeper than ${JSON_MAX_DEPTH}`);
    }
    const search = await callJson(
      `/v2/${p}/jobs/?search=${encodeURIComponent(JSON.stringify({ match: [{ a: deep }] }))}`,
    );
    expect(search.status).toBe(400);
    expect([await getSession(p, s), await getJob(p, j)]).toEqual(before);
    expect((await callJson(`/v2/${p}/sessions/`)).body.sessions).toHaveLength(1);
  });
});

describe("a job stored before the depth limit", () => {
  const deepActions = `[${"[".repeat(1200)}${"]".repeat(1200)}]`;
  async function storeDeepJob(p: string, jobId: string, sessionId = "") {
    const doc = `{"job_id":"${jobId}","client_id":"old-host","description":"deep backup","job_actions":${deepActions},"job_schedule":{"status":"scheduled"},"session_id":"${sessionId}","session_tag":0,"user_id":"admin","project_id":"${p}","version":4}`;
    await env.DB.prepare(
      "INSERT INTO scheduler_jobs (project_id, job_id, client_id, session_id, doc) VALUES (?, ?, 'old-host', ?, ?)",
    )
      .bind(p, jobId, sessionId, doc)
      .run();
  }

  it("is skipped by searches, refused with a 409 naming the limit where it must change in place, and repaired by a replace", async () => {
    const p = unique("deep");
    const fine = await createJob(p, { description: "deep backup too", job_schedule: { status: "scheduled" } });
    await storeDeepJob(p, "deep");
    const s = await createSession(p);
    const ids = async (search: unknown) => {
      const res = await callJson(`/v2/${p}/jobs/?search=${encodeURIComponent(JSON.stringify(search))}`);
      expect(res.status, JSON.stringify(search)).toBe(200);
      return res.body.jobs.map((x: { job_id: string }) => x.job_id);
    };
    expect(await ids({ match: [{ _all: "deep" }] })).toEqual([fine]);
    expect(await ids({ match: [{ status: "scheduled" }] })).toEqual([fine]);
    expect(await ids({ match_not: [{ mode: "sql" }] })).toEqual([fine]);
    // The client column is indexed outside the document: it still finds the job.
    expect(await ids({ match: [{ client_id: "old-host" }] })).toEqual(["deep"]);
    const sessionsSearch = await callJson(
      `/v2/${p}/sessions/?search=${encodeURIComponent(JSON.stringify({ match: [{ _all: "x" }] }))}`,
    );
    expect(sessionsSearch.status).toBe(200);
    // Reads and lists without a search still show it.
    expect((await callJson(`/v2/${p}/jobs/`)).body.jobs).toHaveLength(2);
    expect((await callJson(`/v2/${p}/jobs/deep`)).body.version).toBe(4);

    const event = await callJson(`/v2/${p}/jobs/deep/event`, { method: "POST", json: { start: null } });
    expect(event.status).toBe(409);
    expect(event.body.description).toContain(`(${JSON_MAX_DEPTH} levels)`);
    const sessionBefore = await getSession(p, s);
    const add = await callJson(`/v2/${p}/sessions/${s}/jobs/deep`, { method: "PUT" });
    expect(add.status).toBe(409);
    expect(add.body.description).toContain("replace it");
    expect(await getSession(p, s)).toEqual(sessionBefore);
    const patch = await callJson(`/v2/${p}/jobs/deep`, { method: "PATCH", json: { description: "still deep" } });
    expect(patch.status).toBe(400);
    expect(patch.body.description).toContain(`deeper than ${JSON_MAX_DEPTH}`);

    const replaced = await callJson(`/v2/${p}/jobs/deep`, {
      method: "POST",
      json: { client_id: "new-host", job_actions: [], job_schedule: {} },
    });
    expect(replaced.status).toBe(201);
    expect(replaced.body.version).toBe(1);
    expect((await callJson(`/v2/${p}/jobs/deep/event`, { method: "POST", json: { start: null } })).status).toBe(202);
    await addJob(p, s, "deep");
    expect(Object.keys((await getSession(p, s)).jobs)).toEqual(["deep"]);
  });

  it("can be patched back within the limit, and does not stop its session from being deleted", async () => {
    const p = unique("deep");
    await storeDeepJob(p, "fixable");
    const patched = await callJson(`/v2/${p}/jobs/fixable`, { method: "PATCH", json: { job_actions: [] } });
    expect(patched.status).toBe(200);
    expect(await getJob(p, "fixable")).toMatchObject({ job_actions: [], version: 5 });

    const s = await createSession(p);
    await storeDeepJob(p, "stuck", s);
    expect((await call(`/v2/${p}/sessions/${s}`, { method: "DELETE" })).status).toBe(204);
    const column = await env.DB.prepare(
      "SELECT session_id FROM scheduler_jobs WHERE project_id = ? AND job_id = 'stuck'",
    )
      .bind(p)
      .first<{ session_id: string }>();
    expect(column!.session_id).toBe("");
  });

  it("a search whose `_all` text lists values nested past the limit is a 400", async () => {
    const deepText = JSON.stringify([{ a: JSON.parse(`${"[".repeat(1100)}${"]".repeat(1100)}`) }]);
    const res = await callJson(
      `/v2/${unique("deep")}/jobs/?search=${encodeURIComponent(JSON.stringify({ match: [{ _all: deepText }] }))}`,
    );
    expect(res.status).toBe(400);
    expect(res.body.description).toContain(`deeper than ${JSON_MAX_DEPTH}`);
  });
});
