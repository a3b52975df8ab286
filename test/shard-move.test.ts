// Moving a project between shards (src/db/shard-move.ts, docs/deploy.md "Shards: adding one,
// moving a project"): interrupted between every step, written to between steps (also while
// frozen, and by a writer with a stale map), resumed, and compared row by row.
import { env } from "cloudflare:workers";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { beforeAll, describe, expect, it } from "vitest";
import { compareKeys, type MoveState } from "../src/db/shard-move";
import {
  fenceGuard,
  fenceGuardStatement,
  forgetPlacements,
  isFenced,
  seriesFloor,
  writeToShards,
} from "../src/db/shards";
import { monitorMoveTables } from "../src/monitor/shard-tables";
import { ingestStatements, runBatch, type SampleInput, seriesKey } from "../src/telemetry/chunks";
import { flattenMetadata } from "../src/telemetry/schemas";
import { telemetryMoveTables } from "../src/telemetry/shard-tables";
import { callJson, mintToken } from "./helpers/http";
import { metricsOf, pluginContext, pluginSession } from "./helpers/monitor";
import { shardDatabase, shardOf } from "./helpers/shards";

const P = "mover";
const Q = "stayer";
const HOUR_US = 3_600_000_000;
const T0 = Date.parse("2025-01-01T00:00:00Z") * 1000;
const SPAN = 2 ** 40;
const db = (shard: string) => shardDatabase(shard);

let number = 0; // P's project number (its monitor_projects.id)

const rows = async (d: D1Database, q: string, ...params: unknown[]) =>
  (
    await d
      .prepare(q)
      .bind(...params)
      .all()
  ).results;

/** Every row of project P on one shard, table by table, in a fixed order (plain SQL, not the move's own reads). */
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
        ["sessions", "contexts", "metrics", "components", "pipelines", "builds"].map(async (t) => [
          t,
          await rows(d, `SELECT * FROM monitor_${t} WHERE seq > ?1 AND seq < ?2 ORDER BY seq`, lo, lo + SPAN),
        ]),
      ),
    ),
    flags: await rows(
      d,
      "SELECT * FROM monitor_session_flags WHERE session_seq > ?1 AND session_seq < ?2 ORDER BY session_seq, name",
      lo,
      lo + SPAN,
    ),
  };
}

const sizes = (s: Record<string, unknown[]>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.length]));
const samplesIn = (s: Record<string, unknown[]>) => (s.chunks as Array<{ n: number }>).reduce((a, c) => a + c.n, 0);

/** A telemetry sample as the ingest takes it. */
function sample(i: number, over: Partial<SampleInput> = {}): SampleInput {
  const metadata = over.metadata ?? JSON.stringify({ flavor: { name: "m1" }, tags: ["a", i % 2 === 0], size: 2 });
  return {
    meter: "cpu",
    type: "gauge",
    unit: "%",
    volume: i,
    projectId: P,
    resourceId: `vm-${i % 2}`,
    resourceName: "",
    displayName: "",
    namespace: "",
    userId: "u1",
    source: "openstack",
    timestamp: T0 + i * 60_000_000,
    recordedAt: T0 + i * 60_000_000 + 5,
    ...over,
    metadata,
    metadataEntries: metadata ? (flattenMetadata(JSON.parse(metadata)) ?? []) : [],
  };
}

/** A telemetry write as the family makes it: fenced, through the map (waits while frozen). */
const writeSamples = (samples: SampleInput[]) =>
  writeToShards(env, [P], ({ db: d }) => runBatch(d, [fenceGuard([P]), ...ingestStatements(samples).writes]));

/** A monitor metric row written the same way: the project's next rowid, behind the fence. */
const writeMetric = (item: string) =>
  writeToShards(env, [P], ({ db: d }) =>
    d.batch([
      fenceGuardStatement(d, [P]),
      d
        .prepare(
          `INSERT INTO monitor_metrics (seq, project_id, session_h, context_h, item_start_time, item_path, item, item_variant,
             item_fs_loc, kind, component, total_time, user_time, kernel_time, cpu_usage, mem_usage)
           SELECT coalesce((SELECT max(seq) FROM monitor_metrics WHERE seq > ?1 AND seq < ?1 + ${SPAN}), ?1) + 1, ?2,
             's-move', 'ctx', ?3, 'tests.move', ?3, ?3, 'tests/move.py', 'function', '', 1, 1, 0, 0.5, 1`,
        )
        .bind(number * SPAN, number, item),
    ]),
  );

async function move(to: string, query = "?steps=1", project = P) {
  return callJson<MoveState & { message?: string }>(`/admin/shards/moves${query}`, {
    method: "POST",
    json: { project, to },
  });
}

/** Lets the cleanup start: the switch is made two map lifetimes old. */
const ageSwitch = () =>
  env.DB.prepare("UPDATE shard_moves SET switched_at = switched_at - 300000 WHERE project = ?1").bind(P).run();

const chunkEntries = (chunks: unknown[]) =>
  (chunks as Array<{ series_id: number; bucket: number; samples: string }>).flatMap((c) =>
    (JSON.parse(c.samples) as number[][]).map((e) => `${c.series_id}@${c.bucket + e[0]}=${e[1]}`),
  );

beforeAll(async () => {
  const api = `/projects/${P}/api/v1`;
  // The monitor: a context, two sessions with flags, metrics, through the HTTP API (the main DB).
  expect((await callJson(`${api}/contexts/`, { method: "POST", json: pluginContext() })).status).toBe(201);
  for (const [i, h] of ["5e000000000000000000000000000001", "5e000000000000000000000000000002"].entries()) {
    const s = await callJson(`${api}/sessions/`, {
      method: "POST",
      json: pluginSession(h, { pipeline_branch: "main", pipeline_build_no: String(i + 1), python: "3.11" }),
    });
    expect(s.status).toBe(201);
    const m = await callJson(`${api}/metrics/`, {
      method: "POST",
      json: metricsOf(h, 30, { component: `comp${i}` }),
    });
    expect(m.status).toBe(201);
  }
  const row = await env.DB.prepare("SELECT id FROM monitor_projects WHERE name = ?1").bind(P).first<{ id: number }>();
  number = row!.id;
  // Telemetry: samples stored before the project had a range (legacy series ids < 2^24)…
  const legacy = Array.from({ length: 40 }, (_, i) => sample(i, { meter: "legacy.mem" }));
  await runBatch(env.DB, ingestStatements(legacy).writes);
  // …Q's, on the same meter names (its rows must stay where they are)…
  await runBatch(env.DB, ingestStatements([0, 1, 2].map((i) => sample(i, { projectId: Q }))).writes);
  // …then a series at the project's floor: series made after it take the ids above it.
  const first = sample(0);
  await env.DB.prepare(
    `INSERT INTO telemetry_series (id, key, meter, type, unit, project_id, resource_id, resource_name, display_name, namespace, user_id, source, metadata)
     VALUES (?1, ?2, 'cpu', 'gauge', '%', ?3, 'vm-0', '', '', '', 'u1', 'openstack', ?4)`,
  )
    .bind(seriesFloor(number), seriesKey(first), P, JSON.parse(seriesKey(first))[10])
    .run();
  await runBatch(env.DB, ingestStatements([first]).writes);
  // 600 samples over 10 hours, three meters: chunks of 60.
  for (let k = 0; k < 3; k++) {
    const batch = Array.from({ length: 600 }, (_, i) =>
      sample(i, { meter: ["cpu", "disk", "net"][k], metadata: k === 2 ? "" : undefined }),
    );
    await runBatch(env.DB, ingestStatements(batch).writes);
  }
  // Legacy message ids of a legacy series (P's and Q's), rollups and the cold index (as the archive cron makes them).
  const legacySeries = await env.DB.prepare("SELECT id, project_id FROM telemetry_series WHERE id < 16777216").all<{
    id: number;
    project_id: string;
  }>();
  for (const [i, s] of legacySeries.results.entries())
    await env.DB.prepare("INSERT INTO telemetry_legacy_ids (id, series_id, timestamp) VALUES (?1, ?2, ?3)")
      .bind(`legacy-${s.project_id}-${i}`, s.id, T0)
      .run();
  for (const project of [P, Q])
    for (const meter of ["cpu", "legacy.mem"])
      for (let h = 0; h < 3; h++)
        await env.DB.prepare(
          `INSERT INTO telemetry_rollups (width, meter, bucket, project_id, resource_id, user_id, source, n, total, lo, hi, squares, first, last, unit)
           VALUES (3600, ?1, ?2, ?3, 'vm-0', 'u1', 'openstack', 60, 100, 0, 9, 300, ?2, ?2 + 59, '%')`,
        )
          .bind(meter, T0 - (h + 1) * HOUR_US, project)
          .run();
  for (const project of [P, Q])
    await env.DB.prepare(
      `INSERT INTO telemetry_archive (key, project_id, meter, day, first, last, n, bytes, min_seq, max_seq, moved_at)
       VALUES (?1, ?2, 'cpu', ?3, ?3, ?3, 60, 1000, 1, 60, 1)`,
    )
      .bind(`cold/${project}/1`, project, T0 - 86_400_000_000)
      .run();
  // The map: both projects on the main DB (Q numbered far from P).
  await env.DB.prepare(
    "INSERT OR REPLACE INTO shard_map (project, number, shard) VALUES (?1, ?2, 'DB'), (?3, 900, 'DB')",
  )
    .bind(P, number, Q)
    .run();
  forgetPlacements();
});

describe("the move's tables", () => {
  it("copy every column of every table of both families", async () => {
    for (const t of [...telemetryMoveTables, ...monitorMoveTables]) {
      const cols = (await rows(env.DB, `SELECT name FROM pragma_table_info('${t.table}')`)).map(
        (r) => (r as { name: string }).name,
      );
      expect([...t.columns].sort(), t.name).toEqual(cols.sort());
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

  it("orders keys as SQLite does (numbers before text, text by its UTF-8 bytes)", () => {
    expect(compareKeys([1, "b"], [1, "a"])).toBeGreaterThan(0);
    expect(compareKeys([2], ["1"])).toBeLessThan(0);
    expect(compareKeys(["\uffff"], ["\u{10000}"])).toBeLessThan(0); // UTF-16 would say the opposite
    expect(compareKeys([3600, "cpu"], [3600, "cpu", 5])).toBeLessThan(0);
  });
});

describe("moving a project between shards", () => {
  let before: Record<string, unknown[]>;
  let qBefore: Record<string, unknown[]>;
  const written: SampleInput[] = [];

  it("refuses what it cannot do", async () => {
    const user = (await mintToken({ user: "eve", role: "user", projects: [P] })).token;
    const asUser = await callJson("/admin/shards/moves", {
      method: "POST",
      json: { project: P, to: "SHARD_1" },
      token: user,
    });
    expect(asUser.status).toBe(403);
    expect(asUser.body).toEqual({ message: "authorization failed" });
    expect((await callJson("/admin/shards", { token: null })).status).toBe(401);
    const nowhere = await move("SHARD_9");
    expect(nowhere.status).toBe(400);
    expect(nowhere.body.message).toMatch(/not one of SHARDS/);
    const here = await move("DB");
    expect(here.status).toBe(409);
    expect(here.body.message).toMatch(/on DB already/);
    const unplaced = await move("SHARD_1", "?steps=1", "never-written");
    expect(unplaced.status).toBe(404);
    const bad = await callJson("/admin/shards/moves", { method: "POST", json: { project: P } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toHaveProperty("to");
    expect((await move("SHARD_1", "?steps=0")).status).toBe(400);
    expect((await callJson(`/admin/shards/moves/${P}`)).status).toBe(404);
    expect((await callJson("/admin/shards/moves", { method: "DELETE" })).status).toBe(405);
  });

  it("lists the shards with their projects", async () => {
    const { status, body } = await callJson("/admin/shards");
    expect(status).toBe(200);
    const db0 = body.shards.find((s: { shard: string }) => s.shard === "DB");
    expect(db0.projects).toBeGreaterThanOrEqual(2);
    expect(body.shards.map((s: { shard: string }) => s.shard)).toContain("SHARD_1");
  });

  it("copies, freezes, syncs, switches and cleans up, interrupted between every step", async () => {
    before = await snapshot("DB");
    qBefore = await snapshot("DB", Q, 900);
    expect(before.series.length).toBeGreaterThan(6);
    expect(before.metadata.length).toBeGreaterThan(10);
    expect(before.legacy.length).toBeGreaterThan(0);
    expect(before.flags.length).toBeGreaterThan(0);
    const counted = (await callJson("/admin/shards")).body.shards;

    // The first unit: the target fenced, the first page copied.
    const first = await move("SHARD_1");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ project: P, source: "DB", target: "SHARD_1", step: "copy" });
    expect(await db("SHARD_1").prepare("SELECT project FROM shard_fences WHERE project = ?1").bind(P).first()).toEqual({
      project: P,
    });
    // A second call while one holds the move's lease: refused until the lease ends.
    await env.DB.prepare("UPDATE shard_moves SET cursor = json_set(cursor, '$.leaseUntil', ?2) WHERE project = ?1")
      .bind(P, Date.now() + 60_000)
      .run();
    const busy = await move("SHARD_1");
    expect(busy.status).toBe(409);
    expect(busy.body.message).toMatch(/Another call is running/);
    await env.DB.prepare("UPDATE shard_moves SET cursor = json_set(cursor, '$.leaseUntil', 0) WHERE project = ?1")
      .bind(P)
      .run();
    // Another target while it runs: refused.
    const other = await move("DB");
    expect(other.status).toBe(409);
    expect(other.body.message).toMatch(/already moving/);

    // Writes while copying land on the source: an append to a copied chunk, a new hour, a new series, a metric.
    let copying = 0;
    let archived = false;
    let removed = 0;
    let state = first.body;
    let caughtUp = false;
    while (state.step === "copy" || state.step === "catchup") {
      copying++;
      if (state.step === "catchup" && !caughtUp) {
        // Live still: the catch-up pass and then the frozen sync pick this up.
        caughtUp = true;
        const w = sample(11, { volume: 11.5 });
        written.push(w);
        await writeSamples([w]);
      }
      if (copying === 3) {
        const w = [sample(5, { volume: 5.5 }), sample(2000), sample(7, { resourceId: "vm-new", volume: 7.25 })];
        written.push(...w);
        await writeSamples(w);
        await writeMetric("during-copy");
      }
      if (!archived && (state.cursor.table ?? 0) >= 7) {
        // Chunks copied: a post appends to one, and the archive cron moves another (rows and rollups change).
        archived = true;
        const w = sample(9, { volume: 9.5 });
        written.push(w);
        await writeSamples([w]);
        const gone = await env.DB.prepare("SELECT n FROM telemetry_chunks WHERE series_id = ?1 AND bucket = ?2")
          .bind(seriesFloor(number), T0 + 9 * HOUR_US)
          .first<{ n: number }>();
        removed = gone!.n;
        await env.DB.batch([
          env.DB.prepare("DELETE FROM telemetry_chunks WHERE series_id = ?1 AND bucket = ?2").bind(
            seriesFloor(number),
            T0 + 9 * HOUR_US,
          ),
          env.DB.prepare(
            "UPDATE telemetry_rollups SET n = n + 60 WHERE project_id = ?1 AND meter = 'cpu' AND bucket = ?2",
          ).bind(P, T0 - HOUR_US),
          env.DB.prepare(
            `INSERT INTO telemetry_archive (key, project_id, meter, day, first, last, n, bytes, min_seq, max_seq, moved_at)
             VALUES ('cold/mover/2', ?1, 'cpu', ?2, ?2, ?2, 60, 1000, 1, 60, 2)`,
          ).bind(P, T0),
        ]);
      }
      // A crash between steps: the state is what the route answers, as saved.
      const saved = await callJson<MoveState>(`/admin/shards/moves/${P}`);
      expect(saved.body).toEqual(state);
      const r = await move("SHARD_1");
      expect(r.status).toBe(200);
      state = r.body;
    }
    expect(copying).toBeGreaterThan(3);
    expect(archived).toBe(true);
    expect(caughtUp).toBe(true);
    expect(state.step).toBe("freeze");
    expect(await shardOf(P)).toBe("DB");

    // Written after the catch-up, before the freeze: the frozen sync must bring these.
    const late = sample(12, { volume: 12.5 });
    written.push(late);
    await writeSamples([late]);
    await writeMetric("before-freeze");
    // Freeze: the map frozen, the source fenced.
    state = (await move("SHARD_1")).body;
    expect(state.step).toBe("sync");
    expect(
      await env.DB.prepare("SELECT frozen FROM shard_map WHERE project = ?1").bind(P).first<{ frozen: number }>(),
    ).toEqual({ frozen: 1 });
    // A writer with a stale map writes the source: bounced, nothing written.
    const stale = sample(3000);
    const bounced = await db("DB")
      .batch([fenceGuardStatement(db("DB"), [P]), ...runStatements(db("DB"), [stale])])
      .then(
        () => null,
        (e) => e,
      );
    expect(isFenced(bounced)).toBe(true);
    // A writer with a fresh map waits for the switch, then writes the target.
    const waiting = sample(4000);
    written.push(waiting);
    const frozenWrite = writeSamples([waiting]);
    const frozenMetric = writeMetric("while-frozen");
    let syncs = 0;
    while (state.step === "sync") {
      syncs++;
      state = (await move("SHARD_1")).body;
    }
    expect(state.step).toBe("switch");
    // Synced: the target holds exactly the source's rows of the project.
    const atSwitch = await snapshot("DB");
    expect(await snapshot("SHARD_1")).toEqual(atSwitch);
    expect(chunkEntries(atSwitch.chunks)).not.toContainEqual(expect.stringContaining(`@${waiting.timestamp}=`));
    state = (await move("SHARD_1")).body;
    expect(state.step).toBe("cleanup");
    expect(state.switched_at).toBeGreaterThan(0);
    expect(state.cursor.frozenMs).toBeGreaterThanOrEqual(0);
    expect(state.cursor.frozenRows).toBe(2); // the late sample's chunk, the metric
    console.log(
      `frozen ${state.cursor.frozenMs} ms (one HTTP call per unit, ${syncs} units), ${state.cursor.frozenRows} rows written`,
    );
    expect(await shardOf(P)).toBe("SHARD_1");
    await Promise.all([frozenWrite, frozenMetric]);

    // Cleanup waits two map lifetimes (stale readers may read the source until then).
    const waited = await move("SHARD_1");
    expect(waited.body.step).toBe("cleanup");
    expect(waited.body.cursor.deleted).toBe(state.cursor.deleted);
    expect((await snapshot("DB")).chunks.length).toBe(atSwitch.chunks.length);
    await ageSwitch();
    // Resumable: the script's loop (no steps) finishes it.
    const done = await move("SHARD_1", "");
    expect(done.status).toBe(200);
    expect(done.body.step).toBe("done");

    // The source holds nothing of P (its fence stays), Q untouched.
    const gone = await snapshot("DB");
    expect(Object.values(gone).every((v) => v.length === 0)).toBe(true);
    expect(await db("DB").prepare("SELECT project FROM shard_fences WHERE project = ?1").bind(P).first()).toEqual({
      project: P,
    });
    expect(
      await db("SHARD_1").prepare("SELECT count(*) AS n FROM shard_fences WHERE project = ?1").bind(P).first(),
    ).toEqual({
      n: 0,
    });
    expect(await snapshot("DB", Q, 900)).toEqual(qBefore);

    // The target: everything, plus the writes made during the move, none lost, none twice.
    const after = await snapshot("SHARD_1");
    const grew = sizes(after);
    const was = sizes(before);
    expect(grew.series).toBe(was.series + 1); // vm-new
    expect(grew.meters).toBe(was.meters + 1);
    expect(grew.metrics).toBe(was.metrics + 3);
    expect(grew.archive).toBe(was.archive + 1);
    for (const k of [
      "legacy",
      "rollups",
      "sessions",
      "contexts",
      "flags",
      "components",
      "pipelines",
      "builds",
      "projects",
    ])
      expect(grew[k], k).toBe(was[k]);
    // One chunk archived, the writes added.
    expect(samplesIn(after)).toBe(samplesIn(before) - removed + written.length);
    const entries = chunkEntries(after.chunks);
    expect(new Set(entries).size).toBe(entries.length);
    for (const w of written)
      expect(entries.filter((e) => e.endsWith(`@${w.timestamp}=${w.volume}`)).length, String(w.timestamp)).toBe(1);
    expect(entries.some((e) => e.includes(`@${stale.timestamp}=`))).toBe(false);
    const items = (after.metrics as Array<{ item: string }>).map((m) => m.item);
    expect(items.filter((i) => /^(during-copy|before-freeze|while-frozen)$/.test(i)).sort()).toEqual([
      "before-freeze",
      "during-copy",
      "while-frozen",
    ]);
    expect((after.rollups as Array<{ n: number }>).reduce((a, r) => a + r.n, 0)).toBe(
      (before.rollups as Array<{ n: number }>).reduce((a, r) => a + r.n, 0) + 60,
    );

    const now = (await callJson("/admin/shards")).body.shards;
    const count = (list: Array<{ shard: string; projects: number }>, s: string) =>
      list.find((x) => x.shard === s)?.projects;
    expect(count(now, "SHARD_1")).toBe((count(counted, "SHARD_1") ?? 0) + 1);
    expect(count(now, "DB")).toBe((count(counted, "DB") ?? 0) - 1);
  });

  it("moves it back (the old source's fence lifted at the switch)", async () => {
    const there = await snapshot("SHARD_1");
    const r = await move("DB", "?budget_ms=20000");
    expect(r.status).toBe(200);
    expect(r.body.step).toBe("cleanup");
    console.log(`move back in one call: frozen ${r.body.cursor.frozenMs} ms, ${r.body.cursor.frozenRows} rows written`);
    expect(await shardOf(P)).toBe("DB");
    expect(await snapshot("DB")).toEqual(there);
    expect(await db("DB").prepare("SELECT count(*) AS n FROM shard_fences WHERE project = ?1").bind(P).first()).toEqual(
      {
        n: 0,
      },
    );
    // New writes go to the main DB again.
    await writeSamples([sample(5000)]);
    expect(samplesIn(await snapshot("DB"))).toBe(samplesIn(there) + 1);
    await ageSwitch();
    expect((await move("DB", "")).body.step).toBe("done");
    expect(Object.values(await snapshot("SHARD_1")).every((v) => v.length === 0)).toBe(true);
    expect((await callJson(`/admin/shards/moves/${P}`)).body).toMatchObject({
      source: "SHARD_1",
      target: "DB",
      step: "done",
    });
  });
});

const dialect = new SQLiteAsyncDialect();

/** The ingest's statements as prepared D1 statements (for a hand-made batch). */
function runStatements(d: D1Database, samples: SampleInput[]): D1PreparedStatement[] {
  // runBatch prepares drizzle SQL; here the batch needs them prepared, after a raw fence statement.
  const { writes } = ingestStatements(samples);
  return writes.map((w) => {
    const q = dialect.sqlToQuery(w);
    return d.prepare(q.sql).bind(...q.params);
  });
}
