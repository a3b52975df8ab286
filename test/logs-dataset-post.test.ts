import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, callJson, mintToken } from "./helpers/http";
import { bucketKeys, grantDataset, logRow, logsCallers } from "./helpers/logs";

let t: Awaited<ReturnType<typeof logsCallers>>;
let named: string;

/** A figure of a response's D1 cost, from `Server-Timing: d1;…desc="round_trips=N … rows_read=N …"`. */
function d1(res: Response, what: "round_trips" | "rows_read"): number {
  const m = new RegExp(`${what}=(\\d+)`).exec(res.headers.get("server-timing") ?? "");
  if (!m) throw new Error(`no d1 entry in Server-Timing: ${res.headers.get("server-timing")}`);
  return Number(m[1]);
}
const roundTrips = (res: Response) => d1(res, "round_trips");
const countLogs = async () => (await env.DB.prepare("SELECT count(*) AS n FROM logs").first<{ n: number }>())!.n;

beforeAll(async () => {
  t = await logsCallers();
  named = (await mintToken({ user: "named-writer", role: "user", groups: [] })).token;
  await grantDataset("dpost");
  // Write by user name only, no group.
  const put = await callJson("/auth/datasets/dpost_named", {
    method: "PUT",
    json: { read_groups: [], write_groups: [], read_users: [], write_users: ["named-writer"] },
  });
  expect(put.status).toBe(200);
  // Each token's record is looked up once, then kept by the isolate (src/auth/cache.ts).
  for (const token of [t.writer, t.reader, t.stranger, named]) await call("/auth/whoami", { token });
});

describe("POST /datasets/{d}/logs: access checked by the insert itself", () => {
  it("takes a small post in one D1 round trip, by group or by user name", async () => {
    for (const [dataset, token] of [
      ["dpost", t.writer],
      ["dpost_named", named],
    ] as const) {
      const json = await call(`/datasets/${dataset}/logs`, {
        method: "POST",
        json: { data: "small", name: "stdout" },
        token,
      });
      expect(json.status).toBe(201);
      expect(roundTrips(json)).toBe(1);
      // The newest row's timestamp and the access record (its groups read through json_each).
      expect(d1(json, "rows_read")).toBeLessThanOrEqual(4);
      const id = ((await json.json()) as { result: string }).result;
      expect(await logRow(id)).toMatchObject({ in_r2: 0, data: "small" });
      const raw = await call(`/datasets/${dataset}/logs/raw?name=stderr`, { method: "POST", body: "raw small", token });
      expect(raw.status).toBe(201);
      expect(roundTrips(raw)).toBe(1);
    }
  });

  it("reads the access record first when the body goes to R2: two round trips", async () => {
    const big = "r2 line\n".repeat(10_000);
    const res = await call("/datasets/dpost/logs", { method: "POST", json: { data: big }, token: t.writer });
    expect(res.status).toBe(201);
    expect(roundTrips(res)).toBe(2);
    const id = ((await res.json()) as { result: string }).result;
    expect(await logRow(id)).toMatchObject({ in_r2: 1, body_bytes: big.length });
  });

  it("refuses with the same 403s, writing neither a row nor a body, however far the post got", async () => {
    const before = await countLogs();
    const keysBefore = new Set(await bucketKeys());
    const big = "x".repeat(100_000);
    const bigJson = JSON.stringify({ data: big });
    const cases: Array<[string, string, string | ReadableStream<Uint8Array>, string]> = [
      // [dataset, token, body, reason]
      ["dpost", t.reader, JSON.stringify({ data: "small" }), "authorization failed"],
      ["dpost", t.stranger, JSON.stringify({ data: "small" }), "authorization failed"],
      ["dpost_named", t.writer, JSON.stringify({ data: "small" }), "authorization failed"],
      ["nosuchrecord", t.writer, JSON.stringify({ data: "small" }), "attr not found"],
      // Big bodies: refused before anything reaches R2 (with and without a length).
      ["dpost", t.reader, bigJson, "authorization failed"],
      ["dpost", t.reader, new Blob([bigJson]).stream(), "authorization failed"],
      ["nosuchrecord", t.writer, bigJson, "attr not found"],
      // A post that is bad anyway still hears the 403 first, as when the record was read first.
      ["dpost", t.reader, '{"data":', "authorization failed"],
      ["dpost", t.reader, '{"name":"no data"}', "authorization failed"],
      ["nosuchrecord", t.writer, '{"data":"x","n":1}', "attr not found"],
    ];
    for (const [dataset, token, body, reason] of cases) {
      const res = await callJson(`/datasets/${dataset}/logs`, { method: "POST", body, token });
      expect(res, `${dataset} ${typeof body === "string" ? body.slice(0, 20) : "stream"}`).toMatchObject({
        status: 403,
        body: { code: 403, error: reason },
      });
    }
    // A refused small post: the insert that wrote nothing, then the record, read once.
    const refused = await call("/datasets/dpost/logs", { method: "POST", json: { data: "small" }, token: t.reader });
    expect(refused.status).toBe(403);
    expect(roundTrips(refused)).toBe(2);
    // A refused malformed post: the record alone.
    const malformed = await call("/datasets/dpost/logs", { method: "POST", body: '{"data":', token: t.reader });
    expect(malformed.status).toBe(403);
    expect(roundTrips(malformed)).toBe(1);
    for (const [dataset, token, reason] of [
      ["dpost", t.reader, "authorization failed"],
      ["nosuchrecord", t.writer, "attr not found"],
    ] as const) {
      for (const [body, headers] of [
        ["small raw", {}],
        [big, { "content-length": String(big.length) }],
        [new Blob([big]).stream(), {}],
      ] as const) {
        const res = await callJson(`/datasets/${dataset}/logs/raw`, { method: "POST", body, headers, token });
        expect(res).toMatchObject({ status: 403, body: { code: 403, error: reason } });
      }
      const bad = await callJson(`/datasets/${dataset}/logs/raw`, {
        method: "POST",
        body: "x",
        headers: { "content-length": "-1" },
        token,
      });
      expect(bad.status).toBe(403);
    }
    // Over LOG_JSON_MAX by its Content-Length: 403 before 413, as before.
    const tooBig = await callJson("/datasets/dpost/logs", {
      method: "POST",
      body: "{}",
      headers: { "content-length": String(40 * 1024 * 1024) },
      token: t.reader,
    });
    expect(tooBig.status).toBe(403);
    expect(await countLogs()).toBe(before);
    expect((await bucketKeys()).filter((k) => !keysBefore.has(k))).toEqual([]);
  });

  it("gives an allowed caller the post's own 400 and 413", async () => {
    expect(await callJson("/datasets/dpost/logs", { method: "POST", body: '{"data":', token: t.writer })).toMatchObject(
      {
        status: 400,
        body: { error: "Malformed JSON" },
      },
    );
    expect(await callJson("/datasets/dpost/logs", { method: "POST", body: "{}", token: t.writer })).toMatchObject({
      status: 400,
      body: { error: "data field not in body" },
    });
  });
});
