import { env } from "cloudflare:workers";
import { eq, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { beforeAll, describe, expect, it } from "vitest";
import { telemetryChunks, telemetryMeters, telemetrySeries } from "../src/db/schema";
import { place, placementOf, seriesFloor } from "../src/db/shards";
import { ingestStatements, runBatch, type SampleInput, seriesKey, storeSamples } from "../src/telemetry/chunks";
import { call, callJson, mintToken } from "./helpers/http";
import { shardBindings, shardDatabase } from "./helpers/shards";

type Sample = Record<string, unknown>;
const T0 = Date.parse("2015-11-14T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00").replace(".000", "");

/** A sample of the spec's shape, `i` minutes after T0. */
function sample(project: string, i: number, over: Sample = {}): Sample {
  return {
    meter: "cpu_util",
    type: "gauge",
    unit: "%",
    volume: i % 100,
    resource_id: `vm-${i % 3}`,
    project_id: project,
    timestamp: iso(T0 + i * 60_000),
    ...over,
  };
}

async function post(samples: Sample[], token?: string) {
  return callJson<any>("/v2/samples", { method: "POST", json: samples, token });
}

/** Posts in batches of 1000 (the most one post takes). */
async function seed(samples: Sample[]) {
  for (let i = 0; i < samples.length; i += 1000) {
    const { status, body } = await post(samples.slice(i, i + 1000));
    if (status !== 201) throw new Error(`seeding answered ${status}: ${JSON.stringify(body)}`);
  }
}

const q = (...conds: Array<[string, string, string] | [string, string]>) => {
  const p = new URLSearchParams();
  for (const c of conds) p.append("q.field", c[0]);
  for (const c of conds) p.append("q.op", c.length === 3 ? c[1] : "eq");
  for (const _c of conds) p.append("q.type", "");
  for (const c of conds) p.append("q.value", c.length === 3 ? c[2] : c[1]);
  return p.toString();
};

function links(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (res.headers.get("Link") ?? "").split(", ")) {
    const m = /^<([^>]+)>; rel="(\w+)"$/.exec(part);
    if (m) out[m[2]] = m[1];
  }
  return out;
}

function rowsRead(res: Response): number {
  const m = /rows_read=(\d+)/.exec(res.headers.get("Server-Timing") ?? "");
  if (!m) throw new Error("no D1 cost in Server-Timing");
  return Number(m[1]);
}

/** Follows an absolute link through the app. */
const follow = (url: string, token?: string) => callJson<any>(url.replace(/^https?:\/\/[^/]+/, ""), { token });

const err = (code: number, message: string) => ({
  error: {
    code,
    message,
    title: { 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed" }[code],
  },
});

describe("auth", () => {
  it("answers a missing or bad token with the spec's 401", async () => {
    for (const token of [null, "nope"]) {
      const { status, body } = await callJson("/v2/samples", { token });
      expect(status).toBe(401);
      expect(body).toEqual(err(401, "The request you have made requires authentication."));
    }
    const { status } = await callJson("/v2/meters/cpu/statistics", { token: null });
    expect(status).toBe(401);
  });

  it("takes the token as X-Auth-Token, as Ceilometer's client sends it", async () => {
    const { token } = await mintToken({ user: "ops", role: "user", projects: ["auth-p"] });
    const res = await call("/v2/samples", { token: null, headers: { "X-Auth-Token": token } });
    expect(res.status).toBe(200);
  });
});

describe("ingest: POST /v2/samples", () => {
  it("stores every field and answers them with the server's id and recorded_at", async () => {
    const { status, body } = await post([
      sample("ing-1", 0, {
        display_name: "CPU",
        resource_name: "web 1",
        namespace: "nova",
        user_id: "u1",
        source: "openstack",
        metadata: { flavor: "m1.small", nested: { a: 1 } },
        timestamp: "2015-11-14T03:25:00.25+01:00",
      }),
      {
        meter: "bytes",
        type: "delta",
        volume: 5,
        resource_id: "bucket",
        project_id: "ing-1",
        timestamp: "2015-11-14T02:25:00",
      },
    ]);
    expect(status).toBe(201);
    expect(body[0]).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      meter: "cpu_util",
      display_name: "CPU",
      project_id: "ing-1",
      resource_id: "vm-0",
      resource_name: "web 1",
      namespace: "nova",
      type: "gauge",
      unit: "%",
      volume: 0,
      timestamp: "2015-11-14T02:25:00.250000+00:00",
      recorded_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/),
      user_id: "u1",
      source: "openstack",
      metadata: { flavor: "m1.small", nested: { a: 1 } },
    });
    // Unused fields are "", metadata too; the source defaults to Ceilometer's `<project>:openstack`.
    expect(body[1]).toMatchObject({
      unit: "",
      display_name: "",
      user_id: "",
      source: "ing-1:openstack",
      metadata: "",
      timestamp: "2015-11-14T02:25:00+00:00",
    });
    const one = await callJson(`/v2/samples/${body[0].id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(body[0]);
  });

  it("a retried post finds the stored samples instead of adding copies", async () => {
    const batch = [sample("retry-p", 1), sample("retry-p", 2, { metadata: { a: 1, b: 2 } })];
    const first = await post(batch);
    const again = await post([sample("retry-p", 2, { metadata: { b: 2, a: 1 } }), ...batch]);
    expect(again.status).toBe(201);
    expect(again.body.map((s: Sample) => s.id)).toEqual([first.body[1].id, first.body[0].id, first.body[1].id]);
    expect(again.body[1].recorded_at).toBe(first.body[0].recorded_at);
    const list = await callJson<any[]>(`/v2/samples?${q(["project_id", "retry-p"])}`);
    expect(list.body).toHaveLength(2);
    expect(list.res.headers.get("Total")).toBe("2");
  });

  it("is all or nothing: one bad sample in a batch writes none", async () => {
    const batch = Array.from({ length: 50 }, (_, i) => sample("aon-p", i));
    batch[49] = sample("aon-p", 49, { volume: "high" });
    const { status, body } = await post(batch);
    expect(status).toBe(400);
    expect(body.error.code).toBe(400);
    expect(body.error.message).toContain("49.volume");
    const list = await callJson<any[]>(`/v2/samples?${q(["project_id", "aon-p"])}`);
    expect(list.body).toEqual([]);
    expect(list.res.headers.get("Total")).toBe("0");
  });

  it("refuses what is not a list of samples, in the dialect", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [[], /at least one sample/],
      [{ meter: "x" }, /expected array/],
      [[{ ...sample("x", 1), type: "counter" }], /0\.type/],
      [[{ ...sample("x", 1), id: "mine" }], /The id must not be set/],
      [[{ ...sample("x", 1), timestamp: "2015-02-30T00:00:00" }], /0\.timestamp/],
      // 1e400 overflows a double; JSON.stringify then sends it as null.
      [[{ ...sample("x", 1), volume: Number.POSITIVE_INFINITY }], /0\.volume/],
      [[{ ...sample("x", 1), metadata: [1] }], /0\.metadata/],
      [[{ ...sample("x", 1), meter: "" }], /0\.meter/],
      [Array.from({ length: 1001 }, (_, i) => sample("x", i)), /at most 1000 samples/],
    ];
    for (const [json, message] of cases) {
      const { status, body } = await callJson<any>("/v2/samples", { method: "POST", json });
      expect(status, JSON.stringify(json).slice(0, 80)).toBe(400);
      expect(body.error.title).toBe("Bad Request");
      expect(body.error.message).toMatch(message);
    }
    const malformed = await callJson<any>("/v2/samples", {
      method: "POST",
      body: "[{",
      headers: { "content-type": "application/json" },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe(400);
  });

  it("a token posts only into its projects, and an unset project is its own", async () => {
    const { token } = await mintToken({ user: "agent", role: "user", projects: ["mine-p"] });
    const foreign = await post([sample("theirs-p", 1)], token);
    expect(foreign.status).toBe(401);
    expect(foreign.body).toEqual(err(401, "Not authorized to access project."));
    const own = await post([sample("", 1, { project_id: undefined })], token);
    expect(own.status).toBe(201);
    expect(own.body[0].project_id).toBe("mine-p");
    const { token: multi } = await mintToken({ user: "agent2", role: "user", projects: ["a-p", "b-p"] });
    const unset = await post([sample("", 1, { project_id: undefined })], multi);
    expect(unset.status).toBe(400);
  });

  /** Two project names the placement rule puts on one shard, so one batch may hold both. */
  const sameShard = (prefix: string) => {
    const shards = shardBindings();
    const first = placementOf(`${prefix}-0`, shards);
    for (let i = 1; ; i++)
      if (placementOf(`${prefix}-${i}`, shards) === first) return [`${prefix}-0`, `${prefix}-${i}`];
  };
  const [CHUNK_A, CHUNK_B] = sameShard("chunk");

  /** Places the rows' projects (as a post would): their shard's database and series id floors. */
  async function target(rows: SampleInput[]) {
    const placed = await place(env, [...new Set(rows.map((r) => r.projectId))]);
    const shards = new Set([...placed.values()].map((p) => p.shard));
    expect(shards.size).toBe(1);
    const floors = new Map([...placed.values()].map((p) => [p.project, seriesFloor(p.number)]));
    return { d1: shardDatabase([...shards][0]), floors, db: drizzle(shardDatabase([...shards][0])) };
  }

  /** A sample as the ingest path receives it. */
  function row(i: number, over: Partial<SampleInput> = {}): SampleInput {
    return {
      meter: `m${i % 7}`,
      type: "gauge" as const,
      unit: "B",
      volume: i,
      resourceId: `r${i % 13}`,
      projectId: i % 2 ? CHUNK_B : CHUNK_A,
      userId: "",
      source: "",
      timestamp: T0 * 1000 + i,
      resourceName: "",
      displayName: "",
      namespace: "",
      metadata: "",
      recordedAt: T0 * 1000,
      ...over,
    };
  }
  const paramsOf = (st: SQL) => new SQLiteAsyncDialect().sqlToQuery(st).params;

  it("writes 1000 samples with their metadata as a handful of statements, each binding one JSON list", async () => {
    const rows = Array.from({ length: 1000 }, (_, i) =>
      row(
        i,
        i % 2
          ? {}
          : {
              metadata: JSON.stringify({ host: `h${i % 3}` }),
              metadataEntries: [{ key: "host", kind: "s", value: `h${i % 3}` }],
            },
      ),
    );
    const { d1, floors } = await target(rows);
    const { writes, readBack } = ingestStatements(rows, floors);
    // Series, their metadata entries, meters, chunks: one statement each; one read-back.
    expect(writes).toHaveLength(4);
    expect(readBack).toHaveLength(1);
    for (const st of [...writes, ...readBack]) expect(paramsOf(st)).toHaveLength(1);
    const first = await runBatch(d1, writes);
    const { res } = await callJson(`/v2/samples?${q(["project_id", CHUNK_B])}`);
    expect(res.headers.get("Total")).toBe("500");
    const meters = await callJson<any[]>(`/v2/meters?${q(["project_id", CHUNK_B])}&limit=1000`);
    // Odd i < 1000 meet every (i % 7, i % 13) pair: 91 distinct meters.
    expect(meters.body).toHaveLength(91);
    // 500 samples with one entry each, found by the metadata query.
    const h1 = await call(`/v2/samples?${q(["project_id", CHUNK_A], ["metadata.host", "h1"])}&limit=1`);
    expect(h1.headers.get("Total")).toBe(String(rows.filter((_r, i) => i % 2 === 0 && i % 3 === 1).length));
    // The first post creates the series (meter × resource × project × host), each with
    // its index entries; again: nothing more is written.
    const series = new Set(rows.map(seriesKey)).size;
    expect(first.reduce((n, r) => n + (r.meta.rows_written ?? 0), 0)).toBeGreaterThan(series);
    const again = await runBatch(d1, ingestStatements(rows, floors).writes);
    expect(again.map((r) => r.meta.rows_written)).toEqual([0, 0, 0, 0]);
    // 1000 more samples of those series in the same hour: one row written per chunk appended.
    const more = await runBatch(
      d1,
      ingestStatements(
        rows.map((r) => ({ ...r, timestamp: r.timestamp + 1000 })),
        floors,
      ).writes,
    );
    expect(more.map((r) => r.meta.rows_written)).toEqual([0, 0, 0, series]);
    expect(series).toBeLessThan(400);
  });

  it("splits a post too large for one JSON parameter into several statements", async () => {
    const big = "x".repeat(200_000);
    const rows = [0, 1, 2, 3].map((i) => row(i, { projectId: "big-p", displayName: big }));
    const { d1, floors, db } = await target(rows);
    const { writes } = ingestStatements(rows, floors);
    expect(writes.length).toBeGreaterThan(4);
    const stored = await storeSamples(d1, rows, { floors });
    expect(stored.map((r) => r?.displayName.length)).toEqual([200_000, 200_000, 200_000, 200_000]);
    expect(
      await db.select({ id: telemetrySeries.id }).from(telemetrySeries).where(eq(telemetrySeries.projectId, "big-p")),
    ).toHaveLength(4);
  });

  it("a batch that fails part-way leaves no series, chunk, metadata entry or meter behind", async () => {
    const good = Array.from({ length: 20 }, (_, i) =>
      row(i, {
        projectId: "atomic-p",
        meter: "atomic",
        metadata: '{"a":1}',
        metadataEntries: [{ key: "a", kind: "n", value: 1 }],
      }),
    );
    const broken = row(99, { projectId: "atomic-p", meter: null as unknown as string });
    const { d1, floors, db } = await target(good);
    await expect(
      runBatch(d1, [...ingestStatements(good, floors).writes, ...ingestStatements([broken], floors).writes]),
    ).rejects.toThrow(/NOT NULL/);
    expect(await db.select().from(telemetrySeries).where(eq(telemetrySeries.projectId, "atomic-p"))).toHaveLength(0);
    expect(await db.select().from(telemetryMeters).where(eq(telemetryMeters.meter, "atomic"))).toHaveLength(0);
    const orphans = await d1
      .prepare(
        "SELECT (SELECT count(*) FROM telemetry_series_metadata m LEFT JOIN telemetry_series s ON s.id = m.series_id WHERE s.id IS NULL) + (SELECT count(*) FROM telemetry_chunks c LEFT JOIN telemetry_series s ON s.id = c.series_id WHERE s.id IS NULL) AS n",
      )
      .first<{ n: number }>();
    expect(orphans?.n).toBe(0);
    expect(await db.select().from(telemetryChunks).where(eq(telemetryChunks.n, -1))).toEqual([]);
  });
});

describe("GET /v2/samples: filters, order, scope", () => {
  beforeAll(async () => {
    await seed([
      sample("flt-a", 0, {
        meter: "cpu",
        resource_id: "r1",
        resource_name: "web",
        namespace: "nova",
        user_id: "u1",
        source: "s1",
      }),
      sample("flt-a", 10, {
        meter: "cpu",
        resource_id: "r2",
        resource_name: "db",
        namespace: "nova",
        user_id: "u2",
        source: "s1",
      }),
      sample("flt-a", 20, {
        meter: "disk",
        resource_id: "r1",
        resource_name: "web",
        namespace: "cinder",
        user_id: "u1",
        source: "s2",
      }),
      sample("flt-b", 30, {
        meter: "cpu",
        resource_id: "r3",
        resource_name: "cache",
        namespace: "nova",
        user_id: "u3",
        source: "s1",
      }),
    ]);
  });

  const volumes = async (query: string, token?: string) => {
    const { status, body } = await callJson<any>(`/v2/samples?${query}`, { token });
    expect(status, JSON.stringify(body)).toBe(200);
    return body.map((s: Sample) => s.volume);
  };
  const inFlt = (...c: Array<[string, string] | [string, string, string]>) =>
    q(["timestamp", "ge", iso(T0)], ["timestamp", "le", iso(T0 + 30 * 60_000)], ...c);

  it("filters by every field, newest first", async () => {
    expect(await volumes(inFlt(["project_id", "flt-a"]))).toEqual([20, 10, 0]);
    expect(await volumes(inFlt(["meter", "cpu"], ["project_id", "flt-a"]))).toEqual([10, 0]);
    expect(await volumes(inFlt(["resource_id", "r1"], ["project_id", "flt-a"]))).toEqual([20, 0]);
    expect(await volumes(inFlt(["resource_name", "cache"]))).toEqual([30]);
    expect(await volumes(inFlt(["namespace", "cinder"], ["project_id", "flt-a"]))).toEqual([20]);
    expect(await volumes(inFlt(["user_id", "u2"]))).toEqual([10]);
    expect(await volumes(inFlt(["source", "s2"], ["project_id", "flt-a"]))).toEqual([20]);
  });

  it("bounds by timestamp with ge/gt/le/lt, offsets converted to UTC", async () => {
    const p = ["project_id", "flt-a"] as [string, string];
    expect(await volumes(q(p, ["timestamp", "ge", iso(T0 + 10 * 60_000)]))).toEqual([20, 10]);
    expect(await volumes(q(p, ["timestamp", "gt", iso(T0 + 10 * 60_000)]))).toEqual([20]);
    expect(await volumes(q(p, ["timestamp", "le", iso(T0 + 10 * 60_000)]))).toEqual([10, 0]);
    expect(await volumes(q(p, ["timestamp", "lt", iso(T0 + 10 * 60_000)]))).toEqual([0]);
    // 01:10+01:00 is 00:10Z.
    expect(await volumes(q(p, ["timestamp", "ge", "2015-11-14T01:10:00+01:00"]))).toEqual([20, 10]);
    // Unencoded `+` in a hand-written URL arrives as a space and still means +01:00.
    expect(
      await volumes(
        `q.field=project_id&q.field=timestamp&q.op=eq&q.op=ge&q.value=flt-a&q.value=2015-11-14T01:10:00+01:00`,
      ),
    ).toEqual([20, 10]);
  });

  it("answers query errors as 400 in the dialect", async () => {
    const { status, body } = await callJson(`/v2/samples?q.field=flavor&q.value=x`);
    expect(status).toBe(400);
    expect(body).toEqual(
      err(
        400,
        'Unrecognized field in query. valid keys:["project_id", "timestamp", "resource_id", "resource_name", "meter", "namespace", "user_id", "source", "message_id", "search_offset"]',
      ),
    );
    for (const query of [
      "limit=0",
      "page=-1",
      "per_page=x",
      "cursor=zzz",
      q(["timestamp", "ge", "2015-11-15"], ["timestamp", "le", "2015-11-14"]),
    ]) {
      const r = await callJson<any>(`/v2/samples?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.error.title).toBe("Bad Request");
    }
  });

  it("shows a token only its projects; naming another project is 401", async () => {
    const { token } = await mintToken({ user: "viewer", role: "user", projects: ["flt-b"] });
    expect(await volumes(inFlt(), token)).toEqual([30]);
    expect(await volumes(inFlt(["project_id", "flt-b"]), token)).toEqual([30]);
    const other = await callJson(`/v2/samples?${q(["project_id", "flt-a"])}`, { token });
    expect(other.status).toBe(401);
    expect(other.body).toEqual(err(401, "Not authorized to access project."));
    const { token: both } = await mintToken({ user: "viewer2", role: "user", projects: ["flt-a", "flt-b"] });
    expect(await volumes(inFlt(), both)).toEqual([30, 20, 10, 0]);
    const { token: none } = await mintToken({ user: "viewer3", role: "user", projects: [] });
    expect(await volumes("", none)).toEqual([]);
  });

  it("GET /v2/samples/{id} hides other projects' samples and 404s in the dialect", async () => {
    const [s] = (await callJson<any[]>(`/v2/samples?${q(["project_id", "flt-a"])}&limit=1`)).body;
    const { token } = await mintToken({ user: "viewer4", role: "user", projects: ["flt-b"] });
    expect((await callJson(`/v2/samples/${s.id}`, { token })).status).toBe(404);
    const missing = await callJson("/v2/samples/nope");
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual(err(404, "Sample nope Not Found"));
  });

  it("405s other methods and 404s unknown paths in the dialect", async () => {
    const r = await callJson("/v2/samples", { method: "DELETE" });
    expect(r.status).toBe(405);
    expect(r.body).toMatchObject({ error: { code: 405, title: "Method Not Allowed" } });
    const unknown = await callJson<any>("/v2/samples/a/b");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe(404);
  });
});

describe("paging: Per-Page, Total, Link and the cursor", () => {
  const N = 250;
  beforeAll(async () => {
    await seed(Array.from({ length: N }, (_, i) => sample("page-p", i, { volume: i })));
  });
  const base = `/v2/samples?${q(["project_id", "page-p"], ["meter", "cpu_util"])}`;

  it("sets the headers and absolute links that keep every q argument", async () => {
    const { body, res } = await callJson<any[]>(`${base}&per_page=100`);
    expect(body.map((s) => s.volume)).toEqual(Array.from({ length: 100 }, (_, i) => N - 1 - i));
    expect(res.headers.get("Per-Page")).toBe("100");
    expect(res.headers.get("Total")).toBe(String(N));
    const l = links(res);
    expect(Object.keys(l)).toEqual(["first", "next", "last"]);
    for (const url of Object.values(l)) {
      expect(url).toMatch(/^http:\/\/opshub\.test\/v2\/samples\?/);
      const p = new URL(url).searchParams;
      expect(p.getAll("q.field")).toEqual(["project_id", "meter"]);
      expect(p.getAll("q.value")).toEqual(["page-p", "cpu_util"]);
      expect(p.get("per_page")).toBe("100");
    }
    expect(new URL(l.last).searchParams.get("page")).toBe("3");
    expect(new URL(l.next).searchParams.get("cursor")).toBeTruthy();
    const middle = await call(`${base}&per_page=100&page=2`);
    expect(Object.keys(links(middle))).toEqual(["first", "prev", "next", "last"]);
    const last = await call(`${base}&per_page=100&page=3`);
    expect(Object.keys(links(last))).toEqual(["first", "prev", "last"]);
  });

  it("following next links reads every sample once, like page=", async () => {
    const seen: number[] = [];
    let url: string | undefined = `${base}&limit=40`;
    let pages = 0;
    while (url) {
      const { status, body, res } = await follow(url);
      expect(status).toBe(200);
      pages += 1;
      expect(res.headers.get("Total")).toBe(String(N));
      const byPage = await callJson<any[]>(`${base}&limit=40&page=${pages}`);
      expect(body).toEqual(byPage.body);
      seen.push(...body.map((s: Sample) => s.volume as number));
      url = links(res).next;
    }
    expect(pages).toBe(7);
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => N - 1 - i));
  });

  it("a linked deep page reads about the chunks of its hours, as page 1 does", async () => {
    let res = await call(`${base}&limit=10`);
    const first = rowsRead(res);
    for (let i = 0; i < 20; i++) res = await call(links(res).next.replace("http://opshub.test", ""));
    expect((await callJson<any[]>(`${base}&limit=10&page=21`)).body).toEqual(await res.clone().json());
    // 3 series of 5 hours: the series (index and rows), the ends of their chunk ranges,
    // one or two windows of chunks, and the probe of the cold index (these 2015 samples
    // are older than the hot window, so cold objects could hold some of them).
    expect(rowsRead(res)).toBeLessThanOrEqual(30);
    // Page 1 also counts: it reads every hot chunk of the 3 series (15).
    expect(first).toBeLessThanOrEqual(60);
  });

  it("limit wins, per_page stops at 1000, a page past the end is empty", async () => {
    expect((await callJson<any[]>(`${base}&limit=3&per_page=50`)).body).toHaveLength(3);
    expect((await call(`${base}&per_page=5000`)).headers.get("Per-Page")).toBe("1000");
    const past = await callJson<any[]>(`${base}&per_page=100&page=9`);
    expect(past.body).toEqual([]);
    expect(new URL(links(past.res).prev).searchParams.get("page")).toBe("3");
  });

  it("Total counts no further than 1000: past it Total-Exact is false, there is no last link, next links go on", async () => {
    await seed(Array.from({ length: 1100 }, (_, i) => sample("many-p", i, { volume: i })));
    const first = await call(`/v2/samples?${q(["project_id", "many-p"])}&per_page=500`);
    expect(first.headers.get("Total")).toBe("1000");
    expect(first.headers.get("Total-Exact")).toBe("false");
    expect(Object.keys(links(first))).toEqual(["first", "next"]);
    // Counting stopped at 1001 index rows; the page is 501 rows.
    expect(rowsRead(first)).toBeLessThanOrEqual(1001 + 501 + 5);
    const second = await follow(links(first).next);
    expect(second.res.headers.get("Total")).toBe("1000");
    const third = await follow(links(second.res).next);
    expect(third.body.map((s: Sample) => s.volume)).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i));
    expect(Object.keys(links(third.res))).toEqual(["first", "prev"]);
    const exact = await call(`${base}&limit=1`);
    expect(exact.headers.get("Total-Exact")).toBe("true");
  });
});

describe("meters", () => {
  beforeAll(async () => {
    await seed([
      sample("mtr-a", 0, { meter: "cpu", unit: "ns", resource_id: "r1", user_id: "u1", source: "s" }),
      sample("mtr-a", 1, { meter: "cpu", unit: "ns", resource_id: "r1", user_id: "u1", source: "s", volume: 7 }),
      sample("mtr-a", 2, { meter: "mem", unit: "MB", resource_id: "r1", user_id: "u1", source: "s" }),
      sample("mtr-b", 3, { meter: "cpu", unit: "ns", resource_id: "r9", user_id: "u9", source: "s" }),
    ]);
  });

  it("GET /v2/meters lists distinct meters with the same query language", async () => {
    const { status, body } = await callJson<any[]>(`/v2/meters?${q(["project_id", "mtr-a"])}`);
    expect(status).toBe(200);
    expect(body).toEqual([
      {
        name: "cpu",
        type: "gauge",
        unit: "ns",
        resource_id: "r1",
        project_id: "mtr-a",
        user_id: "u1",
        source: "s",
        meter_id: btoa("r1+cpu"),
      },
      {
        name: "mem",
        type: "gauge",
        unit: "MB",
        resource_id: "r1",
        project_id: "mtr-a",
        user_id: "u1",
        source: "s",
        meter_id: btoa("r1+mem"),
      },
    ]);
    expect(
      (await callJson<any[]>(`/v2/meters?${q(["meter", "cpu"], ["user_id", "u9"])}`)).body.map((m) => m.project_id),
    ).toEqual(["mtr-b"]);
    const { token } = await mintToken({ user: "m", role: "user", projects: ["mtr-b"] });
    expect((await callJson<any[]>(`/v2/meters`, { token })).body.map((m) => m.resource_id)).toEqual(["r9"]);
    expect((await callJson(`/v2/meters?${q(["project_id", "mtr-a"])}`, { token })).status).toBe(401);
    const ts = await callJson(`/v2/meters?${q(["timestamp", "ge", "2015-01-01"])}`);
    expect(ts.body).toEqual(err(400, 'Unknown argument: "timestamp": not valid for this resource'));
  });

  it("GET /v2/meters/{meter} answers Ceilometer's old sample shape", async () => {
    const { body, res } = await callJson<any[]>(`/v2/meters/cpu?${q(["project_id", "mtr-a"])}`);
    expect(res.headers.get("Total")).toBe("2");
    expect(body).toHaveLength(2);
    expect(body[0]).toEqual({
      counter_name: "cpu",
      counter_type: "gauge",
      counter_unit: "ns",
      counter_volume: 7,
      message_id: expect.any(String),
      project_id: "mtr-a",
      resource_id: "r1",
      user_id: "u1",
      source: "s",
      timestamp: iso(T0 + 60_000),
      recorded_at: expect.any(String),
      resource_metadata: {},
    });
  });

  it("POST /v2/meters/{meter} takes Ceilometer's OldSample list", async () => {
    const old = {
      counter_name: "net",
      counter_type: "cumulative",
      counter_unit: "B",
      counter_volume: 42,
      resource_id: "nic",
      project_id: "mtr-a",
      resource_metadata: { mac: "x" },
    };
    const { status, body } = await callJson<any[]>("/v2/meters/net", { method: "POST", json: [old] });
    expect(status).toBe(201);
    expect(body[0]).toMatchObject({
      counter_name: "net",
      counter_type: "cumulative",
      counter_volume: 42,
      resource_metadata: { mac: "x" },
      user_id: "",
    });
    const stored = await callJson<any>(`/v2/samples/${body[0].message_id}`);
    expect(stored.body).toMatchObject({ meter: "net", type: "cumulative", volume: 42, metadata: { mac: "x" } });
    const cases: Array<[Sample, string]> = [
      [{ ...old, message_id: "abc" }, "The message_id must not be set"],
      [{ ...old, counter_name: "cpu" }, "Invalid input for field/attribute counter_name. Value: 'cpu'. should be net"],
      [{ ...old, counter_type: "counter" }, "The counter type must be: gauge, delta, cumulative"],
      [{ ...old, resource_id: undefined }, "resource_id"],
    ];
    for (const [json, message] of cases) {
      const r = await callJson<any>("/v2/meters/net", { method: "POST", json: [json] });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toContain(message);
    }
  });
});

describe("statistics", () => {
  // Two resources; volumes per minute: r0 → 1, 2, 3 at 0, 1, 2 min; r1 → 10, 20 at 5, 6 min; nothing in minutes 3-4.
  beforeAll(async () => {
    const s = (i: number, r: string, v: number) =>
      sample("stat-p", i, { meter: "load", resource_id: r, volume: v, user_id: `u-${r}`, unit: "req" });
    await seed([s(0, "r0", 1), s(1, "r0", 2), s(2, "r0", 3), s(5, "r1", 10), s(6, "r1", 20)]);
  });
  const path = (extra: string) => `/v2/meters/load/statistics?${q(["project_id", "stat-p"])}${extra}`;

  it("without a period: one bucket over everything", async () => {
    const { status, body } = await callJson<any[]>(path(""));
    expect(status).toBe(200);
    expect(body).toEqual([
      {
        avg: 7.2,
        count: 5,
        min: 1,
        max: 20,
        sum: 36,
        unit: "req",
        period: 0,
        groupby: null,
        duration: 360,
        duration_start: iso(T0),
        duration_end: iso(T0 + 360_000),
        period_start: iso(T0),
        period_end: iso(T0 + 360_000),
      },
    ]);
  });

  it("period buckets begin at the first sample, empty ones skipped", async () => {
    const { body } = await callJson<any[]>(path("&period=120"));
    expect(
      body.map((b) => [b.period_start, b.period_end, b.count, b.sum, b.duration_start, b.duration_end, b.period]),
    ).toEqual([
      [iso(T0), iso(T0 + 120_000), 2, 3, iso(T0), iso(T0 + 60_000), 120],
      [iso(T0 + 120_000), iso(T0 + 240_000), 1, 3, iso(T0 + 120_000), iso(T0 + 120_000), 120],
      [iso(T0 + 240_000), iso(T0 + 360_000), 1, 10, iso(T0 + 300_000), iso(T0 + 300_000), 120],
      [iso(T0 + 360_000), iso(T0 + 480_000), 1, 20, iso(T0 + 360_000), iso(T0 + 360_000), 120],
    ]);
  });

  it("period buckets begin at the query's start", async () => {
    const { body } = await callJson<any[]>(
      `/v2/meters/load/statistics?${q(["project_id", "stat-p"], ["timestamp", "ge", iso(T0 + 60_000)])}&period=300`,
    );
    expect(body.map((b) => [b.period_start, b.count, b.min, b.max])).toEqual([
      [iso(T0 + 60_000), 3, 2, 10],
      [iso(T0 + 360_000), 1, 20, 20],
    ]);
  });

  it("groups by resource, and adds stddev and cardinality under aggregate", async () => {
    const { body } = await callJson<any[]>(
      path(
        "&groupby=resource_id&aggregate.func=stddev&aggregate.param=&aggregate.func=cardinality&aggregate.param=user_id",
      ),
    );
    expect(body).toHaveLength(2);
    expect(body[0]).toMatchObject({ groupby: { resource_id: "r0" }, count: 3, avg: 2, min: 1, max: 3, duration: 120 });
    expect(body[0].aggregate.stddev).toBeCloseTo(Math.sqrt(2 / 3), 10);
    expect(body[0].aggregate["cardinality/user_id"]).toBe(1);
    expect(body[1]).toMatchObject({
      groupby: { resource_id: "r1" },
      count: 2,
      sum: 30,
      aggregate: { stddev: 5, "cardinality/user_id": 1 },
    });
    const all = await callJson<any[]>(path("&aggregate.func=cardinality&aggregate.param=resource_id"));
    expect(all.body[0].aggregate).toEqual({ "cardinality/resource_id": 2 });
  });

  it("is empty for a meter without samples, and refuses bad arguments", async () => {
    expect((await callJson("/v2/meters/nothing/statistics")).body).toEqual([]);
    const cases: Array<[string, string]> = [
      ["&period=-5", "Period must be positive."],
      ["&period=abc", "Invalid period abc"],
      ["&period=1.5", "Invalid period 1.5"],
      ["&period=99999999999999999999", "Invalid period 99999999999999999999"],
      ["&groupby=flavor", 'Unknown argument: "flavor": Invalid groupby fields'],
      ["&aggregate.func=median", "Invalid aggregation function: median"],
      ["&aggregate.func=cardinality&aggregate.param=volume", "Invalid aggregation parameter for cardinality"],
    ];
    for (const [extra, message] of cases) {
      const r = await callJson<any>(path(extra));
      expect(r.status, extra).toBe(400);
      expect(r.body.error.message).toContain(message);
    }
  });
});

describe("series and chunks: what a request costs (Server-Timing)", () => {
  function rowsWritten(res: Response): number {
    const m = /rows_written=(\d+)/.exec(res.headers.get("Server-Timing") ?? "");
    if (!m) throw new Error("no D1 cost in Server-Timing");
    return Number(m[1]);
  }
  const at = (i: number) => T0 + 30 * 24 * 3_600_000 + i * 60_000;
  const one = (resource: string, i: number, over: Sample = {}) => ({
    meter: "cost.cpu",
    type: "gauge",
    unit: "%",
    volume: i,
    resource_id: resource,
    project_id: "cost-p",
    timestamp: iso(at(i)),
    metadata: { flavor: "m1.small", vcpus: 2 },
    ...over,
  });

  it("a one-sample post to a series that exists writes one row (two when it opens an hour)", async () => {
    await post([one("cost-vm", 0)]);
    const next = await call("/v2/samples", { method: "POST", json: [one("cost-vm", 1)] });
    expect(next.status).toBe(201);
    expect(rowsWritten(next)).toBe(1);
    const newHour = await call("/v2/samples", { method: "POST", json: [one("cost-vm", 60)] });
    expect(rowsWritten(newHour)).toBe(2);
    // A retry writes nothing and answers the same sample.
    const retry = await call("/v2/samples", { method: "POST", json: [one("cost-vm", 1)] });
    expect(rowsWritten(retry)).toBe(0);
  });

  it("1000 samples over 100 series write at most 0.1 rows a sample once the series exist", async () => {
    const batch = (k: number) =>
      Array.from({ length: 1000 }, (_, i) => one(`cost-fleet-${i % 100}`, 200 + k * 10 + Math.floor(i / 100)));
    const created = await call("/v2/samples", { method: "POST", json: batch(0) });
    expect(created.status).toBe(201);
    const next = await call("/v2/samples", { method: "POST", json: batch(1) });
    expect(next.status).toBe(201);
    expect(rowsWritten(next)).toBeLessThanOrEqual(100);
  });

  it("a first page, a linked page, a count, an id and statistics read about their chunks, not the data", async () => {
    const list = `/v2/samples?${q(["meter", "cost.cpu"], ["resource_id", "cost-fleet-7"])}&limit=5`;
    const first = await call(list);
    expect(first.status).toBe(200);
    const body = (await first.json()) as Sample[];
    expect(body).toHaveLength(5);
    // The series (one), its newest chunk, the chunks of its windows (the count reads them all).
    expect(rowsRead(first)).toBeLessThanOrEqual(25);
    const next = await call(links(first).next.replace("http://opshub.test", ""));
    // An admin's list reads every shard: each other one finds no such series (an index probe or two).
    expect(rowsRead(next)).toBeLessThanOrEqual(12 + 2 * (shardBindings().length - 1));
    const byId = await call(`/v2/samples/${body[0].id}`);
    expect(await byId.json()).toEqual(body[0]);
    expect(rowsRead(byId)).toBeLessThanOrEqual(4);
    const stats = await call(`/v2/meters/cost.cpu/statistics?period=3600&${q(["resource_id", "cost-fleet-7"])}`);
    expect(stats.status).toBe(200);
    expect(rowsRead(stats)).toBeLessThanOrEqual(10);
  });

  it("a metadata condition resolves to series: a page reads the matching series and their chunks", async () => {
    const res = await call(
      `/v2/samples?${q(["metadata.flavor", "m1.small"], ["metadata.vcpus", "2"], ["resource_id", "cost-fleet-3"])}&limit=3`,
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as Sample[]).map((s) => s.resource_id)).toEqual([
      "cost-fleet-3",
      "cost-fleet-3",
      "cost-fleet-3",
    ]);
    expect(rowsRead(res)).toBeLessThanOrEqual(25);
  });
});
