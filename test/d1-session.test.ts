import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bookmarkOf, countingD1, D1Cost } from "../src/http/d1-cost";
import { call, callJson, mintToken } from "./helpers/http";

/** `round_trips=… queries=… rows_read=… rows_written=…` of a response, or null without a d1 entry. */
function d1Of(res: Response) {
  const m = /d1;dur=[\d.]+;desc="round_trips=(\d+) queries=(\d+) rows_read=(\d+) rows_written=(\d+)"/.exec(
    res.headers.get("server-timing") ?? "",
  );
  return m ? { roundTrips: Number(m[1]), queries: Number(m[2]), read: Number(m[3]), written: Number(m[4]) } : null;
}

describe("round trips beside queries", () => {
  it("counts a batch as one round trip and each statement outside it as one", async () => {
    const cost = new D1Cost();
    const db = countingD1(env.DB, cost);
    const one = db.prepare("SELECT ?1 AS n");
    await db.batch([one.bind(1), one.bind(2), one.bind(3)]);
    expect({ roundTrips: cost.roundTrips, queries: cost.queries }).toEqual({ roundTrips: 1, queries: 3 });
    expect(await db.prepare("SELECT 4 AS n").first("n")).toBe(4);
    await db.prepare("SELECT 5 AS n").all();
    await db.prepare("SELECT 6 AS n").raw();
    expect({ roundTrips: cost.roundTrips, queries: cost.queries }).toEqual({ roundTrips: 4, queries: 6 });
    expect(cost.description()).toMatch(/^round_trips=4 queries=6 rows_read=\d+ rows_written=0$/);
  });

  it("counts a session's statements, and sessions made from the wrapper, into the same cost", async () => {
    const cost = new D1Cost();
    const db = countingD1(env.DB.withSession("first-unconstrained"), cost, env.DB);
    await db.prepare("SELECT 1").all();
    const primary = db.withSession("first-primary");
    await primary.batch([primary.prepare("SELECT 1"), primary.prepare("SELECT 2")]);
    expect(primary.getBookmark()).toMatch(/^[0-9a-f]+(-[0-9a-f]+)+$/);
    expect({ roundTrips: cost.roundTrips, queries: cost.queries }).toEqual({ roundTrips: 2, queries: 3 });
  });

  it("reports round trips in the response's Server-Timing", async () => {
    const minted = await call("/auth/tokens", { method: "POST", json: { user: "rt-amy", role: "user" } });
    expect(minted.status).toBe(201);
    expect(d1Of(minted)).toMatchObject({ roundTrips: 1, queries: 1, written: expect.any(Number) });
    expect(d1Of(minted)!.written).toBeGreaterThanOrEqual(1);
  });

  it("writes Server-Timing as one d1 entry, and no header when no D1 query ran", async () => {
    const health = await call("/health/d1", { token: null });
    expect(health.headers.get("server-timing")).toMatch(
      /^d1;dur=\d+\.\d{2};desc="round_trips=1 queries=1 rows_read=\d+ rows_written=0"$/,
    );
    const plain = await call("/health", { token: null });
    expect(await plain.json()).toMatchObject({ status: "ok" });
    expect(plain.headers.get("server-timing")).toBeNull();
  });

  it("counts the round trips a Durable Object made for the request", async () => {
    // Scheduler: the session object writes the new session in one batch.
    const created = await call("/v2/rt-proj/sessions/", {
      method: "POST",
      json: { schedule: { schedule_interval: "1 days" } },
    });
    expect(created.status).toBe(201);
    expect(d1Of(created)).toMatchObject({ roundTrips: 1 });
    expect(d1Of(created)!.written).toBeGreaterThanOrEqual(1);
    // Daemon: the first beat records the flip to online (and its owner lookup) in one batch.
    const { token } = await mintToken({ user: "rt-dan", role: "user" });
    const { body } = await callJson<{ daemonid: string }>("/daemon/id", { token });
    const beat = await call("/heartbeat", {
      method: "POST",
      token: null,
      json: { daemonid: body.daemonid, entrypoint: [], log: [], role: 0 },
    });
    expect(beat.status).toBe(200);
    expect(d1Of(beat)).toMatchObject({ roundTrips: 1 });
    expect(d1Of(beat)!.queries).toBeGreaterThanOrEqual(1);
  });
});

describe("GET /health/d1", () => {
  it("answers without a token with the newest migration, in one round trip reading one row", async () => {
    const { status, body, res } = await callJson("/health/d1", { token: null });
    expect(status).toBe(200);
    const newest = await env.DB.prepare("SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1").first<{
      name: string;
    }>();
    expect(body).toEqual({ status: "ok", migration: newest!.name });
    expect(body.migration).toMatch(/^\d{4}_/);
    expect(d1Of(res)).toEqual({ roundTrips: 1, queries: 1, read: 1, written: 0 });
    expect(res.headers.get("x-d1-bookmark")).toMatch(/^[0-9a-f]+(-[0-9a-f]+)+$/);
  });
});

describe("D1 sessions and the x-d1-bookmark header", () => {
  it("returns the session's bookmark on every response that used D1, none on /health", async () => {
    const res = await call("/auth/tokens");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-d1-bookmark")).toMatch(/^[0-9a-f]+(-[0-9a-f]+)+$/);
    expect((await call("/health", { token: null })).headers.get("x-d1-bookmark")).toBeNull();
  });

  it("reads its own writes when the bookmark of the write is sent back", async () => {
    const minted = await callJson<{ id: string }>("/auth/tokens", {
      method: "POST",
      json: { user: "bm-bea", role: "user" },
    });
    const after = minted.res.headers.get("x-d1-bookmark")!;
    expect(after).toBeTruthy();
    const list = await callJson<{ tokens: Array<{ id: string }> }>("/auth/tokens", {
      headers: { "x-d1-bookmark": after },
    });
    expect(list.status).toBe(200);
    expect(list.body.tokens.map((t) => t.id)).toContain(minted.body.id);
    // Bookmarks sort oldest to newest: the read's session is at least at the write's state.
    expect(list.res.headers.get("x-d1-bookmark")! >= after).toBe(true);
  });

  it("ignores a malformed bookmark instead of failing the request", async () => {
    for (const bad of ["garbage", "../../etc", "a".repeat(300), "00000000-zz"]) {
      const res = await call("/auth/tokens", { headers: { "x-d1-bookmark": bad } });
      expect(res.status, bad).toBe(200);
      expect(res.headers.get("x-d1-bookmark"), bad).toMatch(/^[0-9a-f]+(-[0-9a-f]+)+$/);
    }
  });

  it("accepts D1's bookmarks and its two session constraints, nothing else", () => {
    expect(bookmarkOf("00000000-0000000a-00000000-00000000000000000000000000000000")).toBe(
      "00000000-0000000a-00000000-00000000000000000000000000000000",
    );
    expect(bookmarkOf(" first-primary ")).toBe("first-primary");
    expect(bookmarkOf("first-unconstrained")).toBe("first-unconstrained");
    expect(bookmarkOf("first-anything")).toBeNull();
    expect(bookmarkOf("deadbeef")).toBeNull();
    expect(bookmarkOf(undefined)).toBeNull();
    expect(bookmarkOf("")).toBeNull();
  });
});
