import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, mintToken } from "./helpers/http";

const presence = (daemonId: string) => env.DAEMON_PRESENCE.get(env.DAEMON_PRESENCE.idFromName(daemonId));

/** A user with a daemon that has beaten once. */
async function beatingDaemon(user: string, beat: { entrypoint: string[]; abnormaltags?: string[] }) {
  const { token } = await mintToken({ user, role: "user" });
  const { body } = await callJson<{ daemonid: string }>("/daemon/id", { token });
  const res = await call("/heartbeat", {
    method: "POST",
    token: null,
    json: { daemonid: body.daemonid, role: 0, log: [], ...beat },
  });
  expect(res.status).toBe(200);
  return { token, daemonId: body.daemonid };
}

describe("GET /dashboard/api/daemons", () => {
  it("needs a token", async () => {
    for (const path of ["/dashboard/api/daemons", "/dashboard/api/logs", "/dashboard/api/sessions"])
      expect(await callJson(path, { token: null }), path).toMatchObject({
        status: 401,
        body: { message: "authentication required" },
      });
  });

  it("shows admins the daemons online now with since, entrypoints and abnormal tags; offline ones drop out", async () => {
    const on = await beatingDaemon("dash-on", {
      entrypoint: ["http://10.0.0.1:35800"],
      abnormaltags: ["repo/item:t2", "repo/item:t1"],
    });
    const gone = await beatingDaemon("dash-gone", { entrypoint: ["http://10.0.0.2:35800"] });
    await runDurableObjectAlarm(presence(gone.daemonId));

    const { status, body } = await callJson("/dashboard/api/daemons");
    expect(status).toBe(200);
    const users = body.daemons.map((d: { user: string }) => d.user);
    expect(users).toContain("dash-on");
    expect(users).not.toContain("dash-gone");
    const row = body.daemons.find((d: { user: string }) => d.user === "dash-on");
    expect(row).toMatchObject({
      daemon_id: on.daemonId,
      online: true,
      entrypoints: ["http://10.0.0.1:35800"],
      abnormal_tags: [{ tag: "repo/item:t1" }, { tag: "repo/item:t2" }],
    });
    expect(Date.parse(row.since)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(row.last_beat)).toBeGreaterThanOrEqual(Date.parse(row.since) - 1000);
  });

  it("shows a user only their own daemon", async () => {
    await beatingDaemon("dash-other", { entrypoint: ["http://10.0.0.3:35800"] });
    const mine = await beatingDaemon("dash-me", { entrypoint: ["http://10.0.0.4:35800"] });
    const { body } = await callJson("/dashboard/api/daemons", { token: mine.token });
    expect(body.daemons.map((d: { user: string }) => d.user)).toEqual(["dash-me"]);
  });

  it("finds the online daemons through the status index, not a scan", async () => {
    const plan = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT user, daemon_id, status_changed_at FROM daemons WHERE status = ? LIMIT 200",
    )
      .bind("online")
      .all<{ detail: string }>();
    expect(plan.results.map((r) => r.detail).join("\n")).toMatch(/USING INDEX daemons_status/);
    const tags = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT * FROM daemon_abnormal_tags ORDER BY repname, itemname, tagname, daemon_id LIMIT 1000",
    ).all<{ detail: string }>();
    expect(tags.results.map((r) => r.detail).join("\n")).not.toMatch(/TEMP B-TREE/);
  });
});

describe("the dashboard's entry", () => {
  it("sends / and /dashboard to /dashboard/, without a token", async () => {
    for (const path of ["/", "/dashboard"]) {
      const res = await call(path, { token: null, redirect: "manual" });
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe("/dashboard/");
    }
  });
});

describe("GET /dashboard/api/logs: what the logs view opens on", () => {
  /** A dataset readable by `group`, with logs posted in this order. */
  async function datasetWithLogs(dataset: string, group: string, names: string[]) {
    const access = await callJson(`/auth/datasets/${dataset}`, {
      method: "PUT",
      json: { read_groups: [group], write_groups: [], read_users: [], write_users: [] },
    });
    expect(access.status).toBe(200);
    const ids: string[] = [];
    for (const name of names) {
      const r = await callJson(`/datasets/${dataset}/logs`, {
        method: "POST",
        json: { name, data: `${name} text`, task_id: `${dataset}_t` },
      });
      expect(r.status).toBe(201);
      ids.push(r.body.result);
    }
    return ids;
  }

  it("shows a user the newest logs of the datasets its groups may read, and no others", async () => {
    const mine = await datasetWithLogs("dash_mine", "dash-readers", ["stdout", "stderr"]);
    const theirs = await datasetWithLogs("dash_theirs", "dash-others", ["stdout"]);
    const { token } = await mintToken({ user: "dash-reader", role: "user", groups: ["dash-readers"] });
    const { status, body, res } = await callJson("/dashboard/api/logs", { token });
    expect(status).toBe(200);
    expect(body.datasets).toEqual(["dash_mine"]);
    expect(body.logs.map((l: { log_id: string }) => l.log_id)).toEqual([mine[1], mine[0]]);
    expect(body.logs[0]).toMatchObject({
      name: "stderr",
      dataset_id: "dash_mine",
      task_id: "dash_mine_t",
      body_bytes: 11,
    });
    expect(body.logs.map((l: { log_id: string }) => l.log_id)).not.toContain(theirs[0]);
    // The new token's record, the access records (a bounded scan), then one batch of per-dataset index ranges.
    expect(res.headers.get("server-timing")).toMatch(/round_trips=3 queries=3 /);
  });

  it("shows a user without any readable dataset nothing, and an admin every dataset's newest first", async () => {
    const ids = await datasetWithLogs("dash_admin_view", "dash-admin-view", ["a", "b", "c"]);
    const { token } = await mintToken({ user: "dash-lonely", role: "user", groups: ["dash-nobody"] });
    expect((await callJson("/dashboard/api/logs", { token })).body).toEqual({ datasets: [], logs: [] });
    const admin = await callJson("/dashboard/api/logs");
    expect(admin.body.datasets).toBeNull();
    expect(admin.body.logs.slice(0, 3).map((l: { log_id: string }) => l.log_id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(admin.res.headers.get("server-timing")).toMatch(/round_trips=1 queries=1 rows_read=\d+ /);
  });
});

describe("GET /dashboard/api/sessions: what the scheduler view opens on", () => {
  async function session(project: string, description: string) {
    const r = await callJson(`/v2/${project}/sessions`, { method: "POST", json: { description, schedule: {} } });
    expect(r.status).toBe(201);
    return r.body.session_id as string;
  }

  it("shows a user its projects' sessions newest first, an admin every project's", async () => {
    const a1 = await session("dash-pa", "first of a");
    const b1 = await session("dash-pb", "first of b");
    const a2 = await session("dash-pa", "second of a");
    const other = await session("dash-pc", "not theirs");
    const { token } = await mintToken({ user: "dash-sched", role: "user", projects: ["dash-pa", "dash-pb"] });
    const { status, body, res } = await callJson("/dashboard/api/sessions", { token });
    expect(status).toBe(200);
    expect(body.projects).toEqual(["dash-pa", "dash-pb"]);
    expect(body.sessions.map((s: { session_id: string }) => s.session_id)).toEqual([a2, b1, a1]);
    expect(body.sessions[0]).toMatchObject({ project_id: "dash-pa", description: "second of a", session_tag: 0 });
    // The new token's record, then one batch: a range of the project index per project.
    expect(res.headers.get("server-timing")).toMatch(/round_trips=2 queries=3 /);

    const admin = await callJson("/dashboard/api/sessions");
    expect(admin.body.projects).toBeNull();
    expect(admin.body.sessions.slice(0, 4).map((s: { session_id: string }) => s.session_id)).toEqual([
      other,
      a2,
      b1,
      a1,
    ]);
  });

  it("reads each project's newest sessions as a range of the project index, without sorting", async () => {
    const plan = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT seq, project_id, doc FROM scheduler_sessions WHERE project_id = ? ORDER BY seq DESC LIMIT 50",
    )
      .bind("p")
      .all<{ detail: string }>();
    const detail = plan.results.map((r) => r.detail).join("\n");
    expect(detail).toMatch(/USING INDEX scheduler_sessions_project/);
    expect(detail).not.toMatch(/TEMP B-TREE/);
  });

  it("shows a token without projects no session", async () => {
    await session("dash-pd", "someone's");
    const { token } = await mintToken({ user: "dash-noproj", role: "user" });
    expect((await callJson("/dashboard/api/sessions", { token })).body).toEqual({ projects: [], sessions: [] });
  });
});

describe("GET /dashboard/api/monitor-projects: the test-runs view's project picker", () => {
  /** A monitor session posted into `project` (which the monitor creates on this first write). */
  async function run(project: string) {
    const r = await call(`/projects/${project}/api/v1/sessions/`, {
      method: "POST",
      json: { session_h: `s-${project}`, run_date: new Date().toISOString(), scm_ref: null, description: {} },
    });
    expect(r.status).toBe(201);
  }

  it("shows an admin every monitor project by name, opening on default", async () => {
    await run("default");
    await run("dash-mon-b");
    await run("dash-mon-a");
    const { status, body } = await callJson("/dashboard/api/monitor-projects");
    expect(status).toBe(200);
    const names = body.projects.map((p: { name: string }) => p.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(["default", "dash-mon-a", "dash-mon-b"]));
    expect(body.projects.every((p: { has_data: boolean }) => p.has_data)).toBe(true);
    expect(body).toMatchObject({ default: "default", limit: 200 });
  });

  it("shows a user only its token's projects, those without runs marked, opening on one with runs", async () => {
    await run("dash-mon-mine");
    await run("dash-mon-theirs");
    const { token } = await mintToken({
      user: "dash-mon-user",
      role: "user",
      projects: ["dash-mon-new", "dash-mon-mine"],
    });
    const { status, body, res } = await callJson("/dashboard/api/monitor-projects", { token });
    expect(status).toBe(200);
    // The new token's record, the shard map (a project never written is never cached), then
    // one query on the one shard holding dash-mon-mine: its name looked up in the name index.
    expect(res.headers.get("server-timing")).toMatch(/round_trips=3 queries=3 /);
    expect(body).toEqual({
      projects: [
        { name: "dash-mon-new", has_data: false },
        { name: "dash-mon-mine", has_data: true },
      ],
      default: "dash-mon-mine",
      limit: 200,
    });

    const only = await mintToken({ user: "dash-mon-one", role: "user", projects: ["dash-mon-fresh"] });
    expect((await callJson("/dashboard/api/monitor-projects", { token: only.token })).body).toEqual({
      projects: [{ name: "dash-mon-fresh", has_data: false }],
      default: "dash-mon-fresh",
      limit: 200,
    });
    const none = await mintToken({ user: "dash-mon-none", role: "user" });
    expect((await callJson("/dashboard/api/monitor-projects", { token: none.token })).body).toEqual({
      projects: [],
      default: null,
      limit: 200,
    });
  });

  it("refuses system tokens and calls without a token", async () => {
    const { token } = await mintToken({ user: "dash-mon-pilot", role: "system", projects: ["dash-mon-mine"] });
    const refused = await callJson("/dashboard/api/monitor-projects", { token });
    expect(refused).toMatchObject({ status: 403, body: { message: "authorization failed" } });
    expect((await callJson("/dashboard/api/monitor-projects", { token: null })).status).toBe(401);
  });

  it("lists an admin's projects as a range of the name index, without sorting", async () => {
    const plan = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT name FROM monitor_projects ORDER BY name LIMIT 200",
    ).all<{
      detail: string;
    }>();
    const detail = plan.results.map((r) => r.detail).join("\n");
    expect(detail).toMatch(/USING COVERING INDEX/);
    expect(detail).not.toMatch(/TEMP B-TREE/);
  });
});
