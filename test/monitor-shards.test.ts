import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, mintToken } from "./helpers/http";
import { ciDescription, metricsOf, pluginContext, pluginSession } from "./helpers/monitor";
import { databaseOf, projectsOnShards, shardBindings, shardDatabase, shardOf } from "./helpers/shards";

/** The monitor on two shards (src/monitor/project-db.ts, docs/api/monitor.md "Shards"). */

const MONITOR_TABLES = [
  "monitor_projects",
  "monitor_sessions",
  "monitor_session_flags",
  "monitor_contexts",
  "monitor_metrics",
  "monitor_components",
  "monitor_pipelines",
  "monitor_builds",
];

/** Every monitor table's row count in one database. */
async function tableCounts(db: D1Database): Promise<Record<string, number>> {
  const results = await db.batch<{ n: number }>(
    MONITOR_TABLES.map((t) => db.prepare(`SELECT count(*) AS n FROM ${t}`)),
  );
  return Object.fromEntries(MONITOR_TABLES.map((t, i) => [t, results[i].results[0].n]));
}

/** Monitor rows of `project` in one database, by table. */
async function projectCounts(db: D1Database, project: string): Promise<Record<string, number>> {
  const id = "(SELECT id FROM monitor_projects WHERE name = ?1)";
  const tables = MONITOR_TABLES.filter((t) => t !== "monitor_projects" && t !== "monitor_session_flags");
  const results = await db.batch<{ n: number }>(
    tables.map((t) => db.prepare(`SELECT count(*) AS n FROM ${t} WHERE project_id = ${id}`).bind(project)),
  );
  return Object.fromEntries(tables.map((t, i) => [t, results[i].results[0].n]));
}

/** Every shard's table counts, by shard. */
const allCounts = async () =>
  Object.fromEntries(
    await Promise.all(shardBindings().map(async (s) => [s, await tableCounts(shardDatabase(s))] as const)),
  );
const shardOfNow = new Map<string, string>();

const otherShard = async (project: string) => {
  const mine = await shardOf(project);
  const other = shardBindings().find((s) => s !== mine);
  if (!other) throw new Error("these tests need two shards");
  return shardDatabase(other);
};
const roundTrips = (res: Response) => Number(/round_trips=(\d+)/.exec(res.headers.get("server-timing") ?? "")?.[1]);
const api = (project: string) => `/projects/${encodeURIComponent(project)}/api/v1`;
const mapNumber = async (project: string) =>
  (await env.DB.prepare("SELECT number FROM shard_map WHERE project = ?").bind(project).first<{ number: number }>())
    ?.number;

/** The plugin's run into `project`: a context probe and post, a session, metrics one by one and in bulk. */
async function pluginRun(project: string, tag: string) {
  const ctx = pluginContext(`c0${tag.padStart(30, "0")}`);
  const session = pluginSession(`5e${tag.padStart(30, "0")}`, ciDescription("main", tag));
  const metrics = metricsOf(session.session_h, 12, { context_h: ctx.h, component: `comp-${tag}` });
  const responses: Response[] = [];
  const send = async (path: string, json?: unknown) => {
    const res = await call(`${api(project)}${path}`, json === undefined ? {} : { method: "POST", json });
    responses.push(res);
    return res;
  };
  expect((await send(`/contexts/${ctx.h}`)).status).toBe(204);
  expect((await send("/contexts/", ctx)).status).toBe(201);
  expect((await send("/sessions/", session)).status).toBe(201);
  for (const m of metrics.slice(0, 2)) expect((await send("/metrics/", m)).status).toBe(201);
  expect((await send("/metrics/", metrics.slice(2))).status).toBe(201);
  return { ctx, session, metrics, responses };
}

describe("the test-run monitor on shards", () => {
  it("writes each project's plugin run into its own shard only, in one round trip a request once placed", async () => {
    const projects = await projectsOnShards("mon-shards-run", 2);
    for (const [i, project] of projects.entries()) {
      // Before its first write a project has no place: the placement rule's shard is read (empty).
      expect(await shardOf(project)).toBeNull();
      const before = await allCounts();
      const { responses } = await pluginRun(project, `${i + 1}`);
      shardOfNow.set(project, (await shardOf(project)) as string);
      const home = await databaseOf(project);
      // The other shard's monitor rows did not change, whatever table.
      const after = await allCounts();
      const others = shardBindings().filter((s) => s !== shardOfNow.get(project));
      expect(others).toHaveLength(1);
      for (const s of others) expect(after[s]).toEqual(before[s]);
      expect(await projectCounts(home, project)).toEqual({
        monitor_sessions: 1,
        monitor_contexts: 1,
        monitor_metrics: 12,
        monitor_components: 1,
        monitor_pipelines: 1,
        monitor_builds: 1,
      });
      // The probe reads the map (nothing cached for a project never written) and its shard; the
      // first post places the project (a map read, the placement batch) then writes; from then on
      // every request is its shard's one batch.
      expect(responses.map(roundTrips)).toEqual([2, 3, 1, 1, 1, 1]);
    }
    expect(new Set(await Promise.all(projects.map(shardOf))).size).toBe(2);
  });

  it("reads each project's rows only, from its shard in one round trip", async () => {
    const projects = await projectsOnShards("mon-shards-read", 2);
    const runs = [];
    for (const [i, project] of projects.entries()) runs.push(await pluginRun(project, `${i + 11}`));
    for (const [i, project] of projects.entries()) {
      const sessions = await call(`${api(project)}/sessions/`);
      expect(roundTrips(sessions)).toBe(1);
      expect(((await sessions.json()) as { sessions: Array<{ session_h: string }> }).sessions).toEqual([
        expect.objectContaining({ session_h: runs[i].session.session_h }),
      ]);
      expect((await callJson(`${api(project)}/metrics/count`)).body).toEqual({ count: 12 });
      expect((await callJson(`${api(project)}/components/`)).body.components).toEqual([`comp-${i + 11}`]);
      // The other project's session is not here, by any route.
      const theirs = runs[1 - i].session.session_h;
      expect((await call(`${api(project)}/sessions/${theirs}/metrics`)).status).toBe(204);
      expect((await call(`${api(project)}/sessions/${theirs}/regressions`)).status).toBe(404);
      const compare = await callJson(`${api(project)}/sessions/${runs[i].session.session_h}/compare/${theirs}`);
      expect(compare).toMatchObject({ status: 404, body: { message: `Session ${theirs} does not exist` } });
      const regressions = await call(`${api(project)}/sessions/${runs[i].session.session_h}/regressions`);
      expect(regressions.status).toBe(200);
      expect(roundTrips(regressions)).toBe(1);
      const csv = await call(`${api(project)}/metrics/`, { headers: { accept: "text/csv" } });
      expect((await csv.text()).trim().split("\n")).toHaveLength(1 + 12);
      const page = await call(`/projects/${project}/index.html`);
      expect(await page.text()).toMatch(/Metrics <span class="badge">12<\/span>/);
      expect(roundTrips(page)).toBe(1);
    }
  });

  it("answers a project never written as empty, writing nothing", async () => {
    const before = await Promise.all(shardBindings().map((s) => tableCounts(shardDatabase(s))));
    const sessions = await call(`${api("mon-shards-never")}/sessions/`);
    expect(sessions.status).toBe(204);
    // The map (no place: nothing to cache) and the shard the placement rule names.
    expect(roundTrips(sessions)).toBe(2);
    expect((await callJson(`${api("mon-shards-never")}/metrics/count`)).body).toEqual({ count: 0 });
    expect(await (await call("/projects/mon-shards-never/index.html")).text()).toMatch(
      /Sessions <span class="badge">0<\/span>/,
    );
    expect(await Promise.all(shardBindings().map((s) => tableCounts(shardDatabase(s))))).toEqual(before);
    expect(await shardOf("mon-shards-never")).toBeNull();
  });

  it("numbers each project's monitor_projects row as the shard map does", async () => {
    const projects = await projectsOnShards("mon-shards-number", 2);
    for (const [i, project] of projects.entries()) await pluginRun(project, `${i + 21}`);
    for (const project of projects) {
      const number = await mapNumber(project);
      expect(number).toEqual(expect.any(Number));
      const row = await (await databaseOf(project))
        .prepare("SELECT id FROM monitor_projects WHERE name = ?")
        .bind(project)
        .first<{ id: number }>();
      expect(row?.id).toBe(number);
      // Its rows are in its own rowid range.
      const seqs = await (await databaseOf(project))
        .prepare("SELECT min(seq) AS lo, max(seq) AS hi FROM monitor_metrics WHERE project_id = ?")
        .bind(number)
        .first<{ lo: number; hi: number }>();
      expect(seqs).toEqual({ lo: (number as number) * 2 ** 40 + 1, hi: (number as number) * 2 ** 40 + 12 });
    }
  });

  it("sends a write fenced by a move to the project's new shard, once", async () => {
    const [project] = await projectsOnShards("mon-shards-fence", 1);
    const first = await pluginRun(project, "31");
    const source = (await shardOf(project)) as string;
    const sourceDb = shardDatabase(source);
    const targetDb = await otherShard(project);
    const target = shardBindings().find((s) => s !== source) as string;
    // What a move's switch leaves: the source fenced, the map pointing at the target (this
    // isolate still has the source cached).
    await sourceDb.prepare("INSERT INTO shard_fences (project) VALUES (?)").bind(project).run();
    await env.DB.prepare("UPDATE shard_map SET shard = ? WHERE project = ?").bind(target, project).run();
    const sourceBefore = await tableCounts(sourceDb);
    const targetBefore = await tableCounts(targetDb);

    const session = pluginSession("5e0000000000000000000000000fe2ce", ciDescription("main", "32"));
    const metrics = metricsOf(session.session_h, 5, { context_h: first.ctx.h });
    const posted = await call(`${api(project)}/sessions/`, { method: "POST", json: session });
    expect(posted.status).toBe(201);
    // The fenced batch (refused, not counted), the map read again from its primary, the target's batch.
    expect(roundTrips(posted)).toBe(2);
    const bulk = await call(`${api(project)}/metrics/`, { method: "POST", json: metrics });
    expect(bulk.status).toBe(201);
    expect(roundTrips(bulk)).toBe(1);

    expect(await tableCounts(sourceDb)).toEqual(sourceBefore);
    expect(await projectCounts(targetDb, project)).toEqual({
      monitor_sessions: 1,
      monitor_contexts: 0,
      monitor_metrics: 5,
      monitor_components: 1,
      monitor_pipelines: 1,
      monitor_builds: 1,
    });
    expect(
      await targetDb.prepare("SELECT id FROM monitor_projects WHERE name = ?").bind(project).first<{ id: number }>(),
    ).toEqual({ id: await mapNumber(project) });
    const targetAfter = await tableCounts(targetDb);
    expect(targetAfter.monitor_projects).toBe(targetBefore.monitor_projects + 1);

    // Retried posts find their rows stored: 200, nothing new anywhere.
    expect((await call(`${api(project)}/sessions/`, { method: "POST", json: session })).status).toBe(200);
    expect((await call(`${api(project)}/metrics/`, { method: "POST", json: metrics })).status).toBe(200);
    expect((await call(`${api(project)}/metrics/`, { method: "POST", json: metrics[0] })).status).toBe(200);
    expect(await tableCounts(targetDb)).toEqual(targetAfter);
    expect(await tableCounts(sourceDb)).toEqual(sourceBefore);

    // Moved back while this isolate has the target cached: a bulk metrics post, whose unique
    // violations are otherwise a 409, is fenced and lands on the source, once.
    await targetDb.prepare("INSERT INTO shard_fences (project) VALUES (?)").bind(project).run();
    await sourceDb.prepare("DELETE FROM shard_fences WHERE project = ?").bind(project).run();
    await env.DB.prepare("UPDATE shard_map SET shard = ? WHERE project = ?").bind(source, project).run();
    const more = metricsOf(session.session_h, 8, { context_h: first.ctx.h }).slice(5);
    const back = await call(`${api(project)}/metrics/`, { method: "POST", json: more });
    expect(back.status).toBe(201);
    expect(roundTrips(back)).toBe(2);
    expect((await call(`${api(project)}/metrics/`, { method: "POST", json: more })).status).toBe(200);
    expect(await tableCounts(targetDb)).toEqual(targetAfter);
    expect((await projectCounts(sourceDb, project)).monitor_metrics).toBe(12 + 3);
    expect((await callJson(`${api(project)}/metrics/count`)).body).toEqual({ count: 15 });
  });

  it("merges the dashboard's monitor projects of both shards in name order", async () => {
    const projects = await projectsOnShards("mon-shards-dash", 2);
    for (const [i, project] of projects.entries()) await pluginRun(project, `${i + 41}`);
    expect(new Set(await Promise.all(projects.map(shardOf))).size).toBe(2);

    const admin = await callJson("/dashboard/api/monitor-projects");
    const names: string[] = admin.body.projects.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(projects));
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
    // Both shards, in parallel: one round trip each.
    expect(roundTrips(admin.res)).toBe(2);

    const { token } = await mintToken({
      user: "mon-shards-dash-user",
      role: "user",
      projects: [projects[1], "mon-shards-dash-none", projects[0]],
    });
    const user = await callJson("/dashboard/api/monitor-projects", { token });
    // The token's record, the shard map (a project never written is not cached), both shards in parallel.
    expect(user.res.headers.get("server-timing")).toMatch(/round_trips=4 queries=4 /);
    expect(user.body).toEqual({
      projects: [
        { name: projects[1], has_data: true },
        { name: "mon-shards-dash-none", has_data: false },
        { name: projects[0], has_data: true },
      ],
      default: projects[0],
      limit: 200,
    });
  });

  // Last: a project numbered this high makes the projects placed after it numbered higher still.
  it("refuses a write in a project numbered 8192 or more with a 507 in the monitor's dialect, storing nothing", async () => {
    const project = "mon-shards-big";
    await env.DB.prepare("INSERT INTO shard_map (project, number, shard) VALUES (?, 8192, ?)")
      .bind(project, shardBindings()[0])
      .run();
    try {
      const before = await Promise.all(shardBindings().map((s) => tableCounts(shardDatabase(s))));
      for (const [path, json] of [
        ["/sessions/", pluginSession("5e000000000000000000000000000b16")],
        ["/contexts/", pluginContext("c0000000000000000000000000000b16")],
        ["/metrics/", metricsOf("5e000000000000000000000000000b16", 2)],
      ] as const) {
        const r = await callJson(`${api(project)}${path}`, { method: "POST", json });
        expect(r).toMatchObject({
          status: 507,
          body: {
            message:
              "Project mon-shards-big is numbered 8192: the test-run monitor keeps data of projects numbered below 8192 only",
          },
        });
      }
      expect(await Promise.all(shardBindings().map((s) => tableCounts(shardDatabase(s))))).toEqual(before);
      // Reads still answer: the project is empty.
      expect((await call(`${api(project)}/sessions/`)).status).toBe(204);
    } finally {
      await env.DB.prepare("DELETE FROM shard_map WHERE project = ?").bind(project).run();
    }
  });
});
