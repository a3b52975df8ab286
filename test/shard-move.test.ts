// Moving a project between shards (src/db/shard-move.ts, docs/deploy.md "Shards: adding one,
// moving a project"): a project seeded through the HTTP API, moved while interrupted between
// every step and written to between steps (also while frozen, and by a writer with a stale
// map), resumed, then compared row by row and answer by answer; moved back; the refusals.
import { env } from "cloudflare:workers";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { beforeAll, describe, expect, it } from "vitest";
import { compareKeys, type Key, type MoveState } from "../src/db/shard-move";
import { fenceGuardStatement, isFenced, SERIES_SPAN, seriesFloor } from "../src/db/shards";
import { monitorMoveTables } from "../src/monitor/shard-tables";
import { runArchive } from "../src/telemetry/archive-cron";
import { ingestStatements, seriesKey } from "../src/telemetry/chunks";
import { telemetryMoveTables } from "../src/telemetry/shard-tables";
import { callJson, mintToken } from "./helpers/http";
import { metricsOf, pluginContext, pluginSession } from "./helpers/monitor";
import { shardDatabase, shardOf } from "./helpers/shards";

const P = "mover";
const Q = "stayer";
const HOUR_MS = 3_600_000;
const SPAN = 2 ** 40;
/** Recent samples start here (hot: within TELEMETRY_HOT_DAYS); old ones a month before (the archive moves them). */
const T0 = Math.floor((Date.now() - 3 * 86_400_000) / HOUR_MS) * HOUR_MS;
const OLD = T0 - 30 * 86_400_000;
const LEGACY_ID = 7; // a series id from before shards (< 2^24)
const api = `/projects/${P}/api/v1`;
const H1 = "5e000000000000000000000000000001";
const LIVE = "5e0000000000000000000000000000ff";
const db = (shard: string) => shardDatabase(shard);
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00");

let SRC = "";
let DST = "";
let number = 0; // P's project number
let qNumber = 0;

const rows = async (d: D1Database, q: string, ...params: unknown[]) =>
  (
    await d
      .prepare(q)
      .bind(...params)
      .all()
  ).results;

const numberOf = async (project: string) =>
  (await env.DB.prepare("SELECT number FROM shard_map WHERE project = ?1").bind(project).first<{ number: number }>())!
    .number;

/** Every row of a project on one shard, table by table, in a fixed order (plain SQL, not the move's own reads). */
async function snapshot(shard: string, project = P, n = number): Promise<Record<string, unknown[]>> {
  const d = db(shard);
  const ids = `(SELECT id FROM telemetry_series WHERE project_id = ?1)`;
  const lo = n * SPAN;
  return {
    series: await rows(d, "SELECT * FROM telemetry_series WHERE project_id = ?1 ORDER BY id", project),
    metadata: await rows(
      d,
      `SELECT * FROM telemetry_series_metadata WHERE series_id IN ${ids} ORDER BY series_id, key, kind, value`,
      project,
    ),
    chunks: await rows(
      d,
      `SELECT * FROM telemetry_chunks WHERE series_id IN ${ids} ORDER BY series_id, bucket`,
      project,
    ),
    legacy: await rows(d, `SELECT * FROM telemetry_legacy_ids WHERE series_id IN ${ids} ORDER BY id`, project),
    meters: await rows(
      d,
      "SELECT meter, type, unit, resource_id, project_id, user_id, source FROM telemetry_meters WHERE project_id = ?1 ORDER BY meter, resource_id, user_id, source",
      project,
    ),
    rollups: await rows(
      d,
      "SELECT * FROM telemetry_rollups WHERE project_id = ?1 ORDER BY width, meter, bucket, resource_id, user_id, source",
      project,
    ),
    archive: await rows(d, "SELECT * FROM telemetry_archive WHERE project_id = ?1 ORDER BY key", project),
    projects: await rows(d, "SELECT * FROM monitor_projects WHERE id = ?1", n),
    ...Object.fromEntries(
      await Promise.all(
        ["sessions", "contexts", "metrics"].map(async (t) => [
          t,
          await rows(d, `SELECT * FROM monitor_${t} WHERE seq > ?1 AND seq < ?2 ORDER BY seq`, lo, lo + SPAN),
        ]),
      ),
    ),
    // Numbered by the whole table: their order (of first appearance) is what a copy keeps.
    components: await rows(d, "SELECT project_id, name FROM monitor_components WHERE project_id = ?1 ORDER BY seq", n),
    pipelines: await rows(d, "SELECT project_id, branch FROM monitor_pipelines WHERE project_id = ?1 ORDER BY seq", n),
    builds: await rows(
      d,
      "SELECT project_id, branch, build_no FROM monitor_builds WHERE project_id = ?1 ORDER BY seq",
      n,
    ),
    flags: await rows(
      d,
      "SELECT * FROM monitor_session_flags WHERE session_seq > ?1 AND session_seq < ?2 ORDER BY session_seq, name",
      lo,
      lo + SPAN,
    ),
  };
}

const empty = (s: Record<string, unknown[]>) => Object.values(s).every((v) => v.length === 0);
const sizes = (s: Record<string, unknown[]>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.length]));
const samplesIn = (s: Record<string, unknown[]>) => (s.chunks as Array<{ n: number }>).reduce((a, c) => a + c.n, 0);
const chunkEntries = (chunks: unknown[]) =>
  (chunks as Array<{ series_id: number; bucket: number; samples: string }>).flatMap((c) =>
    (JSON.parse(c.samples) as number[][]).map((e) => `${c.series_id}@${c.bucket + e[0]}=${e[1]}`),
  );

type Sample = Record<string, unknown>;
/** A sample as clients post it, `i` minutes after `base`. */
function sample(i: number, over: Sample = {}, base = T0): Sample {
  return {
    meter: "cpu",
    type: "gauge",
    unit: "%",
    volume: i,
    resource_id: `vm-${i % 2}`,
    project_id: P,
    user_id: "u1",
    source: "openstack",
    timestamp: iso(base + i * 60_000),
    metadata: { flavor: { name: "m1" }, tags: ["a", i % 2 === 0], size: 2 },
    ...over,
  };
}
const us = (s: Sample) => Date.parse(String(s.timestamp)) * 1000;

async function postSamples(samples: Sample[]) {
  for (let i = 0; i < samples.length; i += 1000) {
    const r = await callJson("/v2/samples", { method: "POST", json: samples.slice(i, i + 1000) });
    if (r.status !== 201) throw new Error(`posting samples answered ${r.status}: ${JSON.stringify(r.body)}`);
  }
}

/** A metric of session LIVE, through the API. */
async function postMetric(item: string) {
  const [m] = metricsOf(LIVE, 1, {
    item,
    item_variant: item,
    component: "comp0",
    item_start_time: `2026-11-23T${item}`,
  });
  const r = await callJson(`${api}/metrics/`, { method: "POST", json: [m] });
  if (r.status !== 201) throw new Error(`posting a metric answered ${r.status}: ${JSON.stringify(r.body)}`);
}

const q = (...conds: Array<[string, string]>) => {
  const p = new URLSearchParams();
  for (const [f, v] of conds) {
    p.append("q.field", f);
    p.append("q.op", "eq");
    p.append("q.value", v);
  }
  return p.toString();
};

/** What clients read of P that writes made while frozen do not change (they go to meter `live` and session LIVE). */
async function answers() {
  const out: Record<string, unknown> = {};
  const get = async (path: string) => {
    const r = await callJson(path);
    expect(r.status, path).toBeLessThan(300);
    out[path] = { status: r.status, body: r.body, total: r.res.headers.get("Total") };
  };
  for (const meter of ["cpu", "disk", "legacy.mem"]) {
    await get(`/v2/samples?${q(["project_id", P], ["meter", meter])}&limit=50`);
    await get(`/v2/meters/${meter}/statistics?${q(["project_id", P])}`);
    await get(`/v2/meters/${meter}/statistics?${q(["project_id", P])}&period=86400`);
  }
  await get(`/v2/meters?${q(["project_id", P])}`);
  for (const path of [
    "/sessions/",
    "/sessions/count",
    `/sessions/${H1}/metrics`,
    "/contexts/",
    "/components/",
    "/pipelines/",
  ])
    await get(`${api}${path}`);
  return out;
}

async function move(to: string, query = "?steps=1", project = P) {
  return callJson<MoveState & { message?: string }>(`/admin/shards/moves${query}`, {
    method: "POST",
    json: { project, to },
  });
}

/** The saved state as it is now, and a way back to it: a call that died after its writes but before its save. */
async function savedRow() {
  const row = await env.DB.prepare("SELECT step, cursor FROM shard_moves WHERE project = ?1").bind(P).first<{
    step: string;
    cursor: string;
  }>();
  return () =>
    env.DB.prepare("UPDATE shard_moves SET step = ?2, cursor = ?3 WHERE project = ?1")
      .bind(P, row!.step, row!.cursor)
      .run();
}

/** Lets the cleanup start: the switch is made two map lifetimes old. */
const ageSwitch = () =>
  env.DB.prepare("UPDATE shard_moves SET switched_at = switched_at - 300000 WHERE project = ?1").bind(P).run();

beforeAll(async () => {
  // The monitor, through the API: a context, two sessions with flags, a session for later writes, metrics.
  expect((await callJson(`${api}/contexts/`, { method: "POST", json: pluginContext() })).status).toBe(201);
  for (const [i, h] of [H1, "5e000000000000000000000000000002"].entries()) {
    const s = await callJson(`${api}/sessions/`, {
      method: "POST",
      json: pluginSession(h, { pipeline_branch: "main", pipeline_build_no: String(i + 1), python: "3.11" }),
    });
    expect(s.status).toBe(201);
    const m = await callJson(`${api}/metrics/`, { method: "POST", json: metricsOf(h, 30, { component: `comp${i}` }) });
    expect(m.status).toBe(201);
  }
  expect((await callJson(`${api}/sessions/`, { method: "POST", json: pluginSession(LIVE) })).status).toBe(201);
  SRC = (await shardOf(P)) as string;
  DST = SRC === "DB" ? "SHARD_1" : "DB";
  number = await numberOf(P);
  // A series from before shards (a legacy id), as migration 0017 left them: later posts find it by its key.
  const legacy = sample(0, { meter: "legacy.mem" });
  const key = seriesKey({
    meter: "legacy.mem",
    type: "gauge",
    unit: "%",
    projectId: P,
    resourceId: "vm-0",
    resourceName: "",
    displayName: "",
    namespace: "",
    userId: "u1",
    source: "openstack",
    metadata: JSON.stringify(legacy.metadata),
  });
  await db(SRC)
    .prepare(
      `INSERT INTO telemetry_series (id, key, meter, type, unit, project_id, resource_id, resource_name, display_name, namespace, user_id, source, metadata)
       VALUES (?1, ?2, 'legacy.mem', 'gauge', '%', ?3, 'vm-0', '', '', '', 'u1', 'openstack', ?4)`,
    )
    .bind(LEGACY_ID, key, P, JSON.parse(key)[10])
    .run();
  // Telemetry through the API: 40 samples of the legacy series, three meters × 600 over ten hours, and a
  // month-old day the archive cron moves to R2 (rollups and the cold index); Q's on the same meters.
  await postSamples(Array.from({ length: 40 }, (_, i) => sample(i * 2, { meter: "legacy.mem" })));
  for (const [k, meter] of ["cpu", "disk", "net"].entries())
    await postSamples(
      Array.from({ length: 600 }, (_, i) => sample(i, { meter, ...(k === 2 ? { metadata: null } : {}) })),
    );
  await postSamples(Array.from({ length: 120 }, (_, i) => sample(i, {}, OLD)));
  await postSamples(Array.from({ length: 20 }, (_, i) => sample(i, { project_id: Q }, OLD)));
  await postSamples(Array.from({ length: 20 }, (_, i) => sample(i, { project_id: Q })));
  const report = await runArchive(env, Date.now());
  expect(report.moved).toBe(140);
  qNumber = await numberOf(Q);
  // Legacy message ids of the legacy series (the table keeps them findable).
  for (let i = 0; i < 3; i++)
    await db(SRC)
      .prepare("INSERT INTO telemetry_legacy_ids (id, series_id, timestamp) VALUES (?1, ?2, ?3)")
      .bind(`legacy-${i}`, LEGACY_ID, T0 * 1000)
      .run();
});

describe("the move's tables", () => {
  it("copy every column of every table of both families", async () => {
    for (const t of [...telemetryMoveTables, ...monitorMoveTables]) {
      const cols = (await rows(env.DB, `SELECT name FROM pragma_table_info('${t.table}')`)).map(
        (r) => (r as { name: string }).name,
      );
      // Rows numbered by the whole table are copied without their rowid (the target numbers them).
      const renumbered = t.conflict === "ignore" && cols.includes("seq") ? ["seq"] : [];
      expect([...t.columns, ...renumbered].sort(), t.name).toEqual(cols.sort());
    }
    const tables = new Set([...telemetryMoveTables, ...monitorMoveTables].map((t) => t.table));
    const all = (
      await rows(
        env.DB,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE 'telemetry_%' OR name LIKE 'monitor_%')",
      )
    ).map((r) => (r as { name: string }).name);
    // Alarms stay in the main DB; the archive guard is empty outside the cron's batch.
    const kept = all.filter((n) => !/^telemetry_alarm|^telemetry_archive_guard$|^telemetry_samples/.test(n));
    expect(kept.filter((n) => !tables.has(n))).toEqual([]);
  });

  it("page through every row of the project, however small the pages", async () => {
    const want = await snapshot(SRC);
    // Rollups of other projects on the same meters, before and after P's in key order, and P's of
    // both widths (they stay: the moves below pass over them too).
    for (const [project, width] of [
      ["aaa-other", 3600],
      ["zzz-other", 3600],
      [P, 60],
      ["zzz-other", 60],
    ] as const)
      await db(SRC)
        .prepare(
          `INSERT INTO telemetry_rollups (width, meter, bucket, project_id, resource_id, user_id, source, n, total, lo, hi, squares, first, last, unit)
           SELECT ?1, meter, bucket, ?2, resource_id, user_id, source, n, total, lo, hi, squares, first, last, unit
           FROM telemetry_rollups WHERE project_id = ?3 AND width = 3600`,
        )
        .bind(width, project, P)
        .run();
    const rollups = await rows(
      db(SRC),
      "SELECT * FROM telemetry_rollups WHERE project_id = ?1 ORDER BY width, meter, bucket, resource_id, user_id, source",
      P,
    );
    expect(rollups.length).toBe(2 * want.rollups.length);
    const of: Record<string, string> = {
      telemetry_series: "series",
      telemetry_series_metadata: "metadata",
      telemetry_chunks: "chunks",
      telemetry_legacy_ids: "legacy",
      telemetry_meters: "meters",
      telemetry_rollups: "rollups",
      telemetry_archive: "archive",
      monitor_projects: "projects",
      monitor_session_flags: "flags",
    };
    const got: Record<string, unknown[]> = {};
    for (const t of [...telemetryMoveTables, ...monitorMoveTables]) {
      let cursor: Key | null = null;
      for (let i = 0; ; i++) {
        expect(i, t.name).toBeLessThan(10_000);
        const page = await t.read(db(SRC), { project: P, number }, cursor, 3, t.columns);
        const k = of[t.table] ?? t.table.replace("monitor_", "");
        got[k] = [...(got[k] ?? []), ...page.rows];
        if (page.done) break;
        cursor = page.next;
      }
    }
    const key = (r: unknown) => JSON.stringify(Object.entries(r as object).sort());
    const same = (a: unknown[], b: unknown[]) => expect(a.map(key).sort()).toEqual(b.map(key).sort());
    same(got.rollups, rollups);
    for (const k of [
      "series",
      "metadata",
      "chunks",
      "legacy",
      "archive",
      "projects",
      "sessions",
      "contexts",
      "metrics",
      "flags",
    ])
      same(got[k], want[k]);
    for (const k of ["meters", "components", "pipelines", "builds"]) expect(got[k].length, k).toBe(want[k].length);
  });

  it("orders keys as SQLite does (numbers before text, text by its UTF-8 bytes)", () => {
    expect(compareKeys([1, "b"], [1, "a"])).toBeGreaterThan(0);
    expect(compareKeys([2], ["1"])).toBeLessThan(0);
    expect(compareKeys(["\uffff"], ["\u{10000}"])).toBeLessThan(0); // UTF-16 would say the opposite
    expect(compareKeys([3600, "cpu"], [3600, "cpu", 5])).toBeLessThan(0);
  });
});

describe("moving a project between shards", () => {
  it("refuses what it cannot do", async () => {
    const user = (await mintToken({ user: "eve", role: "user", projects: [P] })).token;
    const asUser = await callJson("/admin/shards/moves", {
      method: "POST",
      json: { project: P, to: DST },
      token: user,
    });
    expect(asUser.status).toBe(403);
    expect(asUser.body).toEqual({ message: "authorization failed" });
    expect((await callJson("/admin/shards", { token: null })).status).toBe(401);
    const nowhere = await move("SHARD_9");
    expect(nowhere.status).toBe(400);
    expect(nowhere.body.message).toMatch(/not one of SHARDS/);
    const here = await move(SRC);
    expect(here.status).toBe(409);
    expect(here.body.message).toMatch(/already/);
    const unplaced = await move(DST, "?steps=1", "never-written");
    expect(unplaced.status).toBe(404);
    const bad = await callJson("/admin/shards/moves", { method: "POST", json: { project: P } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toHaveProperty("to");
    expect((await move(DST, "?steps=0")).status).toBe(400);
    expect((await callJson(`/admin/shards/moves/${P}`)).status).toBe(404);
    expect((await callJson("/admin/shards/moves", { method: "DELETE" })).status).toBe(405);
  });

  it("lists the shards with their projects", async () => {
    const { status, body } = await callJson("/admin/shards");
    expect(status).toBe(200);
    expect(body.shards.map((s: { shard: string }) => s.shard).sort()).toEqual(["DB", "SHARD_1"]);
    const total = body.shards.reduce((a: number, s: { projects: number }) => a + s.projects, 0);
    expect(total).toBe((await env.DB.prepare("SELECT count(*) AS n FROM shard_map").first<{ n: number }>())!.n);
    // One project's place, as the map holds it; a project never written has none.
    const one = await callJson(`/admin/shards/projects/${P}`);
    expect(one.body).toEqual({ project: P, number, shard: SRC, frozen: false });
    expect((await callJson("/admin/shards/projects/nobody-yet")).status).toBe(404);
    const { token: user } = await mintToken({ user: "u", role: "user", projects: [P] });
    expect((await callJson(`/admin/shards/projects/${P}`, { token: user })).status).toBe(403);
  });

  it("copies, catches up, freezes, syncs, switches and cleans up, interrupted between every step", async () => {
    const before = await snapshot(SRC);
    const qShard = (await shardOf(Q)) as string;
    const qBefore = await snapshot(qShard, Q, qNumber);
    expect(before.series.map((s) => (s as { id: number }).id)).toContain(LEGACY_ID);
    expect((before.chunks as Array<{ series_id: number }>).some((c) => c.series_id === LEGACY_ID)).toBe(true);
    expect((before.series as Array<{ id: number }>).filter((s) => s.id >= seriesFloor(number)).length).toBe(6);
    expect(before.metadata.length).toBeGreaterThan(10);
    expect(before.legacy.length).toBe(3);
    expect(before.flags.length).toBeGreaterThan(0);
    expect(before.pipelines.length).toBe(1);
    expect(before.builds.length).toBe(2);
    expect(before.components.length).toBe(2);
    expect(before.rollups.length).toBeGreaterThan(0);
    expect(before.archive.length).toBeGreaterThan(0);
    const counted = (await callJson("/admin/shards")).body.shards;
    const written: Sample[] = [];
    const others = "SELECT count(*) AS n FROM telemetry_rollups WHERE project_id IN ('aaa-other', 'zzz-other')";
    const othersBefore = await db(SRC).prepare(others).first();

    // The first unit: the target fenced, the first page copied.
    const first = await move(DST);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ project: P, source: SRC, target: DST, step: "copy" });
    expect(await db(DST).prepare("SELECT project FROM shard_fences WHERE project = ?1").bind(P).first()).toEqual({
      project: P,
    });
    // A second call while one holds the move's lease: refused until the lease ends.
    await env.DB.prepare("UPDATE shard_moves SET cursor = json_set(cursor, '$.leaseUntil', ?2) WHERE project = ?1")
      .bind(P, Date.now() + 60_000)
      .run();
    const busy = await move(DST);
    expect(busy.status).toBe(409);
    expect(busy.body.message).toMatch(/Another call is running/);
    await env.DB.prepare("UPDATE shard_moves SET cursor = json_set(cursor, '$.leaseUntil', 0) WHERE project = ?1")
      .bind(P)
      .run();
    // Another target while it runs: refused.
    const other = await move(SRC);
    expect(other.status).toBe(409);
    expect(other.body.message).toMatch(/already moving/);

    let units = 0;
    let late = false;
    let caughtUp = false;
    let removed = 0;
    let state = first.body;
    let replay: (() => Promise<unknown>) | null = null;
    while (state.step === "copy" || state.step === "catchup") {
      units++;
      // Units 6 and 7 die before saving: the move goes on from unit 5's state, doing them again.
      if (units === 5) replay = await savedRow();
      if (units === 8) {
        await replay!();
        state = (await callJson<MoveState>(`/admin/shards/moves/${P}`)).body;
      }
      if (units === 3) {
        // Writes while copying land on the source: an append to a chunk, a new hour, new series, a metric.
        const w = [
          sample(5, { volume: 5.5 }),
          sample(2000),
          sample(7, { resource_id: "vm-new", volume: 7.25 }),
          sample(1, { meter: "live", volume: 1.75 }),
        ];
        written.push(...w);
        await postSamples(w);
        await postMetric("10:00:00.000001");
      }
      if (!late && state.step === "copy" && (state.cursor.table ?? 0) >= 7) {
        // The chunks are copied: a post appends to one; one goes from the source (as if expired), and
        // the target holds a chunk the source never had (a leftover): the sync must set both right.
        late = true;
        const w = sample(9, { volume: 9.5 });
        written.push(w);
        await postSamples([w]);
        const gone = await db(SRC)
          .prepare("DELETE FROM telemetry_chunks WHERE series_id = ?1 AND bucket = ?2 RETURNING n")
          .bind(seriesFloor(number) + 1, T0 * 1000 + 9 * HOUR_MS * 1000)
          .first<{ n: number }>();
        removed = gone!.n;
        await db(DST)
          .prepare(
            "INSERT INTO telemetry_chunks (series_id, bucket, n, total, lo, hi, squares, first, last, samples) VALUES (?1, 0, 1, 1, 1, 1, 1, 0, 0, '[[0,1,0]]')",
          )
          .bind(seriesFloor(number) + 1)
          .run();
        await db(SRC)
          .prepare("UPDATE telemetry_rollups SET n = n + 60 WHERE project_id = ?1 AND meter = 'cpu' AND width = 3600")
          .bind(P)
          .run();
      }
      if (state.step === "catchup" && !caughtUp) {
        // Live still: the catch-up pass (or the frozen sync) brings it.
        caughtUp = true;
        const w = sample(11, { volume: 11.5 });
        written.push(w);
        await postSamples([w]);
      }
      // A crash between steps: the state is what the route answers, as saved.
      expect((await callJson<MoveState>(`/admin/shards/moves/${P}`)).body).toEqual(state);
      const r = await move(DST);
      expect(r.status).toBe(200);
      state = r.body;
    }
    expect(units).toBeGreaterThan(10);
    expect(late && caughtUp).toBe(true);
    expect(state.step).toBe("freeze");
    expect(await shardOf(P)).toBe(SRC);

    // Written after the catch-up, before the freeze: the frozen sync must bring these.
    const lastLive = sample(12, { volume: 12.5 });
    written.push(lastLive);
    await postSamples([lastLive]);
    await postMetric("10:00:00.000002");

    // Freeze: the map frozen, the source fenced.
    state = (await move(DST)).body;
    expect(state.step).toBe("sync");
    expect(
      await env.DB.prepare("SELECT frozen FROM shard_map WHERE project = ?1").bind(P).first<{ frozen: number }>(),
    ).toEqual({ frozen: 1 });
    // A writer with a stale map writes the source: bounced, nothing written.
    const stale = sample(3000);
    const src = db(SRC);
    const bounced = await src
      .batch([
        fenceGuardStatement(src, [P]),
        ...prepared(src, [{ ...stale, recordedAt: 0, timestamp: us(stale), projectId: P }]),
      ])
      .then(
        () => null,
        (e) => e,
      );
    expect(isFenced(bounced)).toBe(true);
    // Writers with a fresh map wait for the switch, then write the target.
    const waiting = sample(3, { meter: "live", volume: 3.5 });
    written.push(waiting);
    const frozenWrite = postSamples([waiting]);
    const frozenMetric = postMetric("10:00:00.000003");
    let syncs = 0;
    replay = await savedRow();
    while (state.step === "sync") {
      syncs++;
      // Frozen, the same: three sync units done again.
      if (syncs === 4) await replay();
      state = (await move(DST)).body;
    }
    expect(state.step).toBe("switch");
    // Synced: the target holds exactly the source's rows of the project; what clients read is taken here.
    const atSwitch = await snapshot(SRC);
    expect(await snapshot(DST)).toEqual(atSwitch);
    expect(chunkEntries(atSwitch.chunks).some((e) => e.endsWith(`@${us(waiting)}=3.5`))).toBe(false);
    const read = await answers();
    state = (await move(DST)).body;
    expect(state.step).toBe("cleanup");
    expect(state.switched_at).toBeGreaterThan(0);
    expect(state.cursor.frozenRows).toBe(2); // the last sample's chunk, the last metric
    console.log(
      `frozen ${state.cursor.frozenMs} ms (one HTTP call per unit, ${syncs} units), ${state.cursor.frozenRows} rows written`,
    );
    expect(await shardOf(P)).toBe(DST);
    await Promise.all([frozenWrite, frozenMetric]);
    // Read from the target now: the same answers.
    expect(await answers()).toEqual(read);

    // Cleanup waits two map lifetimes (stale readers may read the source until then).
    const waited = await move(DST);
    expect(waited.body.step).toBe("cleanup");
    expect(waited.body.cursor.deleted).toBe(state.cursor.deleted);
    expect((await snapshot(SRC)).chunks.length).toBe(atSwitch.chunks.length);
    await ageSwitch();
    // Resumable: the script's loop (no steps) finishes it.
    const done = await move(DST, "");
    expect(done.status).toBe(200);
    expect(done.body.step).toBe("done");
    expect(await answers()).toEqual(read);
    // The script run again: the finished move, nothing done.
    const again = await move(DST, "");
    expect(again.status).toBe(200);
    expect(again.body).toEqual(done.body);

    // The source holds nothing of P (its fence stays), Q untouched.
    expect(empty(await snapshot(SRC))).toBe(true);
    expect(await db(SRC).prepare("SELECT project FROM shard_fences WHERE project = ?1").bind(P).first()).toEqual({
      project: P,
    });
    const dstFence = await db(DST).prepare("SELECT count(*) AS n FROM shard_fences WHERE project = ?1").bind(P).first();
    expect(dstFence).toEqual({ n: 0 });
    expect(await snapshot(qShard, Q, qNumber)).toEqual(qBefore);
    expect(await db(SRC).prepare(others).first()).toEqual(othersBefore);
    expect(await db(DST).prepare(others).first()).toEqual({ n: 0 });

    // The target: everything, plus the writes made during the move, none lost, none twice.
    const after = await snapshot(DST);
    const grew = sizes(after);
    const was = sizes(before);
    expect(grew.series).toBe(was.series + 2); // vm-new, live
    expect(grew.meters).toBe(was.meters + 2);
    expect(grew.metrics).toBe(was.metrics + 3);
    for (const k of ["legacy", "rollups", "archive", "sessions", "contexts", "flags", "components", "pipelines"])
      expect(grew[k], k).toBe(was[k]);
    expect(grew.builds).toBe(was.builds);
    expect(grew.projects).toBe(1);
    expect(samplesIn(after)).toBe(samplesIn(before) - removed + written.length);
    const entries = chunkEntries(after.chunks);
    expect(new Set(entries).size).toBe(entries.length);
    for (const w of written)
      expect(entries.filter((e) => e.endsWith(`@${us(w)}=${w.volume}`)).length, String(w.timestamp)).toBe(1);
    expect(entries.some((e) => e.includes(`@${us(stale)}=`))).toBe(false);
    expect(entries.some((e) => e.startsWith(`${seriesFloor(number) + 1}@0=`))).toBe(false);
    const items = (after.metrics as Array<{ item: string }>).map((m) => m.item).filter((i) => i.startsWith("10:"));
    expect(items.sort()).toEqual(["10:00:00.000001", "10:00:00.000002", "10:00:00.000003"]);
    const sumN = (s: Record<string, unknown[]>) => (s.rollups as Array<{ n: number }>).reduce((a, r) => a + r.n, 0);
    expect(sumN(after)).toBe(
      sumN(before) +
        60 *
          (before.rollups as Array<{ meter: string; width: number }>).filter(
            (r) => r.meter === "cpu" && r.width === 3600,
          ).length,
    );
    // The legacy series came along, its id unchanged.
    expect((after.series as Array<{ id: number }>).filter((s) => s.id < SERIES_SPAN).map((s) => s.id)).toEqual([
      LEGACY_ID,
    ]);

    const now = (await callJson("/admin/shards")).body.shards;
    const count = (list: Array<{ shard: string; projects: number }>, s: string) =>
      list.find((x) => x.shard === s)?.projects;
    expect(count(now, DST)).toBe((count(counted, DST) ?? 0) + 1);
    expect(count(now, SRC)).toBe((count(counted, SRC) ?? 0) - 1);
  });

  it("moves it back in one call, the answers unchanged (the old source's fence lifted at the switch)", async () => {
    const there = await snapshot(DST);
    const read = await answers();
    const r = await move(SRC, "?budget_ms=20000");
    expect(r.status).toBe(200);
    expect(r.body.step).toBe("cleanup");
    console.log(`move back in one call: frozen ${r.body.cursor.frozenMs} ms, ${r.body.cursor.frozenRows} rows written`);
    expect(await shardOf(P)).toBe(SRC);
    expect(await snapshot(SRC)).toEqual(there);
    expect(await answers()).toEqual(read);
    const fences = await db(SRC).prepare("SELECT count(*) AS n FROM shard_fences WHERE project = ?1").bind(P).first();
    expect(fences).toEqual({ n: 0 });
    // New writes go to the source again.
    await postSamples([sample(5000)]);
    expect(samplesIn(await snapshot(SRC))).toBe(samplesIn(there) + 1);
    await ageSwitch();
    expect((await move(SRC, "")).body.step).toBe("done");
    expect(empty(await snapshot(DST))).toBe(true);
    expect((await callJson(`/admin/shards/moves/${P}`)).body).toMatchObject({ source: DST, target: SRC, step: "done" });
  });
});

describe("reads that span shards during a move", () => {
  it("count a moving project once: its copy on the other shard is fenced until the switch", async () => {
    // An admin's lists and statistics read both shards; P's rows are on the source and, from the
    // copy on, on the target too.
    const adminView = async () => {
      const list = await callJson<unknown[]>("/v2/samples?limit=1000");
      const meters = await callJson<Array<{ meter: string; project_id: string }>>("/v2/meters?limit=1000");
      const stats = await callJson<Array<{ count: number; sum: number }>>("/v2/meters/cpu_util/statistics");
      return {
        total: list.res.headers.get("Total"),
        ids: (list.body as Array<{ id: string }>).map((x) => x.id).sort(),
        meters: meters.body.map((m) => `${m.meter} ${m.project_id}`).sort(),
        stats: stats.body.map((x) => [x.count, x.sum]),
      };
    };
    const before = await adminView();
    expect(before.ids.length).toBeGreaterThan(0);
    let state = (await move(DST)).body;
    while (state.step === "copy" || state.step === "catchup") state = (await move(DST)).body;
    // Copied and caught up, not frozen: both shards hold P, the target fenced for it.
    expect(state.step).toBe("freeze");
    expect(samplesIn(await snapshot(DST))).toBe(samplesIn(await snapshot(SRC)));
    expect(await adminView()).toEqual(before);
    const done = await move(DST, "?budget_ms=20000");
    expect(done.body.step).toBe("cleanup");
    // Switched, not cleaned up: the source's copy is the fenced one now.
    expect(samplesIn(await snapshot(SRC))).toBe(samplesIn(await snapshot(DST)));
    expect(await adminView()).toEqual(before);
  });
});

describe("a project numbered past the monitor's limit", () => {
  it("moves its telemetry (the monitor has no rows of it)", async () => {
    const F = "far-project";
    await env.DB.prepare("INSERT INTO shard_map (project, number, shard) VALUES (?1, 9000, 'DB')").bind(F).run();
    await postSamples(Array.from({ length: 30 }, (_, i) => sample(i, { project_id: F })));
    const before = await snapshot("DB", F, 9000);
    expect(before.chunks.length).toBeGreaterThan(0);
    expect((before.series[0] as { id: number }).id).toBe(seriesFloor(9000) + 1);
    const r = await move("SHARD_1", "?budget_ms=20000", F);
    expect(r.body.step).toBe("cleanup");
    expect(await snapshot("SHARD_1", F, 9000)).toEqual(before);
  });
});

describe("the frozen window", () => {
  it("is one compare pass over the project's mutable rows, well under the writers' wait", async () => {
    // 10,000 chunks: 250 resources × 40 hours, one sample each.
    const B = "bigmove";
    const samples = Array.from({ length: 10_000 }, (_, i) =>
      sample(i % 40, {
        project_id: B,
        resource_id: `r${Math.floor(i / 40)}`,
        metadata: null,
        timestamp: iso(T0 + (i % 40) * HOUR_MS),
      }),
    );
    await postSamples(samples);
    const from = (await shardOf(B)) as string;
    const to = from === "DB" ? "SHARD_1" : "DB";
    const n = await numberOf(B);
    const before = await snapshot(from, B, n);
    expect(before.chunks.length).toBe(10_000);
    let state = (await move(to, "?budget_ms=25000", B)).body;
    while (state.step !== "cleanup") state = (await move(to, "?budget_ms=25000", B)).body;
    console.log(
      `10,000 chunks, 250 series: frozen ${state.cursor.frozenMs} ms (${state.cursor.frozenRows} rows written), copy ${state.cursor.copied} rows`,
    );
    expect(state.cursor.frozenMs).toBeLessThan(10_000);
    expect(await snapshot(to, B, n)).toEqual(before);
  }, 180_000);
});

const dialect = new SQLiteAsyncDialect();

/** The ingest's statements prepared on `d` (a hand-made batch, as a writer with a stale map would send). */
function prepared(d: D1Database, samples: Array<Record<string, unknown>>): D1PreparedStatement[] {
  const inputs = samples.map((s) => ({
    meter: String(s.meter),
    type: "gauge" as const,
    unit: String(s.unit),
    volume: Number(s.volume),
    projectId: P,
    resourceId: String(s.resource_id),
    resourceName: "",
    displayName: "",
    namespace: "",
    userId: "u1",
    source: "openstack",
    timestamp: Number(s.timestamp),
    recordedAt: Number(s.timestamp),
    metadata: "",
  }));
  const { writes } = ingestStatements(inputs, new Map([[P, seriesFloor(number)]]));
  return writes.map((w) => {
    const x = dialect.sqlToQuery(w);
    return d.prepare(x.sql).bind(...x.params);
  });
}
