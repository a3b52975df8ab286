/**
 * The telemetry routes' bounds on what one request may ask (docs/api/telemetry.md,
 * "Limits"): bound parameters, deep page numbers, statistics size, cold rows parsed,
 * search_offset range and fields a sample does not have. Each test fails without its bound.
 */
import { describe, expect, it } from "vitest";
import { type ArchiveEntry, checkObjectCount } from "../src/telemetry/cold";
import { MAX_PAGE_SKIP } from "../src/telemetry/query";
import { COLD_ROWS_MAX, MAX_STATISTICS } from "../src/telemetry/tiers";
import { call, callJson, mintToken } from "./helpers/http";

const T0 = Date.parse("2015-11-14T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00");

const q = (...conds: Array<[string, string, string, string?]>) => {
  const p = new URLSearchParams();
  for (const c of conds) p.append("q.field", c[0]);
  for (const c of conds) p.append("q.op", c[1]);
  for (const c of conds) p.append("q.type", c[3] ?? "");
  for (const c of conds) p.append("q.value", c[2]);
  return p.toString();
};

async function seed(list: object[]) {
  for (let i = 0; i < list.length; i += 1000) {
    const { status, body } = await callJson("/v2/samples", { method: "POST", json: list.slice(i, i + 1000) });
    if (status !== 201) throw new Error(`seeding answered ${status}: ${JSON.stringify(body)}`);
  }
}

const links = (res: Response) => res.headers.get("Link") ?? "";

describe("metadata conditions up to the cap bind one parameter", () => {
  const meter = "limits.md";
  const keys = Array.from({ length: 31 }, (_, i) => `k${i}`);
  const metadata = Object.fromEntries(keys.map((k, i) => [k, i % 2 ? `v${i}` : i]));
  const conds = keys.map((k, i): [string, string, string] => [`metadata.${k}`, "eq", i % 2 ? `v${i}` : String(i)]);

  it("statistics with a period and 11 conditions, without one and 31, a cursor page with 31 and a user token", async () => {
    const list = Array.from({ length: 30 }, (_, i) => ({
      meter,
      type: "gauge",
      volume: i,
      resource_id: `vm-${i % 2}`,
      project_id: "limits-p1",
      timestamp: iso(T0 + i * 60_000),
      metadata: i === 29 ? { ...metadata, k0: 99 } : metadata,
    }));
    await seed(list);
    const eleven = await callJson<any[]>(`/v2/meters/${meter}/statistics?period=60&${q(...conds.slice(0, 11))}`);
    expect(eleven.status).toBe(200);
    expect(eleven.body.map((s) => s.count)).toEqual(Array(29).fill(1));
    const all = await callJson<any[]>(`/v2/meters/${meter}/statistics?${q(...conds)}`);
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject([{ count: 29, sum: (28 * 29) / 2, min: 0, max: 28 }]);

    const { token } = await mintToken({ user: "limits-user", role: "user", projects: ["limits-p1", "limits-p2"] });
    const first = await call(`/v2/samples?${q(["meter", "eq", meter], ...conds)}&limit=10`, { token });
    expect(first.status).toBe(200);
    expect(((await first.json()) as any[]).map((s) => s.volume)).toEqual([28, 27, 26, 25, 24, 23, 22, 21, 20, 19]);
    const next = /<([^>]+)>; rel="next"/.exec(links(first))![1].replace(/^https?:\/\/[^/]+/, "");
    expect(next).toContain("cursor=");
    const second = await callJson<any[]>(next, { token });
    expect(second.status).toBe(200);
    expect(second.body.map((s) => s.volume)).toEqual([18, 17, 16, 15, 14, 13, 12, 11, 10, 9]);
  });
});

describe("page numbers", () => {
  it(`reach at most ${MAX_PAGE_SKIP} rows deep without a cursor (400 naming the cursor, nothing read)`, async () => {
    for (const path of ["/v2/samples", "/v2/meters/limits.none", "/v2/meters"]) {
      const { status, body, res } = await callJson<any>(`${path}?limit=10&page=999999999`);
      expect(status).toBe(400);
      expect(body.error.message).toMatch(/Invalid page '999999999': .*first 10000 matches.*cursor/);
      expect(res.headers.get("Server-Timing") ?? "").not.toMatch(/rows_read=[1-9]/);
    }
    const edge = await callJson<any[]>(
      `/v2/samples?${q(["meter", "eq", "limits.none"])}&limit=10&page=${MAX_PAGE_SKIP / 10 + 1}`,
    );
    expect(edge.status).toBe(200);
    expect(edge.body).toEqual([]);
  });

  it("a deep linked page carries no prev link its number could not reach", async () => {
    const meter = "limits.deep";
    await seed(
      Array.from({ length: 30 }, (_, i) => ({
        meter,
        type: "gauge",
        volume: i,
        resource_id: "vm",
        timestamp: iso(T0 + i * 1000),
      })),
    );
    // A cursor page claiming to be page 2000 (its number only names it in links).
    const first = await call(`/v2/samples?${q(["meter", "eq", meter])}&limit=10`);
    const next = /<([^>]+)>; rel="next"/
      .exec(links(first))![1]
      .replace(/^https?:\/\/[^/]+/, "")
      .replace("page=2", "page=2000");
    const deep = await call(next);
    expect(deep.status).toBe(200);
    expect(((await deep.json()) as any[]).map((s) => s.volume)).toEqual([19, 18, 17, 16, 15, 14, 13, 12, 11, 10]);
    expect(links(deep)).not.toContain('rel="prev"');
    expect(links(deep)).toContain('rel="first"');
  });
});

describe("statistics size", () => {
  it(`refuses more than ${MAX_STATISTICS} buckets up front, from the range alone`, async () => {
    const range = q(["timestamp", "ge", iso(T0)], ["timestamp", "lt", iso(T0 + 86_400_000)]);
    const { status, body } = await callJson<any>(`/v2/meters/limits.none/statistics?period=1&${range}`);
    expect(status).toBe(400);
    expect(body.error.message).toMatch(/would answer 86400 statistics \(buckets × groups\), more than 10000/);
    const ok = await callJson<any[]>(`/v2/meters/limits.none/statistics?period=9&${range}`);
    expect(ok).toMatchObject({ status: 200, body: [] });
  });

  it(`refuses an answer of more than ${MAX_STATISTICS} buckets × groups found in the data`, async () => {
    const meter = "limits.many";
    await seed(
      Array.from({ length: MAX_STATISTICS + 1 }, (_, i) => ({
        meter,
        type: "gauge",
        volume: 1,
        resource_id: `vm-${i % 2}`,
        timestamp: iso(T0 + i * 1000),
      })),
    );
    const grouped = await callJson<any>(`/v2/meters/${meter}/statistics?period=1&groupby=resource_id`);
    expect(grouped.status).toBe(400);
    expect(grouped.body.error.message).toMatch(/more than 10000 statistics \(buckets × groups\)|more than 10000/);
    const fewer = await callJson<any[]>(`/v2/meters/${meter}/statistics?period=4&groupby=resource_id`);
    expect(fewer.status).toBe(200);
    expect(fewer.body.reduce((n, s) => n + s.count, 0)).toBe(MAX_STATISTICS + 1);
  });
});

describe("cold samples one request parses", () => {
  it(`are at most ${COLD_ROWS_MAX}, counted from the objects' index rows before any is read`, () => {
    const entry = (n: number) => ({ n, key: `k${n}` }) as ArchiveEntry;
    expect(() => checkObjectCount([entry(COLD_ROWS_MAX / 2), entry(COLD_ROWS_MAX / 2)])).not.toThrow();
    expect(() => checkObjectCount([entry(COLD_ROWS_MAX / 2), entry(COLD_ROWS_MAX / 2 + 1)])).toThrow(
      /would read 500001 cold samples \(more than 500000\)/,
    );
  });
});

describe("search_offset", () => {
  it("past the years a datetime holds is a 400, not a 500", async () => {
    const offset = q(["timestamp", "ge", iso(T0)], ["search_offset", "eq", "9000000000000000"]);
    for (const path of ["/v2/meters/limits.none/statistics", "/v2/samples", "/v2/meters/limits.none"]) {
      const { status, body } = await callJson<any>(`${path}?${offset}`);
      expect(status).toBe(400);
      expect(body.error.message).toMatch(/search_offset.*years 1 to 9999/);
    }
    const fine = await callJson<any[]>(
      `/v2/meters/limits.none/statistics?${q(["timestamp", "ge", iso(T0)], ["search_offset", "eq", "60"])}`,
    );
    expect(fine).toMatchObject({ status: 200, body: [] });
  });
});

describe("fields a sample does not have", () => {
  it("are refused as WSME refuses them, naming the field, nothing stored", async () => {
    const resource = "limits-unknown";
    const good = { meter: "limits.unknown", type: "gauge", volume: 1, resource_id: resource, timestamp: iso(T0) };
    const one = await callJson<any>("/v2/samples", {
      method: "POST",
      json: [good, { ...good, volume: 2, resource_metadata: { a: 1 } }],
    });
    expect(one.status).toBe(400);
    expect(one.body.error.message).toBe("Unknown attribute for argument samples: resource_metadata");
    const two = await callJson<any>("/v2/meters/limits.unknown", {
      method: "POST",
      json: [
        {
          counter_name: "limits.unknown",
          counter_type: "gauge",
          counter_unit: "",
          counter_volume: 1,
          resource_id: resource,
          metadata: {},
          zz: 1,
        },
      ],
    });
    expect(two.status).toBe(400);
    expect(two.body.error.message).toBe("Unknown attributes for argument samples: metadata, zz");
    const stored = await callJson<any[]>(`/v2/samples?${q(["resource_id", "eq", resource])}`);
    expect(stored.body).toEqual([]);
    // recorded_at is an attribute of Ceilometer's sample: accepted, set by the server.
    const ok = await callJson<any[]>("/v2/samples", {
      method: "POST",
      json: [{ ...good, recorded_at: "2001-01-01T00:00:00" }],
    });
    expect(ok.status).toBe(201);
    expect(ok.body[0].recorded_at).not.toBe("2001-01-01T00:00:00+00:00");
  });
});
