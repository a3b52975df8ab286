/**
 * The migration that moves samples stored one row each into series and chunks
 * (migrations/0017_telemetry_chunks_backfill.sql): run against rows in the old tables,
 * the answers (counts, pages, ids, metadata queries, statistics) equal what those rows
 * say, a re-post of an old sample is not stored twice, and running it again changes
 * nothing (D1 applies a migration whole or not at all: an interrupted one is rerun).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "./helpers/http";

const migrations = (env as unknown as { TEST_MIGRATIONS: Array<{ name: string; queries: string[] }> }).TEST_MIGRATIONS;
const queriesOf = (name: string) => migrations.find((m) => m.name.startsWith(name))!.queries;

const T0 = Date.UTC(2015, 10, 14) * 1000;
const H = 3_600_000_000;
const iso = (us: number) => new Date(us / 1000).toISOString().replace("Z", "+00:00").replace(".000", "");
const q = (...conds: Array<[string, string]>) => {
  const p = new URLSearchParams();
  for (const c of conds) p.append("q.field", c[0]);
  for (const _c of conds) p.append("q.op", "eq");
  for (const c of conds) p.append("q.value", c[1]);
  return p.toString();
};

interface Legacy {
  id: string;
  meter: string;
  resource: string;
  volume: number;
  timestamp: number;
  metadata: string;
}

describe("the backfill of samples stored one row each", () => {
  it("answers what the old rows say, keeps their ids, and runs again without change", async () => {
    // The old tables, as the migrations that made them created them.
    for (const name of ["0005_", "0008_"]) {
      for (const sql of queriesOf(name).filter((x) => /CREATE TABLE `telemetry_sample/.test(x)))
        await env.DB.prepare(sql).run();
    }
    const rows: Legacy[] = Array.from({ length: 300 }, (_, i) => ({
      id: `${(0x10000000 + i).toString(16)}-aaaa-4bbb-8ccc-${String(i).padStart(12, "0")}`,
      meter: "legacy.cpu",
      resource: `legacy-vm-${i % 3}`,
      volume: (i % 17) / 4,
      timestamp: T0 + i * 37_000_000,
      metadata: i % 2 ? "" : JSON.stringify({ flavor: `f${i % 4}` }),
    }));
    await env.DB.batch(
      rows.flatMap((r, i) => [
        env.DB.prepare(
          "INSERT INTO telemetry_samples (seq, id, meter, display_name, project_id, resource_id, resource_name, namespace, type, unit, volume, timestamp, recorded_at, user_id, source, metadata) VALUES (?, ?, ?, '', 'legacy-p', ?, '', '', 'gauge', '%', ?, ?, ?, 'u1', 'legacy-p:openstack', ?)",
        ).bind(i + 1, r.id, r.meter, r.resource, r.volume, r.timestamp, r.timestamp + 5, r.metadata),
        ...(r.metadata
          ? [
              env.DB.prepare(
                "INSERT INTO telemetry_sample_metadata (key, kind, value, timestamp, seq) VALUES ('flavor', 's', ?, ?, ?)",
              ).bind(JSON.parse(r.metadata).flavor, r.timestamp, i + 1),
            ]
          : []),
      ]),
    );
    // An hour rollup of those hours (to go: the chunks carry them now) and a minute one.
    await env.DB.prepare(
      "INSERT INTO telemetry_rollups (width, meter, bucket, project_id, resource_id, user_id, source, n, total, lo, hi, squares, first, last, unit) VALUES (3600, 'legacy.cpu', ?, 'legacy-p', 'legacy-vm-0', 'u1', 'legacy-p:openstack', 1, 1, 1, 1, 1, ?, ?, '%'), (60, 'legacy.cpu', ?, 'legacy-p', 'legacy-vm-0', 'u1', 'legacy-p:openstack', 1, 1, 1, 1, 1, ?, ?, '%')",
    )
      .bind(T0, T0, T0, T0, T0, T0)
      .run();

    const backfill = async () => {
      for (const sql of queriesOf("0017_")) await env.DB.prepare(sql).run();
    };
    await backfill();
    const snapshot = async () => {
      const list = await callJson<any[]>(`/v2/samples?${q(["meter", "legacy.cpu"])}&limit=1000`);
      const stats = await callJson<any[]>(
        `/v2/meters/legacy.cpu/statistics?period=3600&groupby=resource_id&aggregate.func=stddev`,
      );
      return { list: list.body, total: list.res.headers.get("Total"), stats: stats.body };
    };
    const after = await snapshot();
    // Run again: nothing changes.
    await backfill();
    expect(await snapshot()).toEqual(after);
    for (const sql of queriesOf("0018_").filter((x) => /telemetry_sample/.test(x))) await env.DB.prepare(sql).run();
    expect(await snapshot()).toEqual(after);

    // Counts, order, ids and content as the old rows hold them.
    expect(after.total).toBe("300");
    const newest = [...rows].sort((a, b) => b.timestamp - a.timestamp);
    expect(after.list.map((s) => s.id)).toEqual(newest.map((r) => r.id));
    expect(after.list.map((s) => s.volume)).toEqual(newest.map((r) => r.volume));
    expect(after.list[0]).toMatchObject({
      recorded_at: iso(newest[0].timestamp + 5).replace("+00:00", ".000005+00:00"),
    });
    // Statistics equal the raw computation per hour and resource (quarter volumes: exact sums).
    const want = new Map<string, { count: number; sum: number; sq: number }>();
    for (const r of rows) {
      const origin = rows[0].timestamp;
      const key = `${Math.trunc((r.timestamp - origin) / H)} ${r.resource}`;
      const m = want.get(key) ?? { count: 0, sum: 0, sq: 0 };
      m.count += 1;
      m.sum += r.volume;
      m.sq += r.volume * r.volume;
      want.set(key, m);
    }
    expect(after.stats).toHaveLength(want.size);
    for (const s of after.stats) {
      const bucket = Math.round((Date.parse(s.period_start) * 1000 - rows[0].timestamp) / H);
      const m = want.get(`${bucket} ${s.groupby.resource_id}`)!;
      expect([s.count, s.sum]).toEqual([m.count, m.sum]);
      expect(s.aggregate.stddev).toBeCloseTo(Math.sqrt(Math.max(0, m.sq / m.count - (m.sum / m.count) ** 2)), 12);
    }
    // An old id is one lookup, by path and by message_id; metadata queries resolve.
    const one = await callJson<any>(`/v2/samples/${rows[7].id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: rows[7].id, volume: rows[7].volume, resource_id: rows[7].resource });
    const byMessage = await callJson<any[]>(`/v2/samples?${q(["message_id", rows[8].id])}`);
    expect(byMessage.body.map((s) => s.id)).toEqual([rows[8].id]);
    const flavored = await callJson<any[]>(
      `/v2/samples?${q(["meter", "legacy.cpu"], ["metadata.flavor", "f2"])}&limit=1000`,
    );
    expect(flavored.body.length).toBe(rows.filter((r) => r.metadata && JSON.parse(r.metadata).flavor === "f2").length);
    // The hours now in chunks left the rollups; minute rollups are gone.
    const rollups = await env.DB.prepare(
      "SELECT count(*) AS n FROM telemetry_rollups WHERE meter = 'legacy.cpu'",
    ).first<{ n: number }>();
    expect(rollups?.n).toBe(0);

    // A re-post of an old sample finds it: stored once, answered with its old id.
    const r = rows[10];
    const repost = await callJson<any[]>("/v2/samples", {
      method: "POST",
      json: [
        {
          meter: r.meter,
          type: "gauge",
          unit: "%",
          volume: r.volume,
          resource_id: r.resource,
          project_id: "legacy-p",
          user_id: "u1",
          source: "legacy-p:openstack",
          timestamp: iso(r.timestamp),
          metadata: r.metadata ? JSON.parse(r.metadata) : "",
        },
      ],
    });
    expect(repost.status).toBe(201);
    expect(repost.body[0].id).toBe(r.id);
    expect((await snapshot()).total).toBe("300");
  });
});
