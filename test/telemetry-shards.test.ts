/**
 * Telemetry across two shards (vitest.config.ts binds DB and SHARD_1): what a client sees
 * is what one database holding every project would answer — order, pages, cursors,
 * Total, meters, statistics, ids — while a request naming one project reads its shard
 * alone, writes go where the shard map (and its fences) say, and the archive cron works
 * every shard.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { placementOf, SERIES_SPAN, seriesFloor } from "../src/db/shards";
import { runArchive } from "../src/telemetry/archive-cron";
import { parseSampleId } from "../src/telemetry/chunks";
import { TOTAL_COUNT_LIMIT } from "../src/telemetry/query";
import { call, callJson, mintToken } from "./helpers/http";
import { projectsOnShards, shardBindings, shardDatabase, shardOf } from "./helpers/shards";

type Sample = Record<string, any>;
const T0 = Date.parse("2015-11-14T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00");

const q = (...conds: Array<[string, string] | [string, string, string]>) => {
  const p = new URLSearchParams();
  for (const c of conds) {
    p.append("q.field", c[0]);
    p.append("q.op", c.length === 3 ? c[1] : "eq");
    p.append("q.type", "");
    p.append("q.value", c.length === 3 ? c[2] : c[1]);
  }
  return p.toString();
};

const cost = (res: Response) => {
  const t = res.headers.get("Server-Timing") ?? "";
  return {
    roundTrips: Number(/round_trips=(\d+)/.exec(t)?.[1] ?? 0),
    rowsRead: Number(/rows_read=(\d+)/.exec(t)?.[1] ?? 0),
    rowsWritten: Number(/rows_written=(\d+)/.exec(t)?.[1] ?? 0),
  };
};

async function post(samples: Sample[], token?: string) {
  for (let i = 0; i < samples.length; i += 1000) {
    const r = await callJson<Sample[]>("/v2/samples", { method: "POST", json: samples.slice(i, i + 1000), token });
    if (r.status !== 201) throw new Error(`post answered ${r.status}: ${JSON.stringify(r.body)}`);
  }
}

/** Every sample of a list, following `next` links; with the Total and Total-Exact of its first page. */
async function walk(query: string, perPage: number, token?: string) {
  const rows: Sample[] = [];
  let url: string | undefined = `/v2/samples?${query}&limit=${perPage}`;
  let first: Response | undefined;
  for (let guard = 0; url && guard < 500; guard++) {
    const res = await call(url, { token });
    expect(res.status).toBe(200);
    first ??= res;
    rows.push(...((await res.json()) as Sample[]));
    url = /<([^>]+)>; rel="next"/.exec(res.headers.get("Link") ?? "")?.[1]?.replace("http://opshub.test", "");
  }
  return { rows, total: first?.headers.get("Total"), exact: first?.headers.get("Total-Exact") };
}

/** Newest first, ties by seq (series id · 16384 + position): what one database orders by. */
function inListOrder(rows: Sample[]) {
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [Date.parse(rows[i - 1].timestamp), Date.parse(rows[i].timestamp)];
    expect(a).toBeGreaterThanOrEqual(b);
    if (a === b)
      expect(parseSampleId(rows[i - 1].id)!.seriesId).toBeGreaterThanOrEqual(parseSampleId(rows[i].id)!.seriesId);
  }
}

const key = (s: Sample) => `${s.project_id} ${s.resource_id} ${Date.parse(s.timestamp)} ${s.volume}`;

/** Count, sum, min, max, avg, stddev, duration and cardinalities of posted samples, as Ceilometer defines them. */
function reference(list: Sample[]) {
  const vs = list.map((s) => s.volume as number);
  const ts = list.map((s) => Date.parse(s.timestamp));
  const sum = vs.reduce((a, b) => a + b, 0);
  const avg = sum / vs.length;
  const squares = vs.reduce((a, b) => a + b * b, 0) / vs.length;
  return {
    count: vs.length,
    sum,
    min: Math.min(...vs),
    max: Math.max(...vs),
    avg,
    stddev: Math.sqrt(Math.max(0, squares - avg * avg)),
    duration: (Math.max(...ts) - Math.min(...ts)) / 1000,
    projects: new Set(list.map((s) => s.project_id)).size,
    resources: new Set(list.map((s) => s.resource_id)).size,
  };
}

describe("telemetry on two shards", () => {
  let pa: string;
  let pb: string;
  let both: string;
  const cpu: Sample[] = [];
  const sample = (project: string, i: number, over: Sample = {}): Sample => ({
    meter: "tsh.cpu",
    type: "gauge",
    unit: "%",
    // Dyadic volumes: sums are exact whichever order shards add them in.
    volume: (i % 64) / 4,
    resource_id: `r${i % 3}`,
    project_id: project,
    timestamp: iso(T0 + i * 60_000),
    ...over,
  });

  beforeAll(async () => {
    [pa, pb] = await projectsOnShards("tsh", 2);
    // More matches than TOTAL_COUNT_LIMIT over both shards; every other minute on both at once (ties).
    for (let i = 0; i < 700; i++) {
      cpu.push(sample(pa, i));
      cpu.push(sample(pb, i, { timestamp: iso(T0 + i * 60_000 + (i % 2 ? 0 : 30_000)), volume: (i % 32) / 8 }));
    }
    await post(cpu);
    await post([0, 1, 2].map((i) => sample(pa, i, { meter: "tsh.mem", unit: "MB" })));
    await post([0, 1].map((i) => sample(pb, i, { meter: "tsh.disk", unit: "GB" })));
    both = (await mintToken({ user: "tsh-both", role: "user", projects: [pa, pb] })).token;
  }, 60_000);

  it("places the projects on different shards, each as the placement rule says", async () => {
    expect(shardBindings()).toHaveLength(2);
    const [sa, sb] = [await shardOf(pa), await shardOf(pb)];
    expect(sa).toBe(placementOf(pa, shardBindings()));
    expect(sb).toBe(placementOf(pb, shardBindings()));
    expect(sa).not.toBe(sb);
    // Each shard holds its project's series and none of the other's.
    const series = (shard: string, project: string) =>
      shardDatabase(shard)
        .prepare("SELECT count(*) AS n FROM telemetry_series WHERE project_id = ?")
        .bind(project)
        .first<{ n: number }>()
        .then((r) => r!.n);
    expect(await series(sa!, pa)).toBe(6); // 3 resources of tsh.cpu, 3 of tsh.mem
    expect(await series(sb!, pb)).toBe(5); // 3 of tsh.cpu, 2 of tsh.disk
    expect(await series(sa!, pb)).toBe(0);
    expect(await series(sb!, pa)).toBe(0);
  });

  it("lists an admin's and a two-project token's samples across shards as one database would", async () => {
    const byCpu = q(["meter", "tsh.cpu"]);
    const admin = await walk(byCpu, 97);
    expect(admin.rows).toHaveLength(1400);
    expect(new Set(admin.rows.map(key))).toEqual(new Set(cpu.map(key)));
    inListOrder(admin.rows);
    // Past TOTAL_COUNT_LIMIT: capped, not exact, on both.
    expect([admin.total, admin.exact]).toEqual([String(TOTAL_COUNT_LIMIT), "false"]);
    const token = await walk(byCpu, 250, both);
    expect(token.rows).toEqual(admin.rows);
    expect([token.total, token.exact]).toEqual([String(TOTAL_COUNT_LIMIT), "false"]);
    // page=N is the same slice as following links.
    for (const page of [1, 3, 8]) {
      const res = await callJson<Sample[]>(`/v2/samples?${byCpu}&limit=100&page=${page}`, { token: both });
      expect(res.body).toEqual(admin.rows.slice((page - 1) * 100, page * 100));
    }
    // Under the cap: exact totals and a last link.
    const r1 = q(["meter", "tsh.cpu"], ["resource_id", "r1"]);
    const small = await walk(r1, 40, both);
    const expected = cpu.filter((s) => s.resource_id === "r1").length;
    expect(small.rows).toHaveLength(expected);
    expect([small.total, small.exact]).toEqual([String(expected), "true"]);
    const res = await call(`/v2/samples?${r1}&limit=40&page=2`, { token: both });
    expect(res.headers.get("Total")).toBe(String(expected));
    expect(res.headers.get("Link")).toContain(`page=${Math.ceil(expected / 40)}>; rel="last"`);
    // Naming one project reads its shard only, with the same rows as the union holds of it.
    const onlyB = await walk(q(["meter", "tsh.cpu"], ["project_id", pb]), 300, both);
    expect(onlyB.rows).toEqual(admin.rows.filter((s) => s.project_id === pb));
  }, 60_000);

  it("lists meters and unique meters across shards, a meter on both counted once", async () => {
    const all = await callJson<Sample[]>("/v2/meters?limit=1000", { token: both });
    expect(all.res.headers.get("Total")).toBe("11"); // 3 + 3 cpu, 3 mem, 2 disk
    const order = all.body.map((m) => [m.name, m.resource_id, m.project_id]);
    expect(order).toEqual([...order].sort((x, y) => (x.join("\u0000") < y.join("\u0000") ? -1 : 1)));
    for (const page of [1, 2, 3]) {
      const p = await callJson<Sample[]>(`/v2/meters?limit=4&page=${page}`, { token: both });
      expect(p.body).toEqual(all.body.slice((page - 1) * 4, page * 4));
      expect(p.res.headers.get("Total")).toBe("11");
    }
    const unique = await callJson<Sample[]>("/v2/meters?unique=True", { token: both });
    expect(unique.body.map((m) => m.name)).toEqual(["tsh.cpu", "tsh.disk", "tsh.mem"]);
    expect(unique.res.headers.get("Total")).toBe("3");
    const second = await callJson<Sample[]>("/v2/meters?unique=True&limit=1&page=2", { token: both });
    expect(second.body.map((m) => m.name)).toEqual(["tsh.disk"]);
    expect(second.res.headers.get("Total")).toBe("3");
    const named = await callJson<Sample[]>(`/v2/meters?unique=True&${q(["meter", "tsh.cpu"])}`);
    expect(named.body).toHaveLength(1);
    expect(named.res.headers.get("Total")).toBe("1");
  });

  it("computes statistics across shards equal to the statistics of the union", async () => {
    const path = `/v2/meters/tsh.cpu/statistics?aggregate.func=stddev&aggregate.param=&aggregate.func=cardinality&aggregate.param=project_id&aggregate.func=cardinality&aggregate.param=resource_id`;
    const ref = reference(cpu);
    for (const token of [undefined, both]) {
      const { status, body } = await callJson<Sample[]>(path, { token });
      expect(status).toBe(200);
      expect(body).toHaveLength(1);
      const [s] = body;
      expect([s.count, s.sum, s.min, s.max, s.duration]).toEqual([ref.count, ref.sum, ref.min, ref.max, ref.duration]);
      expect(s.avg).toBeCloseTo(ref.avg, 12);
      expect(s.aggregate.stddev).toBeCloseTo(ref.stddev, 9);
      expect(s.aggregate["cardinality/project_id"]).toBe(2);
      expect(s.aggregate["cardinality/resource_id"]).toBe(3);
      expect(Date.parse(s.duration_start)).toBe(T0);
    }
    // Per hour (buckets from the first sample) and per project: each entry that of its samples.
    const hourly = await callJson<Sample[]>(`/v2/meters/tsh.cpu/statistics?period=3600&groupby=project_id`);
    expect(hourly.body.reduce((n, s) => n + s.count, 0)).toBe(1400);
    for (const s of hourly.body) {
      const start = Date.parse(s.period_start);
      const mine = cpu.filter(
        (x) =>
          x.project_id === s.groupby.project_id &&
          Date.parse(x.timestamp) >= start &&
          Date.parse(x.timestamp) < start + 3_600_000,
      );
      const r = reference(mine);
      expect([s.count, s.sum, s.min, s.max, s.duration]).toEqual([r.count, r.sum, r.min, r.max, r.duration]);
    }
  });

  it("GET /v2/samples/<id> finds a sample on either shard, within the caller's projects", async () => {
    const list = (await walk(q(["meter", "tsh.cpu"]), 1000)).rows;
    const a = list.find((s) => s.project_id === pa)!;
    const b = list.find((s) => s.project_id === pb)!;
    for (const s of [a, b]) {
      expect(await callJson(`/v2/samples/${s.id}`)).toMatchObject({ status: 200, body: s });
      expect(await callJson(`/v2/samples/${s.id}`, { token: both })).toMatchObject({ status: 200, body: s });
      expect((await callJson<Sample[]>(`/v2/samples?${q(["message_id", s.id])}`)).body).toEqual([s]);
    }
    const { token: onlyA } = await mintToken({ user: "tsh-a", role: "user", projects: [pa] });
    expect((await callJson(`/v2/samples/${b.id}`, { token: onlyA })).status).toBe(404);
    expect((await callJson(`/v2/samples/${a.id}`, { token: onlyA })).status).toBe(200);
  });

  it("a request naming one project reads its shard alone; an admin's reads both", async () => {
    const page = (project?: string) =>
      call(
        `/v2/samples?${q(["meter", "tsh.cpu"], ...(project ? [["project_id", project] as [string, string]] : []))}&limit=5`,
      );
    // Warm: the shard map is cached by the isolate after a first read.
    await page(pa);
    await page(pb);
    const [a, b, admin] = [cost(await page(pa)), cost(await page(pb)), cost(await page())];
    // The two shards hold data of one shape: one project's request is one shard's round trips,
    // the admin's the sum of both (no map read).
    expect(a.roundTrips).toBe(b.roundTrips);
    expect(admin.roundTrips).toBe(a.roundTrips + b.roundTrips);
    expect(a.rowsRead).toBeLessThan(admin.rowsRead);
    console.log(JSON.stringify({ singleProject: a, adminFanOut: admin }));
    // A post into one project writes its shard only.
    const other = (await shardOf(pb))!;
    const counts = () =>
      shardDatabase(other)
        .prepare(
          "SELECT (SELECT count(*) FROM telemetry_series) + (SELECT count(*) FROM telemetry_chunks) + (SELECT sum(n) FROM telemetry_chunks) + (SELECT count(*) FROM telemetry_meters) AS n",
        )
        .first<{ n: number }>()
        .then((r) => r!.n);
    const before = await counts();
    const res = await call("/v2/samples", { method: "POST", json: [sample(pa, 5000, { meter: "tsh.new" })] });
    expect(res.status).toBe(201);
    expect(cost(res).rowsWritten).toBeGreaterThan(0);
    expect(await counts()).toBe(before);
  });

  it("a project with no rows anywhere answers empty from the shard map alone", async () => {
    const nobody = q(["project_id", "tsh-nobody"]);
    for (const path of [
      `/v2/samples?${nobody}`,
      `/v2/meters?${nobody}`,
      `/v2/meters?unique=True&${nobody}`,
      `/v2/meters/tsh.cpu/statistics?${nobody}`,
    ]) {
      const res = await call(path);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
      if (!path.includes("statistics")) expect(res.headers.get("Total")).toBe("0");
      // One round trip: the map's lookup in the main DB (absence is not cached); no shard read.
      expect(cost(res).roundTrips).toBe(1);
    }
  });

  it("places a new project by the rule, numbers its series in its range, and old keys take no ids", async () => {
    const [fresh] = await projectsOnShards("tsh-new", 1);
    const first = await callJson<Sample[]>("/v2/samples", { method: "POST", json: [sample(fresh, 1)] });
    expect(first.status).toBe(201);
    expect(await shardOf(fresh)).toBe(placementOf(fresh, shardBindings()));
    const row = await env.DB.prepare("SELECT number FROM shard_map WHERE project = ?")
      .bind(fresh)
      .first<{ number: number }>();
    const floor = seriesFloor(row!.number);
    const idOf = (s: Sample) => parseSampleId(s.id)!.seriesId;
    expect(idOf(first.body[0])).toBe(floor + 1);
    // A known series again and two new ones: the new ones take the next ids, in key order.
    const second = await callJson<Sample[]>("/v2/samples", {
      method: "POST",
      json: [sample(fresh, 4), sample(fresh, 3, { resource_id: "rz" }), sample(fresh, 5, { resource_id: "ry" })],
    });
    const ids = second.body.map(idOf);
    expect(ids[0]).toBe(floor + 1);
    expect(new Set(ids.slice(1))).toEqual(new Set([floor + 2, floor + 3]));
    for (const id of ids) expect(id < floor + SERIES_SPAN).toBe(true);
    // A post spanning both shards: answered in input order, each where its project is.
    const mixed = await callJson<Sample[]>("/v2/samples", {
      method: "POST",
      json: [
        sample(pb, 9001, { meter: "tsh.mix" }),
        sample(fresh, 9002, { meter: "tsh.mix" }),
        sample(pa, 9003, { meter: "tsh.mix" }),
      ],
    });
    expect(mixed.status).toBe(201);
    expect(mixed.body.map((s) => s.project_id)).toEqual([pb, fresh, pa]);
    const numbers = await env.DB.prepare("SELECT project, number FROM shard_map WHERE project IN (?, ?)")
      .bind(pa, pb)
      .all<{ project: string; number: number }>();
    for (const s of mixed.body) {
      const n = s.project_id === fresh ? row!.number : numbers.results.find((r) => r.project === s.project_id)!.number;
      expect(Math.floor(idOf(s) / SERIES_SPAN) - 1).toBe(n);
    }
  });

  it("refuses a new series past its project's id range (507), writing nothing", async () => {
    const [full] = await projectsOnShards("tsh-full", 1);
    expect((await callJson("/v2/samples", { method: "POST", json: [sample(full, 1)] })).status).toBe(201);
    const { number } = (await env.DB.prepare("SELECT number FROM shard_map WHERE project = ?")
      .bind(full)
      .first<{ number: number }>())!;
    const db = shardDatabase((await shardOf(full))!);
    // The range's last id taken (as by 2^24 − 2 series before it).
    await db
      .prepare(
        "INSERT INTO telemetry_series (id, key, meter, type, unit, project_id, resource_id, resource_name, display_name, namespace, user_id, source, metadata) VALUES (?, 'filler', 'x', 'gauge', '', ?, '', '', '', '', '', '', '')",
      )
      .bind(seriesFloor(number) + SERIES_SPAN - 1, full)
      .run();
    const series = async () =>
      (await db
        .prepare("SELECT count(*) AS n FROM telemetry_series WHERE project_id = ?")
        .bind(full)
        .first<{ n: number }>())!.n;
    const res = await callJson<any>("/v2/samples", {
      method: "POST",
      json: [sample(full, 4), sample(full, 2, { meter: "tsh.other" })],
    });
    expect(res.status).toBe(507);
    expect(res.body.error.message).toContain("series");
    expect(await series()).toBe(2);
    // A known series still takes samples.
    expect((await callJson("/v2/samples", { method: "POST", json: [sample(full, 4)] })).status).toBe(201);
  });

  it("a write fenced on its old shard goes to the shard the map names now", async () => {
    const [moved] = await projectsOnShards("tsh-fence", 1);
    expect((await callJson("/v2/samples", { method: "POST", json: [sample(moved, 1)] })).status).toBe(201);
    const from = (await shardOf(moved))!;
    const to = shardBindings().find((s) => s !== from)!;
    // As a move's switch does: fence the old shard, repoint the map (the Worker's cache still says `from`).
    await shardDatabase(from).prepare("INSERT INTO shard_fences (project) VALUES (?)").bind(moved).run();
    await env.DB.prepare("UPDATE shard_map SET shard = ? WHERE project = ?").bind(to, moved).run();
    const chunks = (shard: string) =>
      shardDatabase(shard)
        .prepare(
          "SELECT coalesce(sum(c.n), 0) AS n FROM telemetry_chunks c JOIN telemetry_series s ON s.id = c.series_id WHERE s.project_id = ?",
        )
        .bind(moved)
        .first<{ n: number }>()
        .then((r) => r!.n);
    const res = await callJson<Sample[]>("/v2/samples", { method: "POST", json: [sample(moved, 2), sample(moved, 3)] });
    expect(res.status).toBe(201);
    expect(await chunks(from)).toBe(1);
    expect(await chunks(to)).toBe(2);
    // The read after it goes to the new shard (the write refreshed the place).
    expect((await callJson<Sample[]>(`/v2/samples?${q(["project_id", moved])}`)).body.map((s) => s.id)).toEqual(
      [...res.body].reverse().map((s) => s.id),
    );
  });

  it("the archive cron moves each shard's chunks to R2, skips a moving project, and answers stay the same", async () => {
    const byCpu = q(["meter", "tsh.cpu"]);
    const stats = `/v2/meters/tsh.cpu/statistics?period=3600&groupby=project_id&aggregate.func=cardinality&aggregate.param=resource_id`;
    const snapshot = async () => ({
      admin: await walk(byCpu, 300),
      token: await walk(byCpu, 128, both),
      page3: (await callJson(`/v2/samples?${byCpu}&limit=100&page=3`, { token: both })).body,
      stats: (await callJson(stats)).body,
      unique: (await callJson("/v2/meters?unique=True", { token: both })).body,
    });
    // A project in the middle of a move keeps its chunks where they are.
    const [moving] = await projectsOnShards("tsh-moving", 1);
    await post([sample(moving, 1)]);
    await env.DB.prepare(
      "INSERT INTO shard_moves (project, source, target, step, started_at, updated_at) VALUES (?, 'DB', 'SHARD_1', 'copy', 0, 0)",
    )
      .bind(moving)
      .run();
    const before = await snapshot();
    const report = await runArchive(env, Date.now(), { maxRows: 1e9 });
    expect(report.done).toBe(true);
    expect(report.moved).toBeGreaterThanOrEqual(1400);
    for (const project of [pa, pb]) {
      const db = shardDatabase((await shardOf(project))!);
      const n = async (sql: string) => (await db.prepare(sql).bind(project).first<{ n: number }>())!.n;
      expect(
        await n(
          "SELECT count(*) AS n FROM telemetry_chunks c JOIN telemetry_series s ON s.id = c.series_id WHERE s.project_id = ?",
        ),
      ).toBe(0);
      expect(await n("SELECT sum(n) AS n FROM telemetry_archive WHERE project_id = ? AND meter = 'tsh.cpu'")).toBe(700);
      expect(await n("SELECT sum(n) AS n FROM telemetry_rollups WHERE project_id = ? AND meter = 'tsh.cpu'")).toBe(700);
    }
    const movingDb = shardDatabase((await shardOf(moving))!);
    const left = await movingDb
      .prepare(
        "SELECT count(*) AS n FROM telemetry_chunks c JOIN telemetry_series s ON s.id = c.series_id WHERE s.project_id = ?",
      )
      .bind(moving)
      .first<{ n: number }>();
    expect(left!.n).toBe(1);
    expect(await snapshot()).toEqual(before);
    await env.DB.prepare("DELETE FROM shard_moves WHERE project = ?").bind(moving).run();
  }, 120_000);
});
