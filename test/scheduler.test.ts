import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, mintToken } from "./helpers/http";
import { addJob, createJob, createSession, getJob, getSession, schedule } from "./helpers/scheduler";

let n = 0;
/** A fresh project per test: lists see only that test's documents. */
const project = () => `proj${Date.now().toString(36)}${n++}`;

describe("access", () => {
  it("answers 401 without a valid token and 403 for another project, in Freezer's dialect", async () => {
    const p = project();
    const none = await callJson(`/v2/${p}/sessions/`, { token: null });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ title: "Not Authorized", description: expect.any(String) });
    expect((await callJson(`/v2/${p}/jobs/`, { token: "nope" })).status).toBe(401);

    const { token } = await mintToken({ user: "agent", role: "user", projects: [p] });
    const other = await callJson(`/v2/${p}x/sessions/`, { token });
    expect(other.status).toBe(403);
    expect(other.body).toEqual({
      title: "Access Forbidden",
      description: "You are not allowed to access this resource",
    });

    const id = await createSession(p, { description: "mine" }, token);
    const mine = await callJson(`/v2/${p}/sessions/${id}`, { token });
    expect(mine.body).toMatchObject({ session_id: id, user_id: "agent", project_id: p });
    // The admin token sees every project.
    expect((await callJson(`/v2/${p}/sessions/${id}`)).status).toBe(200);
  });

  it("documents its routes in /openapi.json", async () => {
    const { body } = await callJson("/openapi.json", { token: null });
    for (const path of [
      "/v2/{project_id}/sessions",
      "/v2/{project_id}/sessions/{session_id}/action",
      "/v2/{project_id}/jobs/{job_id}/event",
      "/v3/auth/tokens",
    ]) {
      expect(Object.keys(body.paths)).toContain(path);
    }
  });

  it("answers unknown paths and methods in the dialect", async () => {
    const p = project();
    const notFound = await callJson(`/v2/${p}/sessions/abc/nothing/here`);
    expect(notFound.status).toBe(404);
    expect(notFound.body.title).toBe("Not Found");
    const method = await callJson(`/v2/${p}/sessions/`, { method: "PUT", json: {} });
    expect(method.status).toBe(405);
    expect(method.body.title).toBe("Bad Method");
  });
});

describe("sessions", () => {
  it("creates a session with a server-made id and the documented defaults", async () => {
    const p = project();
    const id = await createSession(p, { session_id: "ignored", description: "nightly" });
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const doc = await getSession(p, id);
    expect(doc).toEqual({
      session_id: id,
      session_tag: 0,
      description: "nightly",
      hold_off: 30,
      schedule,
      jobs: {},
      status: "active",
      result: "",
      time_start: -1,
      time_end: -1,
      time_started: -1,
      time_ended: -1,
      last_start: -1,
      user_id: "admin",
      project_id: p,
      version: 1,
    });
  });

  it("refuses bad bodies with 400 and writes nothing", async () => {
    const p = project();
    const cases: Array<[unknown, string | RegExp]> = [
      [{ description: "x" }, "'schedule' is a required property"],
      [{ schedule: { nope: 1 } }, /Additional properties are not allowed \('nope' was unexpected\)/],
      [{ schedule: { schedule_interval: "sometimes" } }, /schedule_interval/],
      [{ schedule: { event: "explode" } }, /is not one of/],
      [{ schedule: {}, hold_off: "soon" }, /'soon' is not of type 'number' \('hold_off'\)/],
      [{ schedule: {}, colour: "red" }, /'colour' was unexpected/],
      [[1, 2], /is not of type 'object'/],
    ];
    for (const [json, description] of cases) {
      const res = await callJson(`/v2/${p}/sessions/`, { method: "POST", json });
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(res.body.title).toBe("Bad request format");
      expect(res.body.description).toMatch(description);
    }
    const empty = await callJson(`/v2/${p}/sessions/`, { method: "POST", body: "" });
    expect(empty.status).toBe(400);
    const malformed = await callJson(`/v2/${p}/sessions/`, { method: "POST", body: "{not json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.title).toBe("Malformed JSON");
    expect((await callJson(`/v2/${p}/sessions/`)).body.sessions).toEqual([]);
  });

  it("answers 404 for an unknown session on every route", async () => {
    const p = project();
    const missing = "0123456789abcdef0123456789abcdef";
    const job = await createJob(p);
    const routes: Array<[string, string, unknown?]> = [
      ["GET", missing],
      ["PATCH", missing, { description: "x" }],
      ["DELETE", missing],
      ["PUT", `${missing}/jobs/${job}`],
      ["DELETE", `${missing}/jobs/${job}`],
      ["POST", `${missing}/action`, { start: { job_id: job, current_tag: 0 } }],
      ["POST", `${missing}/actions`, { end: { job_id: job, current_tag: 0, result: "success" } }],
    ];
    for (const [method, path, json] of routes) {
      const res = await callJson(`/v2/${p}/sessions/${path}`, { method, json });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.title).toBe("Not Found");
    }
    // An id no document can have: 404 where it is looked up, 400 where it would be created.
    expect((await callJson(`/v2/${p}/sessions/bad.id`)).status).toBe(404);
    expect((await callJson(`/v2/${p}/jobs/bad.id`)).status).toBe(404);
    expect((await callJson(`/v2/${p}/sessions/bad.id`, { method: "POST", json: { schedule } })).status).toBe(400);
    expect(
      (
        await callJson(`/v2/${p}/jobs/bad.id`, {
          method: "POST",
          json: { client_id: "h", job_actions: [], job_schedule: {} },
        })
      ).status,
    ).toBe(400);
  });

  it("merges a patch and counts versions", async () => {
    const p = project();
    const id = await createSession(p, { description: "a" });
    const res = await callJson(`/v2/${p}/sessions/${id}`, {
      method: "PATCH",
      json: { description: "b", schedule: { schedule_hour: "3" } },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ session_id: id, version: 2 });
    const doc = await getSession(p, id);
    expect(doc).toMatchObject({ description: "b", schedule: { ...schedule, schedule_hour: "3" }, version: 2 });
    expect((await callJson(`/v2/${p}/sessions/${id}`, { method: "PATCH", json: {} })).status).toBe(400);
    expect(
      (await callJson(`/v2/${p}/sessions/${id}`, { method: "PATCH", json: { schedule: { bad: 1 } } })).status,
    ).toBe(400);
    expect((await getSession(p, id)).version).toBe(2);
  });

  it("replaces (or creates) a session with a given id, keeping its jobs", async () => {
    const p = project();
    const first = await callJson(`/v2/${p}/sessions/my-session`, {
      method: "POST",
      json: { schedule, description: "one" },
    });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ session_id: "my-session", version: 1 });
    const job = await createJob(p);
    await addJob(p, "my-session", job);
    const again = await callJson(`/v2/${p}/sessions/my-session`, {
      method: "POST",
      json: { schedule: {}, description: "two", session_tag: 4 },
    });
    expect(again.status).toBe(201);
    expect(again.body).toEqual({ session_id: "my-session", version: 3 });
    const doc = await getSession(p, "my-session");
    expect(doc).toMatchObject({
      description: "two",
      session_tag: 4,
      schedule: {},
      jobs: { [job]: { client_id: "host-a" } },
    });
  });

  it("deletes a session and detaches its jobs in one go", async () => {
    const p = project();
    const id = await createSession(p);
    const jobs = [await createJob(p), await createJob(p)];
    for (const j of jobs) await addJob(p, id, j);
    const res = await call(`/v2/${p}/sessions/${id}`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect((await callJson(`/v2/${p}/sessions/${id}`)).status).toBe(404);
    for (const j of jobs) {
      expect(await getJob(p, j)).toMatchObject({
        session_id: "",
        session_tag: 0,
        job_schedule: { event: "stop" },
        version: 3,
      });
    }
    expect((await callJson(`/v2/${p}/sessions/${id}`, { method: "DELETE" })).status).toBe(404);
  });
});

describe("session lists and search", () => {
  async function fixture() {
    const p = project();
    const a = await createSession(p, { description: "nightly db" });
    const b = await createSession(p, { description: "weekly files", schedule: { schedule_interval: "7 days" } });
    const c = await createSession(p, { description: "hourly logs", hold_off: 5 });
    const job = await createJob(p, { client_id: "db-host" });
    await addJob(p, a, job);
    return { p, a, b, c };
  }
  const ids = (body: { sessions: Array<{ session_id: string }> }) => body.sessions.map((s) => s.session_id);

  it("lists in creation order with limit and offset", async () => {
    const { p, a, b, c } = await fixture();
    expect(ids((await callJson(`/v2/${p}/sessions/`)).body)).toEqual([a, b, c]);
    expect(ids((await callJson(`/v2/${p}/sessions/?limit=2`)).body)).toEqual([a, b]);
    expect(ids((await callJson(`/v2/${p}/sessions/?limit=2&offset=2`)).body)).toEqual([c]);
    for (const bad of ["limit=-1", "limit=ten", "offset=-3", "offset=1.5"]) {
      const res = await callJson(`/v2/${p}/sessions/?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.title).toBe("Bad request format");
    }
    // Another project's sessions are not listed.
    expect((await callJson(`/v2/${p}other/sessions/`)).body.sessions).toEqual([]);
  });

  it("defaults to 10 rows", async () => {
    const p = project();
    for (let i = 0; i < 12; i++) await createSession(p, { description: `s${i}` });
    expect((await callJson(`/v2/${p}/sessions/`)).body.sessions).toHaveLength(10);
    expect((await callJson(`/v2/${p}/sessions/?limit=100`)).body.sessions).toHaveLength(12);
  });

  it("searches with match, match_not and _all, from the query argument", async () => {
    const { p, a, b, c } = await fixture();
    const search = async (s: unknown, extra = "") =>
      ids((await callJson(`/v2/${p}/sessions/?search=${encodeURIComponent(JSON.stringify(s))}${extra}`)).body);
    expect(await search({ match: [{ description: "weekly files" }] })).toEqual([b]);
    expect(await search({ match: [{ hold_off: 5 }] })).toEqual([c]);
    // A key not at the top level is looked up in the schedule, then in the jobs.
    expect(await search({ match: [{ schedule_interval: "7 days" }] })).toEqual([b]);
    expect(await search({ match: [{ client_id: "db-host" }] })).toEqual([a]);
    expect(await search({ match_not: [{ schedule_interval: "7 days" }, { hold_off: 5 }] })).toEqual([a]);
    // _all: text anywhere in a string field, or the JSON text of a list of pairs.
    expect(await search({ match: [{ _all: "ly" }] })).toEqual([a, b, c]);
    expect(await search({ match: [{ _all: "files" }] })).toEqual([b]);
    expect(await search({ match: [{ _all: "db-host" }] })).toEqual([a]);
    expect(await search({ match: [{ _all: JSON.stringify([{ hold_off: 5 }]) }] })).toEqual([c]);
    expect(await search({ match: [{ _all: "ly" }] }, "&offset=1&limit=1")).toEqual([b]);
    expect(await search({ match: [{ _all: "nothing like it" }] })).toEqual([]);
  });

  it("refuses a malformed search", async () => {
    const { p } = await fixture();
    const bad = await callJson(`/v2/${p}/sessions/?search=${encodeURIComponent("{nope")}`);
    expect(bad.status).toBe(400);
    expect(bad.body.title).toBe("Malformed JSON");
    const shape = await callJson(`/v2/${p}/sessions/?search=${encodeURIComponent(JSON.stringify({ match: "x" }))}`);
    expect(shape.status).toBe(400);
    const key = await callJson(
      `/v2/${p}/sessions/?search=${encodeURIComponent(JSON.stringify({ match: [{ "a'b": 1 }] }))}`,
    );
    expect(key.status).toBe(400);
  });

  it("reads project lists through the project indexes", async () => {
    const plan = async (q: string, ...args: unknown[]) =>
      JSON.stringify(
        (
          await env.DB.prepare(`EXPLAIN QUERY PLAN ${q}`)
            .bind(...args)
            .all()
        ).results,
      );
    const sessions = await plan("SELECT doc FROM scheduler_sessions WHERE project_id = ? ORDER BY seq LIMIT 10", "p");
    expect(sessions).toContain("scheduler_sessions_project");
    expect(sessions).not.toContain("TEMP B-TREE");
    const byClient = await plan(
      "SELECT doc FROM scheduler_jobs WHERE project_id = ? AND client_id = ? ORDER BY seq LIMIT 10",
      "p",
      "c",
    );
    expect(byClient).toContain("scheduler_jobs_client");
    expect(byClient).not.toContain("TEMP B-TREE");
    const detach = await plan(
      "UPDATE scheduler_jobs SET session_id = '' WHERE project_id = ? AND session_id = ?",
      "p",
      "s",
    );
    expect(detach).toContain("scheduler_jobs_session");
  });
});

describe("jobs", () => {
  it("creates jobs (made or given id), stamps the schedule and refuses a taken id", async () => {
    const p = project();
    const made = await createJob(p, { job_schedule: { schedule_interval: "continuous", time_created: 5 } });
    expect(made).toMatch(/^[0-9a-f]{32}$/);
    const doc = await getJob(p, made);
    expect(doc).toMatchObject({
      job_id: made,
      client_id: "host-a",
      description: "",
      session_id: "",
      session_tag: 0,
      user_id: "admin",
      project_id: p,
      version: 1,
      job_schedule: { schedule_interval: "continuous", time_started: -1, time_ended: -1 },
    });
    expect(Math.abs(doc.job_schedule.time_created - Date.now() / 1000)).toBeLessThan(120);
    expect(await createJob(p, { job_id: "backup-1" })).toBe("backup-1");
    const taken = await callJson(`/v2/${p}/jobs/`, {
      method: "POST",
      json: { job_id: "backup-1", client_id: "h", job_actions: [], job_schedule: {} },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.title).toBe("Document already existing");
  });

  it("refuses invalid jobs", async () => {
    const p = project();
    const base = { client_id: "h", job_actions: [], job_schedule: {} };
    const cases: Array<[unknown, RegExp]> = [
      [{ ...base, client_id: undefined }, /'client_id' is a required property/],
      [{ ...base, job_actions: undefined }, /'job_actions' is a required property/],
      [{ ...base, job_schedule: undefined }, /'job_schedule' is a required property/],
      [{ ...base, job_id: "no spaces" }, /job_id/],
      [{ ...base, job_event: "stop" }, /'job_event' was unexpected/],
      [{ ...base, job_schedule: { result: "maybe" } }, /is not one of/],
    ];
    for (const [json, description] of cases) {
      const res = await callJson(`/v2/${p}/jobs/`, { method: "POST", json });
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(res.body.description).toMatch(description);
    }
    expect((await callJson(`/v2/${p}/jobs/`)).body.jobs).toEqual([]);
  });

  it("patches, replaces and deletes jobs", async () => {
    const p = project();
    const id = await createJob(p, { description: "old" });
    const patched = await callJson(`/v2/${p}/jobs/${id}`, {
      method: "PATCH",
      json: { description: "new", job_schedule: { status: "running", current_pid: 42 } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ job_id: id, version: 2 });
    expect(await getJob(p, id)).toMatchObject({
      description: "new",
      job_schedule: { status: "running", current_pid: 42, time_started: -1 },
    });

    const replaced = await callJson(`/v2/${p}/jobs/${id}`, {
      method: "POST",
      json: { client_id: "host-b", job_actions: [], job_schedule: {} },
    });
    expect(replaced.status).toBe(201);
    expect(replaced.body).toEqual({ job_id: id, version: 3 });
    expect(await getJob(p, id)).toMatchObject({ client_id: "host-b", description: "", version: 3 });
    const fresh = await callJson(`/v2/${p}/jobs/given`, {
      method: "POST",
      json: { client_id: "h", job_actions: [], job_schedule: {} },
    });
    expect(fresh.body).toEqual({ job_id: "given", version: 1 });

    expect((await call(`/v2/${p}/jobs/${id}`, { method: "DELETE" })).status).toBe(204);
    for (const method of ["GET", "DELETE", "PATCH"]) {
      const res = await callJson(`/v2/${p}/jobs/${id}`, {
        method,
        json: method === "PATCH" ? { description: "x" } : undefined,
      });
      expect(res.status, method).toBe(404);
    }
  });

  it("sets job_schedule.event from start / stop / abort", async () => {
    const p = project();
    const id = await createJob(p);
    for (const event of ["start", "stop", "abort"]) {
      const res = await callJson(`/v2/${p}/jobs/${id}/event`, { method: "POST", json: { [event]: null } });
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ result: "success" });
      expect((await getJob(p, id)).job_schedule.event).toBe(event);
    }
    const unknown = await callJson(`/v2/${p}/jobs/${id}/event`, { method: "POST", json: { explode: null } });
    expect(unknown.status).toBe(405);
    expect(unknown.body).toEqual({ title: "Bad Method", description: "Bad Event Method" });
    expect((await callJson(`/v2/${p}/jobs/${id}/event`, { method: "POST", json: {} })).status).toBe(400);
    expect((await callJson(`/v2/${p}/jobs/missing/event`, { method: "POST", json: { start: null } })).status).toBe(404);
  });

  it("lists jobs by client and searches their schedules", async () => {
    const p = project();
    const a = await createJob(p, { client_id: "c1", job_schedule: { status: "scheduled" } });
    const b = await createJob(p, { client_id: "c2", description: "db dump" });
    const c = await createJob(p, {
      client_id: "c1",
      job_actions: [{ freezer_action: { action: "restore", mode: "mysql" } }],
    });
    const list = async (s: unknown) =>
      (await callJson(`/v2/${p}/jobs/?search=${encodeURIComponent(JSON.stringify(s))}`)).body.jobs.map(
        (j: { job_id: string }) => j.job_id,
      );
    expect((await callJson(`/v2/${p}/jobs/`)).body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([a, b, c]);
    expect(await list({ match: [{ client_id: "c1" }] })).toEqual([a, c]);
    expect(await list({ match: [{ _all: "dump" }, { client_id: "c2" }] })).toEqual([b]);
    expect(await list({ match: [{ status: "scheduled" }] })).toEqual([a]);
    expect(await list({ match: [{ mode: "mysql" }] })).toEqual([c]);
    expect(await list({ match: [{ client_id: "c1" }], match_not: [{ status: "scheduled" }] })).toEqual([c]);
  });
});

describe("jobs in sessions", () => {
  it("adding a job copies the session's schedule and stamps session id and tag", async () => {
    const p = project();
    const s = await createSession(p, { session_tag: 3 });
    const j = await createJob(p, { client_id: "node-1", job_schedule: { status: "scheduled" } });
    await addJob(p, s, j);
    expect(await getJob(p, j)).toMatchObject({ session_id: s, session_tag: 3, job_schedule: schedule, version: 2 });
    expect((await getSession(p, s)).jobs).toEqual({
      [j]: { client_id: "node-1", status: "scheduled", result: "", time_started: -1, time_ended: -1 },
    });
    // Adding it again is harmless.
    await addJob(p, s, j);
    expect(Object.keys((await getSession(p, s)).jobs)).toEqual([j]);
  });

  it("refuses unknown jobs; a job in another session moves, leaving that session's map", async () => {
    const p = project();
    const s1 = await createSession(p);
    const s2 = await createSession(p, { session_tag: 7 });
    const j = await createJob(p);
    const unknown = await callJson(`/v2/${p}/sessions/${s1}/jobs/nope`, { method: "PUT" });
    expect(unknown.status).toBe(404);
    await addJob(p, s1, j);
    const v1 = (await getSession(p, s1)).version;
    const moved = await call(`/v2/${p}/sessions/${s2}/jobs/${j}`, { method: "PUT" });
    expect(moved.status).toBe(204);
    expect(Object.keys((await getSession(p, s2)).jobs)).toEqual([j]);
    expect(await getSession(p, s1)).toMatchObject({ jobs: {}, version: v1 + 1 });
    expect(await getJob(p, j)).toMatchObject({ session_id: s2, session_tag: 7 });
  });

  it("removing a job takes it out of the map and stops it", async () => {
    const p = project();
    const s = await createSession(p);
    const [j1, j2] = [await createJob(p), await createJob(p)];
    await addJob(p, s, j1);
    await addJob(p, s, j2);
    const res = await call(`/v2/${p}/sessions/${s}/jobs/${j1}`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(Object.keys((await getSession(p, s)).jobs)).toEqual([j2]);
    expect(await getJob(p, j1)).toMatchObject({ session_id: "", session_tag: 0, job_schedule: { event: "stop" } });
    // A retry answers the same and changes nothing more.
    expect((await call(`/v2/${p}/sessions/${s}/jobs/${j1}`, { method: "DELETE" })).status).toBe(204);
    expect((await getJob(p, j1)).version).toBe(3);
    expect((await call(`/v2/${p}/sessions/${s}/jobs/nope`, { method: "DELETE" })).status).toBe(404);
  });
});

describe("Keystone v3 shim", () => {
  it("serves the v3 version document", async () => {
    const { status, body } = await callJson("/v3", { token: null });
    expect(status).toBe(200);
    expect(body.version).toMatchObject({
      id: "v3.14",
      status: "stable",
      links: [{ rel: "self", href: "http://opshub.test/v3/" }],
    });
  });

  it("issues a token document for an OpsHub token allowed on the project", async () => {
    const { token } = await mintToken({ user: "operator", role: "user", projects: ["alpha", "beta"] });
    const auth = (scope?: unknown, id = token) => ({
      auth: { identity: { methods: ["token"], token: { id } }, ...(scope ? { scope } : {}) },
    });
    const res = await callJson("/v3/auth/tokens", {
      method: "POST",
      token: null,
      json: auth({ project: { id: "beta" } }),
    });
    expect(res.status).toBe(201);
    expect(res.res.headers.get("X-Subject-Token")).toBe(token);
    expect(res.body.token).toMatchObject({
      user: { id: "operator", name: "operator" },
      project: { id: "beta" },
      roles: [{ name: "user" }],
    });
    expect(Date.parse(res.body.token.expires_at)).toBeGreaterThan(Date.now());
    // Unscoped: the token's first project, for clients without OS_PROJECT_ID.
    const unscoped = await callJson("/v3/auth/tokens", { method: "POST", token: null, json: auth() });
    expect(unscoped.body.token.project.id).toBe("alpha");

    const wrongProject = await callJson("/v3/auth/tokens", {
      method: "POST",
      token: null,
      json: auth({ project: { id: "gamma" } }),
    });
    expect(wrongProject.status).toBe(401);
    const badToken = await callJson("/v3/auth/tokens", {
      method: "POST",
      token: null,
      json: auth({ project: { id: "alpha" } }, "forged"),
    });
    expect(badToken.status).toBe(401);
    const garbage = await callJson("/v3/auth/tokens", { method: "POST", token: null, json: { hello: 1 } });
    expect(garbage.status).toBe(400);
  });
});

describe("unknown fields, where Freezer's own schemas refuse them", () => {
  it("refuses an unknown field of a job or a schedule on every write, naming it, and changes nothing", async () => {
    const p = project();
    const jobId = await createJob(p);
    const sessionId = await createSession(p);
    const jobBefore = (await callJson(`/v2/${p}/jobs/${jobId}`)).body;
    const sessionBefore = (await callJson(`/v2/${p}/sessions/${sessionId}`)).body;
    const writes: Array<[string, string, unknown, string]> = [
      ["PATCH", `/v2/${p}/jobs/${jobId}`, { job_event: "stop" }, "job_event"],
      ["POST", `/v2/${p}/jobs/${jobId}`, { client_id: "h", job_actions: [], job_schedule: {}, retries: 3 }, "retries"],
      ["PATCH", `/v2/${p}/jobs/${jobId}`, { job_schedule: { every: "day" } }, "every"],
      ["PATCH", `/v2/${p}/sessions/${sessionId}`, { schedule: { every: "day" } }, "every"],
      ["POST", `/v2/${p}/sessions/${sessionId}`, { schedule: {}, colour: "red" }, "colour"],
    ];
    for (const [method, path, json, field] of writes) {
      const res = await callJson(path, { method, json });
      expect({ method, path, status: res.status, body: res.body }).toEqual({
        method,
        path,
        status: 400,
        body: { title: "Bad request format", description: expect.stringContaining(`'${field}' was unexpected`) },
      });
    }
    expect((await callJson(`/v2/${p}/jobs/${jobId}`)).body).toEqual(jobBefore);
    expect((await callJson(`/v2/${p}/sessions/${sessionId}`)).body).toEqual(sessionBefore);
  });

  it("keeps a job action's own options, which Freezer leaves open", async () => {
    const p = project();
    const jobId = await createJob(p, {
      job_actions: [
        {
          freezer_action: { action: "backup", mode: "fs", path_to_backup: "/srv", storage: "swift" },
          max_retries: 2,
          note: "x",
        },
      ],
    });
    const { body } = await callJson(`/v2/${p}/jobs/${jobId}`);
    expect(body.job_actions).toEqual([
      {
        freezer_action: { action: "backup", mode: "fs", path_to_backup: "/srv", storage: "swift" },
        max_retries: 2,
        note: "x",
      },
    ]);
  });
});
