/**
 * What python-ceilometerclient 2.9 sends, as Ceilometer 9.0 answers it: string volumes,
 * metadata queries, message_id, search_offset, unique meters, the default source, the
 * last of a repeated field; and the bounds on what one request may ask for.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_CONDITIONS, TOTAL_COUNT_LIMIT } from "../src/telemetry/query";
import { MAX_METADATA_ENTRIES } from "../src/telemetry/schemas";
import { call, callJson, mintToken } from "./helpers/http";
import { countAll } from "./helpers/shards";

type Condition = { field: string; op?: string; value: string; type?: string };

/** ceilometerclient's build_url: each name repeated, names sorted, unset members "". */
function clientUrl(path: string, q: Condition[], params: string[] = []) {
  const query = new URLSearchParams();
  for (const name of ["field", "op", "type", "value"] as const)
    for (const c of q) query.append(`q.${name}`, c[name] ?? "");
  const qs = [q.length ? query.toString() : "", ...params].filter(Boolean).join("&");
  return qs ? `${path}?${qs}` : path;
}

const T0 = Date.parse("2016-03-01T00:00:00Z");
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString().replace(".000Z", "+00:00");

async function post(samples: unknown[], token?: string) {
  const r = await callJson<any>("/v2/samples", { method: "POST", json: samples, token });
  if (r.status !== 201) throw new Error(`post answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body as any[];
}

const metadataRows = () => countAll("SELECT count(*) AS n FROM telemetry_series_metadata");

describe("sample-create: POST /v2/meters/{meter} as the client posts it", () => {
  const body = (over: Record<string, unknown> = {}) => [
    {
      counter_name: "cpu_util",
      counter_type: "gauge",
      counter_unit: "%",
      counter_volume: "12.5",
      resource_id: "vm-1",
      project_id: "cli-p",
      ...over,
    },
  ];

  it("converts a numeric string volume, as WSME's float does", async () => {
    const { status, body: stored } = await callJson<any[]>("/v2/meters/cpu_util", { method: "POST", json: body() });
    expect(status).toBe(201);
    expect(stored[0].counter_volume).toBe(12.5);
    for (const [raw, n] of [
      [" 7 ", 7],
      ["-1e3", -1000],
      [".5", 0.5],
    ] as const) {
      const r = await callJson<any[]>("/v2/meters/cpu_util", {
        method: "POST",
        json: body({ counter_volume: raw, resource_id: `vm-${raw}` }),
      });
      expect(r.body[0].counter_volume, raw).toBe(n);
    }
    const samples = await callJson<any>(`/v2/samples/${stored[0].message_id}`);
    expect(samples.body.volume).toBe(12.5);
  });

  it("refuses a string that is no number (and the same on POST /v2/samples)", async () => {
    for (const raw of ["abc", "", "nan", "inf", "1,5"]) {
      const r = await callJson<any>("/v2/meters/cpu_util", { method: "POST", json: body({ counter_volume: raw }) });
      expect(r.status, raw).toBe(400);
      expect(r.body.error.message).toContain("counter_volume");
    }
    const ok = await post([{ meter: "m", type: "gauge", volume: "3.25", resource_id: "r", project_id: "cli-p" }]);
    expect(ok[0].volume).toBe(3.25);
    const bad = await callJson<any>("/v2/samples", {
      method: "POST",
      json: [{ meter: "m", type: "gauge", volume: "x", resource_id: "r", project_id: "cli-p" }],
    });
    expect(bad.status).toBe(400);
  });

  it("stores `<project>:<source>` as Ceilometer does, `openstack` when unset", async () => {
    const [unset] = (
      await callJson<any[]>("/v2/meters/cpu_util", { method: "POST", json: body({ resource_id: "src-1" }) })
    ).body;
    expect(unset.source).toBe("cli-p:openstack");
    const [given] = (
      await callJson<any[]>("/v2/meters/cpu_util", {
        method: "POST",
        json: body({ resource_id: "src-2", source: "agent" }),
      })
    ).body;
    expect(given.source).toBe("cli-p:agent");
    // The token's own project fills an unset project first.
    const { token } = await mintToken({ user: "cli", role: "user", projects: ["own-p"] });
    const [own] = (
      await callJson<any[]>("/v2/meters/cpu_util", { method: "POST", json: body({ project_id: undefined }), token })
    ).body;
    expect(own).toMatchObject({ project_id: "own-p", source: "own-p:openstack" });
    // Our own form fills only a blank source.
    const [mine] = await post([
      { meter: "m", type: "gauge", volume: 1, resource_id: "r", project_id: "cli-p", source: "kept" },
    ]);
    expect(mine.source).toBe("kept");
  });
});

describe("sample-list -q with metadata, message_id, search_offset and repeated fields", () => {
  let ids: string[] = [];
  beforeAll(async () => {
    const docs = [
      { flavor: { name: "m1.large", vcpus: 4 }, host: "compute-1", ready: true, tags: ["web", "prod"] },
      { flavor: { name: "m1.small", vcpus: 1 }, host: "compute-1", ready: false, tags: ["db"] },
      { flavor: { name: "m1.large", vcpus: 4 }, host: "compute-2", ready: true, size: "4" },
      {},
    ];
    const stored = await post(
      docs.map((metadata, i) => ({
        meter: "cpu_util",
        type: "gauge",
        unit: "%",
        volume: i,
        resource_id: `vm-${i}`,
        project_id: i < 3 ? "md-a" : "md-b",
        timestamp: at(i * 10),
        metadata,
      })),
    );
    ids = stored.map((s) => s.id);
  });
  const volumes = async (q: Condition[], params: string[] = [], token?: string) => {
    const r = await callJson<any[]>(clientUrl("/v2/samples", q, params), { token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.map((s) => s.volume);
  };

  it("matches metadata.<key> and resource_metadata.<key>, nested keys with dots, list items with [i]", async () => {
    expect(await volumes([{ field: "metadata.flavor.name", value: "m1.large" }])).toEqual([2, 0]);
    expect(await volumes([{ field: "resource_metadata.flavor.name", value: "m1.large" }])).toEqual([2, 0]);
    expect(
      await volumes([
        { field: "metadata.host", value: "compute-1" },
        { field: "metadata.flavor.name", value: "m1.small" },
      ]),
    ).toEqual([1]);
    expect(await volumes([{ field: "metadata.tags[0]", value: "web" }])).toEqual([0]);
    expect(
      await volumes([
        { field: "metadata.flavor.name", value: "m1.large" },
        { field: "resource_id", value: "vm-2" },
      ]),
    ).toEqual([2]);
    expect(await volumes([{ field: "metadata.nope", value: "x" }])).toEqual([]);
  });

  it("types the value by q.type, or as a Python literal: 4 is no '4', True no 1", async () => {
    expect(await volumes([{ field: "metadata.flavor.vcpus", value: "4" }])).toEqual([2, 0]);
    expect(await volumes([{ field: "metadata.flavor.vcpus", value: "4", type: "integer" }])).toEqual([2, 0]);
    expect(await volumes([{ field: "metadata.flavor.vcpus", value: "4.0", type: "float" }])).toEqual([2, 0]);
    expect(await volumes([{ field: "metadata.flavor.vcpus", value: "4", type: "string" }])).toEqual([]);
    expect(await volumes([{ field: "metadata.size", value: "4" }])).toEqual([]);
    expect(await volumes([{ field: "metadata.size", value: "4", type: "string" }])).toEqual([2]);
    expect(await volumes([{ field: "metadata.ready", value: "True" }])).toEqual([2, 0]);
    expect(await volumes([{ field: "metadata.ready", value: "false", type: "boolean" }])).toEqual([1]);
    expect(await volumes([{ field: "metadata.ready", value: "1" }])).toEqual([]);
    const bad = await callJson<any>(
      clientUrl("/v2/samples", [{ field: "metadata.ready", value: "maybe", type: "boolean" }]),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe("Unable to convert the value 'maybe' to the expected data type 'boolean'.");
  });

  it("applies to /v2/meters/{meter} and statistics; /v2/meters refuses it", async () => {
    const old = await callJson<any[]>(
      clientUrl("/v2/meters/cpu_util", [{ field: "metadata.host", value: "compute-2" }]),
    );
    expect(old.body.map((s) => s.counter_volume)).toEqual([2]);
    const stats = await callJson<any[]>(
      clientUrl("/v2/meters/cpu_util/statistics", [{ field: "metadata.flavor.name", value: "m1.large" }]),
    );
    expect(stats.body).toHaveLength(1);
    expect(stats.body[0]).toMatchObject({ count: 2, sum: 2, min: 0, max: 2 });
    const meters = await callJson<any>(clientUrl("/v2/meters", [{ field: "metadata.host", value: "compute-2" }]));
    expect(meters.status).toBe(400);
    expect(meters.body.error.message).toMatch(/^Unrecognized field in query/);
  });

  it("keeps metadata within a token's projects", async () => {
    const { token } = await mintToken({ user: "md", role: "user", projects: ["md-b"] });
    expect(await volumes([{ field: "metadata.flavor.name", value: "m1.large" }], [], token)).toEqual([]);
    const { token: a } = await mintToken({ user: "md2", role: "user", projects: ["md-a", "md-x"] });
    expect(await volumes([{ field: "metadata.flavor.name", value: "m1.large" }], [], a)).toEqual([2, 0]);
  });

  it("finds a sample by message_id", async () => {
    expect(await volumes([{ field: "message_id", value: ids[1] }])).toEqual([1]);
    expect(await volumes([{ field: "message_id", value: "no-such-id" }])).toEqual([]);
  });

  it("widens a timestamp range by search_offset minutes on both sides", async () => {
    const range = [
      { field: "timestamp", op: "ge", value: at(15) },
      { field: "timestamp", op: "le", value: at(15) },
    ];
    expect(await volumes(range)).toEqual([]);
    expect(await volumes([...range, { field: "search_offset", value: "5" }])).toEqual([2, 1]);
    const alone = await callJson<any>(clientUrl("/v2/samples", [{ field: "search_offset", value: "5" }]));
    expect(alone.status).toBe(400);
  });

  it("takes the last of a field given twice (project_id=p1;project_id=p2)", async () => {
    const twice = [
      { field: "project_id", value: "md-b" },
      { field: "project_id", value: "md-a" },
    ];
    expect(await volumes(twice)).toEqual([2, 1, 0]);
    // A token must hold every project it names, the overridden one too.
    const { token } = await mintToken({ user: "twice", role: "user", projects: ["md-a"] });
    expect(await volumes(twice.slice(1), [], token)).toEqual([2, 1, 0]);
    expect((await callJson(clientUrl("/v2/samples", twice), { token })).status).toBe(401);
  });
});

describe("meter-list --unique True", () => {
  beforeAll(async () => {
    await post(
      ["vm-1", "vm-2", "vm-3"].flatMap((r, i) => [
        { meter: "uq.cpu", type: "gauge", unit: "%", volume: i, resource_id: r, project_id: "uq-p", user_id: `u${i}` },
        { meter: "uq.mem", type: "gauge", unit: "MB", volume: i, resource_id: r, project_id: "uq-p" },
      ]),
    );
  });

  it("answers one row per meter with resource, project, user and source null", async () => {
    const q = [{ field: "project_id", value: "uq-p" }];
    const all = await callJson<any[]>(clientUrl("/v2/meters", q));
    expect(all.body).toHaveLength(6);
    const unique = await callJson<any[]>(clientUrl("/v2/meters", q, ["unique=True"]));
    expect(unique.status).toBe(200);
    expect(unique.body).toEqual([
      {
        name: "uq.cpu",
        type: "gauge",
        unit: "%",
        resource_id: null,
        project_id: null,
        user_id: null,
        source: null,
        meter_id: btoa("None+uq.cpu"),
      },
      {
        name: "uq.mem",
        type: "gauge",
        unit: "MB",
        resource_id: null,
        project_id: null,
        user_id: null,
        source: null,
        meter_id: btoa("None+uq.mem"),
      },
    ]);
    expect(unique.res.headers.get("Total")).toBe("2");
    expect((await callJson<any[]>(clientUrl("/v2/meters", q, ["unique=False"]))).body).toHaveLength(6);
  });
});

describe("bounds on one request", () => {
  it(`refuses more than ${MAX_CONDITIONS} q.* conditions on samples, meters and statistics with a 400`, async () => {
    const many = Array.from({ length: 120 }, (_, i) => ({ field: "resource_id", value: `r${i}` }));
    for (const path of ["/v2/samples", "/v2/meters", "/v2/meters/cpu_util", "/v2/meters/cpu_util/statistics"]) {
      const r = await callJson<any>(clientUrl(path, many));
      expect(r.status, path).toBe(400);
      expect(r.body.error).toEqual({
        code: 400,
        title: "Bad Request",
        message: expect.stringMatching(/^Too many conditions in query: 120/),
      });
    }
    const ok = await callJson<any>(clientUrl("/v2/samples", many.slice(0, MAX_CONDITIONS)));
    expect(ok.status).toBe(200);
  });

  it.each([120, 1000])("a token holding %i projects reads samples, meters, statistics and one sample", async (n) => {
    const projects = Array.from({ length: n }, (_, i) => `many-${n}-${i}`);
    const { token } = await mintToken({ user: `many${n}`, role: "user", projects });
    const [stored] = await post([
      { meter: "many", type: "gauge", volume: 5, resource_id: "r", project_id: projects[n - 1] },
    ]);
    await post([{ meter: "many", type: "gauge", volume: 6, resource_id: "r", project_id: "not-theirs" }]);
    const list = await callJson<any[]>("/v2/samples", { token });
    expect(list.status).toBe(200);
    expect(list.body.map((s) => s.id)).toEqual([stored.id]);
    const meters = await callJson<any[]>("/v2/meters", { token });
    expect(meters.body.map((m) => m.project_id)).toEqual([projects[n - 1]]);
    const stats = await callJson<any[]>("/v2/meters/many/statistics", { token });
    expect(stats.body).toMatchObject([{ count: 1, sum: 5 }]);
    expect((await callJson(`/v2/samples/${stored.id}`, { token })).status).toBe(200);
    const old = await callJson<any[]>("/v2/meters/many", { token });
    expect(old.body.map((s) => s.counter_volume)).toEqual([5]);
  });

  it(`refuses a sample whose metadata has more than ${MAX_METADATA_ENTRIES} entries, and writes none of the post`, async () => {
    const before = await metadataRows();
    const leaves = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    const fine = {
      meter: "cap",
      type: "gauge",
      volume: 1,
      resource_id: "r",
      project_id: "cap-p",
      timestamp: at(1),
      metadata: leaves(MAX_METADATA_ENTRIES),
    };
    const over = { ...fine, volume: 2, metadata: { ...leaves(MAX_METADATA_ENTRIES - 1), nested: { a: [1, 2] } } };
    const r = await callJson<any>("/v2/samples", { method: "POST", json: [fine, over] });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain(`more than ${MAX_METADATA_ENTRIES} entries`);
    expect(await metadataRows()).toBe(before);
    await post([fine]);
    expect(await metadataRows()).toBe(before + MAX_METADATA_ENTRIES);
    // A retry writes no entry twice.
    await post([fine]);
    expect(await metadataRows()).toBe(before + MAX_METADATA_ENTRIES);
  });

  it("refuses metadata nested 5,000 deep at the door with a 400", async () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 5000; i++) deep = { d: deep };
    const r = await callJson<any>("/v2/samples", {
      method: "POST",
      json: [{ meter: "deep", type: "gauge", volume: 1, resource_id: "r", project_id: "deep-p", metadata: deep }],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/nests deeper than 32 levels/);
  });

  it(`counts no more than ${TOTAL_COUNT_LIMIT} matches for Total, however many there are`, async () => {
    const rows = Array.from({ length: TOTAL_COUNT_LIMIT + 200 }, (_, i) => ({
      meter: "tot",
      type: "gauge",
      volume: i,
      resource_id: "r",
      project_id: "tot-p",
      timestamp: at(i),
      metadata: { k: "v" },
    }));
    for (let i = 0; i < rows.length; i += 1000) await post(rows.slice(i, i + 1000));
    for (const q of [
      [{ field: "project_id", value: "tot-p" }],
      [
        { field: "metadata.k", value: "v" },
        { field: "project_id", value: "tot-p" },
      ],
    ]) {
      const res = await call(clientUrl("/v2/samples", q, ["limit=10"]));
      expect(res.headers.get("Total")).toBe(String(TOTAL_COUNT_LIMIT));
      expect(res.headers.get("Total-Exact")).toBe("false");
      const read = Number(/rows_read=(\d+)/.exec(res.headers.get("Server-Timing") ?? "")![1]);
      expect(read).toBeLessThan(3 * (TOTAL_COUNT_LIMIT + 20));
    }
  });
});
