import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import type { Database } from "../src/db/client";
import * as schema from "../src/db/schema";
import { telemetryArchive, telemetryChunks, telemetryRollups, telemetrySeries } from "../src/db/schema";
import worker from "../src/index";
import { runArchive } from "../src/telemetry/archive-cron";
import { parseSampleQuery } from "../src/telemetry/query";
import { computeStatistics } from "../src/telemetry/statistics";
import type { GroupField } from "../src/telemetry/store";
import { tiersOf } from "../src/telemetry/tiers";
import { call, callJson } from "./helpers/http";
import { shardBindings, shardDatabase } from "./helpers/shards";

/** Drizzle over every shard; a read run on each, its rows joined (these tests look at all projects). */
const shardDbs = (): Database[] => shardBindings().map((s) => drizzle(shardDatabase(s), { schema }));
const everyShard = async <T>(read: (db: Database) => Promise<T[]>) => (await Promise.all(shardDbs().map(read))).flat();
const sum = (rows: Array<{ n: number }>) => rows.reduce((n, r) => n + r.n, 0);

const T0 = Date.parse("2015-11-14T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00");
const H = 3_600_000;

/** A seeded generator, so a failure replays. */
function random(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

/** Random samples of one meter over `hours`, on 4 resources of 2 projects. */
function samples(meter: string, n: number, hours: number, seed: number, volume: (r: () => number) => number) {
  const rnd = random(seed);
  return Array.from({ length: n }, (_, i) => ({
    meter,
    type: "gauge",
    unit: "%",
    volume: volume(rnd),
    resource_id: `vm-${Math.floor(rnd() * 4)}`,
    project_id: `tier-p${i % 2}`,
    user_id: `u${Math.floor(rnd() * 3)}`,
    timestamp: iso(T0 + Math.floor(rnd() * hours * H)),
    // Nested, listed and dotted keys: each is a row of the metadata index while hot.
    metadata: { flavor: { name: `f${i % 3}` }, tags: ["t", `x${i % 2}`], "disk.gb": i % 4 },
  }));
}

async function seed(list: object[]) {
  for (let i = 0; i < list.length; i += 1000) {
    const { status } = await callJson("/v2/samples", { method: "POST", json: list.slice(i, i + 1000) });
    expect(status).toBe(201);
  }
}

const q = (...conds: Array<[string, string, string]>) => {
  const p = new URLSearchParams();
  for (const name of ["field", "op", "value"] as const)
    for (const c of conds) p.append(`q.${name}`, c[{ field: 0, op: 1, value: 2 }[name]]);
  return p.toString();
};

function rowsRead(res: Response): number {
  return Number(/rows_read=(\d+)/.exec(res.headers.get("Server-Timing") ?? "")?.[1] ?? NaN);
}

type Posted = ReturnType<typeof samples>[number];

/** Statistics computed here from the posted samples: the reference every tier must equal. */
function reference(list: Posted[], meter: string, query: string, periodS: number, groupby: GroupField[]) {
  const sq = parseSampleQuery(new URLSearchParams(query));
  const rowOf = { resource_id: "resource_id", project_id: "project_id", user_id: "user_id", source: "source" } as const;
  const rows = list
    .filter((x) => x.meter === meter)
    .map((x) => ({ ...x, us: Date.parse(x.timestamp) * 1000 }))
    .filter(
      (x) =>
        (!sq.start || (sq.start.inclusive ? x.us >= sq.start.us : x.us > sq.start.us)) &&
        (!sq.end || (sq.end.inclusive ? x.us <= sq.end.us : x.us < sq.end.us)),
    );
  const origin = sq.start?.us ?? Math.min(...rows.map((x) => x.us));
  const out = new Map<string, Record<string, any>>();
  for (const x of rows) {
    const bucket = periodS ? Math.trunc((x.us - origin) / (periodS * 1e6)) : 0;
    const groups = groupby.map((g) => String((x as Record<string, unknown>)[rowOf[g]]));
    const key = JSON.stringify([bucket, ...groups]);
    const m = out.get(key) ?? {
      bucket,
      groups,
      count: 0,
      sum: 0,
      sq: 0,
      min: Infinity,
      max: -Infinity,
      first: Infinity,
      last: -Infinity,
      res: new Set(),
    };
    m.count += 1;
    m.sum += x.volume;
    m.sq += x.volume * x.volume;
    m.min = Math.min(m.min, x.volume);
    m.max = Math.max(m.max, x.volume);
    m.first = Math.min(m.first, x.us);
    m.last = Math.max(m.last, x.us);
    m.res.add(x.resource_id);
    out.set(key, m);
  }
  const cmp = (a: string[], b: string[]) =>
    JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0;
  return [...out.values()]
    .sort((a, b) => a.bucket - b.bucket || cmp(a.groups, b.groups))
    .map((m) => ({
      ...Object.fromEntries(groupby.map((g, i) => [g, m.groups[i]])),
      bucket: m.bucket,
      count: m.count,
      min: m.min,
      max: m.max,
      sum: m.sum,
      avg: m.sum / m.count,
      squares: m.sq / m.count,
      first: m.first,
      last: m.last,
      unit: "%",
      "cardinality/resource_id": m.res.size,
    }));
}

/** Both answers of one statistics request: the stored summaries and chunks (computeStatistics), and the reference. */
async function both(list: Posted[], meter: string, query: string, periodS: number, groupby: GroupField[]) {
  const sq = parseSampleQuery(new URLSearchParams(query));
  sq.equals.push({ field: "meter", value: meter });
  const tiered = await computeStatistics(shardDbs(), env.TELEMETRY_ARCHIVE, {
    q: sq,
    scope: null,
    periodUs: periodS * 1e6,
    groupby,
    stddev: true,
    cardinality: ["resource_id"],
    tiers: tiersOf(env),
    nowMs: Date.now(),
  });
  return { tiered, raw: reference(list, meter, query, periodS, groupby) };
}

const fields = [
  "bucket",
  "count",
  "min",
  "max",
  "sum",
  "avg",
  "squares",
  "first",
  "last",
  "unit",
  "cardinality/resource_id",
] as const;

describe("chunk summaries", () => {
  it("answer statistics exactly as the raw samples do (dyadic volumes: every sum is exact)", async () => {
    const list = samples("dyadic", 3000, 30, 7, (r) => Math.floor(r() * 65536) / 4 - 8000);
    await seed(list);
    // Whole hours, an unaligned end (expanded chunks), periods aligned and not, grouped.
    const query = q(["timestamp", "ge", iso(T0 + 2 * H)], ["timestamp", "lt", iso(T0 + 27 * H + 1234)]);
    for (const [period, groupby] of [
      [7200, ["resource_id"]],
      [3600, []],
      [0, ["project_id", "user_id"]],
      [600, ["resource_id"]],
      [5000, []],
    ] as const) {
      const { tiered, raw } = await both(list, "dyadic", query, period, [...groupby]);
      expect(raw.length).toBeGreaterThan(0);
      expect(tiered.length).toBe(raw.length);
      tiered.forEach((row, i) => {
        const want = raw[i] as Record<string, unknown>;
        for (const f of [...fields, ...groupby]) expect([f, row[f]]).toEqual([f, want[f]]);
      });
    }
  });

  it("answer random real volumes within 1e-12 relative of the raw computation", async () => {
    const list = samples("real", 2000, 12, 11, (r) => r() * 1000 - 100);
    await seed(list);
    const query = q(["timestamp", "ge", iso(T0)], ["timestamp", "le", iso(T0 + 12 * H)]);
    const { tiered, raw } = await both(list, "real", query, 3600, ["resource_id"]);
    expect(tiered.length).toBe(raw.length);
    tiered.forEach((row, i) => {
      const want = raw[i] as Record<string, unknown>;
      for (const f of fields) {
        const [a, b] = [row[f], want[f]];
        if (typeof a === "number" && typeof b === "number")
          expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(b)));
        else expect(a).toEqual(b);
      }
    });
  });

  it("are what the statistics route reads (rows read: the chunks of the range, aligned or not)", async () => {
    const path = `/v2/meters/dyadic/statistics?period=3600&groupby=resource_id&${q(["timestamp", "ge", iso(T0)], ["timestamp", "lt", iso(T0 + 30 * H)])}`;
    const res = await call(path);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Array<{ count: number }>;
    expect(body.reduce((n, b) => n + b.count, 0)).toBe(3000);
    const chunks = sum(
      await everyShard((db) =>
        db
          .select({ n: sql<number>`count(*)` })
          .from(telemetryChunks)
          .innerJoin(telemetrySeries, eq(telemetrySeries.id, telemetryChunks.seriesId))
          .where(eq(telemetrySeries.meter, "dyadic")),
      ),
    );
    const series = sum(
      await everyShard((db) =>
        db.select({ n: sql<number>`count(*)` }).from(telemetrySeries).where(eq(telemetrySeries.meter, "dyadic")),
      ),
    );
    expect(chunks).toBeGreaterThan(200);
    // O(buckets × series) + a constant: the chunks of the range; each series read once
    // through its index (entry and row) and listed twice by json_each.
    expect(rowsRead(res)).toBeLessThanOrEqual(chunks + 4 * series + 20);
    const unaligned = await call(path.replace("period=3600", "period=3601"));
    expect(rowsRead(unaligned)).toBeLessThanOrEqual(chunks + 4 * series + 20);
  });

  it("count what a post really inserted: a retry adds nothing, an overlapping post only its new samples", async () => {
    const list = samples("retry", 50, 1, 3, (r) => Math.floor(r() * 100));
    await seed(list);
    await seed(list);
    await seed([...list.slice(0, 10), { ...list[0], volume: 12345 }]);
    const rows = await everyShard((db) =>
      db
        .select({ chunk: telemetryChunks })
        .from(telemetryChunks)
        .innerJoin(telemetrySeries, eq(telemetrySeries.id, telemetryChunks.seriesId))
        .where(eq(telemetrySeries.meter, "retry")),
    );
    expect(rows.reduce((n, r) => n + r.chunk.n, 0)).toBe(51);
    expect(Math.max(...rows.map((r) => r.chunk.hi))).toBe(12345);
  });
});

/** Every sample of a query, following the `next` links (cursor) page after page. */
async function everySample(query: string, perPage = 60) {
  const out: unknown[] = [];
  let url: string | undefined = `/v2/samples?${query}&limit=${perPage}`;
  let total = "";
  while (url) {
    const res = await call(url);
    expect(res.status).toBe(200);
    total ||= res.headers.get("Total") ?? "";
    out.push(...((await res.json()) as unknown[]));
    url = /<([^>]+)>; rel="next"/.exec(res.headers.get("Link") ?? "")?.[1]?.replace("http://opshub.test", "");
  }
  return { rows: out, total };
}

describe("hot and cold", () => {
  const meter = "coldm";
  const queries = [
    q(["meter", "eq", meter]),
    q(["meter", "eq", meter], ["project_id", "eq", "tier-p1"], ["timestamp", "ge", iso(T0 + 20 * H)]),
    q(["resource_id", "eq", "vm-2"], ["meter", "eq", meter], ["timestamp", "lt", iso(T0 + 50 * H + 17)]),
    // Metadata conditions: the side table while hot, the NDJSON's metadata once cold.
    q(["meter", "eq", meter], ["metadata.flavor.name", "eq", "f1"], ["metadata.tags[1]", "eq", "x0"]),
    q(["metadata.flavor.name", "eq", "f2"], ["timestamp", "ge", iso(T0 + 30 * H)]),
  ];
  const stats = [
    `/v2/meters/${meter}/statistics?period=3600&groupby=resource_id&aggregate.func=stddev&aggregate.func=cardinality&aggregate.param=&aggregate.param=user_id&${q(["timestamp", "ge", iso(T0)], ["timestamp", "le", iso(T0 + 72 * H - 1)])}`,
    `/v2/meters/${meter}/statistics?period=1800&${q(["timestamp", "gt", iso(T0 + 1000)])}`,
    `/v2/meters/${meter}/statistics`,
  ];
  const snapshot = async () => ({
    lists: await Promise.all(queries.map((x) => everySample(x))),
    stats: await Promise.all(stats.map(async (p) => (await callJson(p)).body)),
  });

  it("answers the same rows, totals and statistics after the move, even when a run dies between steps", async () => {
    // Three days of one meter, dyadic volumes so statistics compare exactly.
    const list = samples(meter, 1500, 72, 5, (r) => Math.floor(r() * 4096) / 8);
    await seed(list);
    const before = await snapshot();
    // Total is counted up to 1000 in both tiers (then Total-Exact: false).
    expect(before.lists[0].rows).toHaveLength(1500);
    expect(before.lists[0].total).toBe("1000");
    expect(before.lists[3].rows.length).toBeGreaterThan(100);
    expect(before.lists[3].total).toBe(String(before.lists[3].rows.length));
    const hotChunks = async () =>
      (
        await everyShard((db) =>
          db
            .select({ n: telemetryChunks.n })
            .from(telemetryChunks)
            .innerJoin(telemetrySeries, eq(telemetrySeries.id, telemetryChunks.seriesId))
            .where(eq(telemetrySeries.meter, meter)),
        )
      ).reduce((n, c) => n + c.n, 0);
    expect(await hotChunks()).toBe(1500);

    // A run that dies after writing objects: nothing indexed, nothing deleted.
    await expect(
      runArchive(env, Date.now(), {
        onStage: (s) => {
          if (s === "written") throw new Error("crash");
        },
      }),
    ).rejects.toThrow("crash");
    expect(await everyShard((db) => db.select().from(telemetryArchive))).toEqual([]);
    expect(await snapshot()).toEqual(before);

    // A run that dies after its first committed step, then a whole run.
    await expect(
      runArchive(env, Date.now(), {
        onStage: (s) => {
          if (s === "committed") throw new Error("crash");
        },
      }),
    ).rejects.toThrow("crash");
    expect((await everyShard((db) => db.select().from(telemetryArchive))).length).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
    const report = await runArchive(env, Date.now());
    expect(report.done).toBe(true);

    expect(await hotChunks()).toBe(0);
    const index = await everyShard((db) => db.select().from(telemetryArchive).where(eq(telemetryArchive.meter, meter)));
    expect(index.reduce((n, e) => n + e.n, 0)).toBe(1500);
    // One object per project and day (3 days × 2 projects), each small enough to be one part.
    expect(new Set(index.map((e) => `${e.projectId}/${e.day}`)).size).toBe(6);
    expect(await snapshot()).toEqual(before);
    // A re-post of samples already in R2 finds them there: nothing stored twice.
    const repost = await callJson<any[]>("/v2/samples", { method: "POST", json: list.slice(0, 20) });
    expect(repost.status).toBe(201);
    const coldIds = new Set((before.lists[0].rows as Array<{ id: string }>).map((x) => x.id));
    expect(repost.body.every((x) => coldIds.has(x.id))).toBe(true);
    expect(await hotChunks()).toBe(0);
    expect(await snapshot()).toEqual(before);
    // A cold sample by id: its id names its series and timestamp, so one day's objects.
    const coldOne = before.lists[0].rows[1200] as { id: string };
    expect(await callJson(`/v2/samples/${coldOne.id}`)).toMatchObject({ status: 200, body: coldOne });
    expect((await callJson<any[]>(`/v2/samples?${q(["message_id", "eq", coldOne.id])}`)).body).toEqual([coldOne]);
    // The moved chunks' summaries stay as hour rollups.
    const rollups = await everyShard((db) =>
      db.select().from(telemetryRollups).where(eq(telemetryRollups.meter, meter)),
    );
    expect(rollups.every((r) => r.width === 3600)).toBe(true);
    expect(rollups.reduce((n, r) => n + r.n, 0)).toBe(1500);
  }, 120_000);

  it("answers a 503 naming the day when a cold object cannot be read", async () => {
    const [entry] = await everyShard((db) =>
      db.select().from(telemetryArchive).where(eq(telemetryArchive.meter, meter)).limit(1),
    );
    const saved = await env.TELEMETRY_ARCHIVE.get(entry.key);
    const bytes = await saved!.arrayBuffer();
    await env.TELEMETRY_ARCHIVE.put(entry.key, new Uint8Array(bytes).slice(0, 40));
    const { status, body } = await callJson<any>(`/v2/samples?${q(["meter", "eq", meter])}&limit=1000&page=2`);
    expect(status).toBe(503);
    expect(body.error.message).toContain(new Date(entry.day / 1000).toISOString().slice(0, 10));
    await env.TELEMETRY_ARCHIVE.delete(entry.key);
    expect((await callJson<any>(stats[2])).status).toBe(503);
    await env.TELEMETRY_ARCHIVE.put(entry.key, bytes);
    expect((await everySample(q(["meter", "eq", meter]))).rows).toHaveLength(1500);
  });

  it("runs from the Worker's scheduled handler (Cron Trigger)", async () => {
    await seed(samples("cronm", 40, 2, 9, (r) => r()));
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: "*/10 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(
      await everyShard((db) =>
        db
          .select()
          .from(telemetryChunks)
          .innerJoin(telemetrySeries, eq(telemetrySeries.id, telemetryChunks.seriesId))
          .where(eq(telemetrySeries.meter, "cronm")),
      ),
    ).toEqual([]);
    expect((await everySample(q(["meter", "eq", "cronm"]))).rows).toHaveLength(40);
  });

  it("pages a list over more cold objects than one request may read: newest first, Total not exact", async () => {
    // 501 meters of one project and day: 501 objects.
    const one = samples("wide", 501, 1, 13, (r) => r()).map((x, i) => ({
      ...x,
      meter: `wide.${i}`,
      project_id: "tier-wide",
    }));
    await seed(one);
    const report = await runArchive(env, Date.now(), { maxRows: 1e9 });
    expect(report.done).toBe(true);
    const res = await call(`/v2/samples?${q(["project_id", "eq", "tier-wide"])}&limit=50`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as unknown[]).length).toBe(50);
    expect(res.headers.get("Total-Exact")).toBe("false");
    // Statistics of one of those meters read its one object.
    const [one1] = (await callJson<any[]>(`/v2/meters/wide.1/statistics`)).body;
    expect(one1.count).toBe(1);
  }, 120_000);

  it("retention drops cold objects and raw rows past TELEMETRY_RETAIN_DAYS, hour rollups past TELEMETRY_ROLLUP_RETAIN_DAYS", async () => {
    // A late sample of 2015 still hot, the rest cold; "now" 30 days after the data.
    await seed([{ ...samples("late", 1, 1, 1, () => 1)[0], project_id: "tier-late" }]);
    const now = T0 + 40 * 24 * H;
    const retained = { ...env, TELEMETRY_HOT_DAYS: "1000000", TELEMETRY_RETAIN_DAYS: "30" } as Env;
    const lateTotal = async () =>
      (await call(`/v2/samples?${q(["project_id", "eq", "tier-late"])}`)).headers.get("Total");
    expect(await lateTotal()).toBe("1");
    const r = await runArchive(retained, now);
    expect(r.expiredObjects).toBeGreaterThan(0);
    expect(r.expiredRows).toBeGreaterThanOrEqual(1);
    expect(await everyShard((db) => db.select().from(telemetryArchive))).toEqual([]);
    expect(await lateTotal()).toBe("0");
    expect(await everyShard((db) => db.select().from(telemetryChunks))).toEqual([]);
    const objects = await env.TELEMETRY_ARCHIVE.list();
    expect(objects.objects).toEqual([]);
    expect(
      (await everyShard((db) => db.select().from(telemetryRollups).where(eq(telemetryRollups.width, 3600)))).length,
    ).toBeGreaterThan(0);
    await runArchive({ ...retained, TELEMETRY_ROLLUP_RETAIN_DAYS: "30" } as Env, now);
    expect(
      await everyShard((db) => db.select().from(telemetryRollups).where(eq(telemetryRollups.width, 3600))),
    ).toEqual([]);
  });
});
