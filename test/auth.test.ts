import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, call, callJson, mintToken } from "./helpers/http";

describe("health and documents", () => {
  it("answers /health without a token, with the version", async () => {
    const { status, body } = await callJson("/health", { token: null });
    expect(status).toBe(200);
    expect(body).toEqual({ status: "ok", version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it("serves an OpenAPI 3.1 document and a docs page", async () => {
    const { status, body } = await callJson("/openapi.json", { token: null });
    expect(status).toBe(200);
    expect(body.openapi).toBe("3.1.0");
    expect(Object.keys(body.paths)).toContain("/auth/tokens");
    const docs = await call("/docs", { token: null });
    expect(docs.status).toBe(200);
    const html = await docs.text();
    expect(html).toContain("/openapi.json");
    // The reference UI is this deployment's own asset, never a CDN's.
    expect(html).toContain('src="/docs/assets/api-reference.js"');
    expect(html).not.toMatch(/https?:\/\/[^"]*(jsdelivr|unpkg)/);
  });
});

describe("request ids", () => {
  it("answers every response with one: the caller's plain id, else a new one", async () => {
    const mine = await call("/health", { token: null, headers: { "X-Request-Id": "support-42" } });
    expect(mine.headers.get("x-request-id")).toBe("support-42");
    const missing = await call("/no-such-path", { token: null });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // Text that could pass for another log field is not echoed into the logs.
    const odd = await call("/health", { token: null, headers: { "X-Request-Id": 'a","failed":"x' } });
    expect(odd.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("tokens", () => {
  it("accepts the token in all four header forms", async () => {
    const { token } = await mintToken({ user: "alice", role: "user", projects: ["p1"], groups: ["g1"] });
    const forms: Record<string, string>[] = [
      { Authorization: `Bearer ${token}` },
      { Authorization: `Token ${token}` },
      { "X-Auth-Token": token },
      { Authorization: `Basic ${btoa(`ci:${token}`)}` },
    ];
    for (const headers of forms) {
      const { status, body } = await callJson("/auth/whoami", { token: null, headers });
      expect(status, JSON.stringify(headers)).toBe(200);
      expect(body).toMatchObject({ user: "alice", role: "user", projects: ["p1"], groups: ["g1"] });
    }
  });

  it("stores only a SHA-256 hash of the token", async () => {
    const { token, id } = await mintToken({ user: "bob", role: "system" });
    const row = await env.DB.prepare("SELECT * FROM tokens WHERE id = ?").bind(id).first<Record<string, unknown>>();
    expect(Object.values(row!)).not.toContain(token);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(row!.token_hash).toBe(hex);
  });

  it("lists records without tokens and revokes at once", async () => {
    const { token, id } = await mintToken({ user: "carol", role: "user" });
    const list = await callJson("/auth/tokens");
    expect(list.status).toBe(200);
    const mine = list.body.tokens.find((t: { id: string }) => t.id === id);
    expect(mine).toMatchObject({ user: "carol", role: "user", revoked_at: null });
    expect(JSON.stringify(list.body)).not.toContain(token);

    expect((await call(`/auth/tokens/${id}`, { method: "DELETE" })).status).toBe(200);
    expect((await call("/auth/whoami", { token })).status).toBe(401);
    expect((await call("/auth/tokens/tok_missing", { method: "DELETE" })).status).toBe(404);
  });

  it("refuses admin routes to other roles and unknown tokens", async () => {
    const { token } = await mintToken({ user: "dave", role: "user" });
    expect(await callJson("/auth/tokens", { token })).toEqual({
      status: 403,
      body: { message: "authorization failed" },
      res: expect.anything(),
    });
    expect(await callJson("/auth/tokens", { token: "nope" })).toEqual({
      status: 401,
      body: { message: "authentication required" },
      res: expect.anything(),
    });
    expect(await callJson("/auth/tokens", { token: null })).toEqual({
      status: 401,
      body: { message: "authentication required" },
      res: expect.anything(),
    });
  });

  it("validates token creation and names the field", async () => {
    const { status, body } = await callJson("/auth/tokens", { method: "POST", json: { user: "x", role: "root" } });
    expect(status).toBe(400);
    expect(body.errors).toHaveProperty("role");
    const bad = await callJson("/auth/tokens", { method: "POST", body: "{not json", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/Malformed JSON/);
  });

  it("fails closed: the ADMIN_TOKEN is only accepted exactly", async () => {
    for (const token of [`${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1)])
      expect(await callJson("/auth/whoami", { token })).toMatchObject({ status: 401, body: { message: "authentication required" } });
    expect(await callJson("/auth/whoami", { token: ADMIN_TOKEN })).toMatchObject({ status: 200, body: { user: "admin", role: "admin" } });
  });

  it("answers 405 for a method a path lacks and 404 for an unknown path", async () => {
    expect((await call("/auth/whoami", { method: "DELETE" })).status).toBe(405);
    const nf = await callJson("/nowhere");
    expect(nf.status).toBe(404);
    expect(nf.body).toEqual({ message: "not found" });
  });

  it("sets dataset access records", async () => {
    const { status, body } = await callJson("/auth/datasets/d1", {
      method: "PUT",
      json: { read_groups: ["g1"], write_groups: [], read_users: [], write_users: ["alice"] },
    });
    expect(status).toBe(200);
    expect(body).toEqual({ dataset_id: "d1", read_groups: ["g1"], write_groups: [], read_users: [], write_users: ["alice"] });
  });
});

describe("D1 cost report", () => {
  it("reports the request's D1 queries and rows in Server-Timing", async () => {
    const { token } = await mintToken({ user: "erin", role: "user" });
    const res = await call("/auth/whoami", { token });
    expect(res.status).toBe(200);
    const timing = res.headers.get("server-timing") ?? "";
    const m = timing.match(/d1;dur=[\d.]+;desc="round_trips=(\d+) queries=(\d+) rows_read=(\d+) rows_written=(\d+)"/);
    expect(m, timing).not.toBeNull();
    expect(Number(m![1])).toBe(1); // the token lookup, on a cold cache
    expect(Number(m![2])).toBe(1);
    expect(Number(m![3])).toBe(1); // by its unique hash index: one row
    expect(Number(m![4])).toBe(0);
  });
});
