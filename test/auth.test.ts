import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
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
    expect(missing.headers.get("x-request-id")).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
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
    const bad = await callJson("/auth/tokens", {
      method: "POST",
      body: "{not json",
      headers: { "content-type": "application/json" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/Malformed JSON/);
  });

  it("fails closed: the ADMIN_TOKEN is only accepted exactly", async () => {
    for (const token of [`${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1)])
      expect(await callJson("/auth/whoami", { token })).toMatchObject({
        status: 401,
        body: { message: "authentication required" },
      });
    expect(await callJson("/auth/whoami", { token: ADMIN_TOKEN })).toMatchObject({
      status: 200,
      body: { user: "admin", role: "admin" },
    });
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
    expect(body).toEqual({
      dataset_id: "d1",
      read_groups: ["g1"],
      write_groups: [],
      read_users: [],
      write_users: ["alice"],
    });
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

describe("a system token reaches only the task-logs routes", () => {
  it("is refused with 403 in each family's dialect everywhere else, and still posts and reads logs", async () => {
    // Even a system token that lists a project (an operator's slip) reaches none of its data.
    const { token } = await mintToken({ user: "leaked-pilot", role: "system", projects: ["sys-p"], groups: ["g1"] });
    const refused: Array<[string, RequestInit & { json?: unknown }, unknown]> = [
      ["/api/v1/sessions/count", {}, { message: "authorization failed" }],
      ["/v2/samples", {}, { error: { code: 403, title: "Forbidden", message: "authorization failed" } }],
      [
        "/v2/sys-p/sessions",
        {},
        { title: "Access Forbidden", description: "You are not allowed to access this resource" },
      ],
      [
        "/v2/sys-p/jobs",
        { method: "POST", json: { job_id: "j1" } },
        { title: "Access Forbidden", description: expect.any(String) },
      ],
      ["/api/daemon/status", {}, { code: 1006, msg: "permission denied: authorization failed" }],
      ["/daemon/id", {}, { code: 1006, msg: "permission denied: authorization failed" }],
      ["/dashboard/api/daemons", {}, { message: "authorization failed" }],
      ["/auth/whoami", {}, { message: "authorization failed" }],
      ["/auth/tokens", {}, { message: "authorization failed" }],
      ["/datasets/dsys/tasks/t1/logs", {}, { code: 403, error: "authorization failed" }],
    ];
    for (const [path, init, body] of refused) {
      const res = await callJson(path, { ...init, token });
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 403, body });
    }
    const posted = await callJson("/logs", { method: "POST", token, json: { data: "pilot output", name: "stdout" } });
    expect(posted.status).toBe(201);
    const read = await callJson(`/logs/${posted.body.result}`, { token });
    expect(read).toMatchObject({ status: 200, body: { data: "pilot output", name: "stdout" } });
  });

  it("gets no Keystone token from the scheduler's shim", async () => {
    const { token } = await mintToken({ user: "leaked-pilot-2", role: "system", projects: ["sys-p"] });
    const issue = await callJson("/v3/auth/tokens", {
      method: "POST",
      token: null,
      json: { auth: { identity: { methods: ["token"], token: { id: token } }, scope: { project: { id: "sys-p" } } } },
    });
    expect(issue.status).toBe(403);
    expect(issue.body).toEqual({ title: "Forbidden", description: "You are not allowed to access this resource" });
    expect(issue.res.headers.get("x-subject-token")).toBeNull();
    const validate = await callJson("/v3/auth/tokens", {
      token: null,
      headers: { "X-Auth-Token": token, "X-Subject-Token": token },
    });
    expect(validate.status).toBe(403);
  });
});

/**
 * A D1 binding whose replica has not yet seen recent writes: in a session that may read a
 * replica, every SELECT finds nothing; writes, and sessions on the primary, reach the real
 * database (as D1 forwards a session's writes to the primary).
 */
function laggingReplica(db: D1Database): D1Database {
  const nothing = { results: [], success: true, meta: { rows_read: 0, rows_written: 0, duration: 0 } };
  const stale = (stmt: D1PreparedStatement): D1PreparedStatement =>
    Object.assign(Object.create(stmt), {
      bind: () => stale(stmt),
      all: async () => nothing,
      run: async () => nothing,
      raw: async () => [],
      first: async () => null,
    });
  const session = (constraint?: string) => {
    const real = db.withSession(constraint);
    if (constraint === "first-primary") return real;
    return Object.assign(Object.create(real), {
      prepare: (q: string) => (/^\s*select/i.test(q) ? stale(real.prepare(q)) : real.prepare(q)),
      getBookmark: () => real.getBookmark(),
    });
  };
  return Object.assign(Object.create(db), { withSession: session });
}

describe("revocation on the primary", () => {
  it("revokes a token minted a moment ago that a replica has not seen yet", async () => {
    const { app } = await import("../src/index");
    const { token, id } = await mintToken({ user: "fresh-fay", role: "user" });
    const lagging = { ...env, DB: laggingReplica(env.DB) };
    const req = (path: string, init: RequestInit, t: string) =>
      app.fetch(
        new Request(`http://opshub.test${path}`, { ...init, headers: { Authorization: `Bearer ${t}` } }),
        lagging,
      );
    // The replica does not know the token: a read there would say "no such token".
    const seen = await req("/auth/tokens", {}, ADMIN_TOKEN);
    const listed = (await seen.json()) as { tokens: Array<{ id: string }> };
    expect(listed.tokens.some((t) => t.id === id)).toBe(false);
    const revoked = await req(`/auth/tokens/${id}`, { method: "DELETE" }, ADMIN_TOKEN);
    expect([revoked.status, await revoked.json()]).toEqual([200, { id, revoked: true }]);
    const row = await env.DB.prepare("SELECT revoked_at FROM tokens WHERE id = ?")
      .bind(id)
      .first<{ revoked_at: string | null }>();
    expect(row?.revoked_at).toEqual(expect.any(String));
    expect((await call("/auth/whoami", { token })).status).toBe(401);
    // Revoking again keeps the first time; an unknown id is still a 404.
    expect((await callJson(`/auth/tokens/${id}`, { method: "DELETE" })).body).toEqual({ id, revoked: true });
    const again = await env.DB.prepare("SELECT revoked_at FROM tokens WHERE id = ?")
      .bind(id)
      .first<{ revoked_at: string }>();
    expect(again?.revoked_at).toBe(row?.revoked_at);
    expect((await callJson("/auth/tokens/tok_nobody", { method: "DELETE" })).status).toBe(404);
  });
});

describe("API documents are built once per isolate", () => {
  it("builds /openapi.json and /api/v1/swagger.json at most once, then serves the same document", async () => {
    const { app } = await import("../src/index");
    const { monitorRoutes } = await import("../src/monitor/routes");
    // Watched, not replaced: the real builders run (this isolate may have built them already).
    const openapi = vi.spyOn(app, "getOpenAPI31Document");
    const swagger = vi.spyOn(monitorRoutes, "getOpenAPIDocument");
    try {
      const get = async (path: string) => (await app.fetch(new Request(`http://opshub.test${path}`), env)).json();
      const docs = [];
      for (let i = 0; i < 3; i++) docs.push(await get("/openapi.json"), await get("/api/v1/swagger.json"));
      expect(openapi.mock.calls.length).toBeLessThanOrEqual(1);
      expect(swagger.mock.calls.length).toBeLessThanOrEqual(1);
      expect(docs[0]).toMatchObject({ openapi: "3.1.0", info: { title: "OpsHub" } });
      expect(Object.keys((docs[0] as { paths: object }).paths)).toContain("/auth/whoami");
      expect(docs[1]).toMatchObject({ swagger: "2.0" });
      expect(docs[4]).toEqual(docs[0]);
      expect(docs[5]).toEqual(docs[1]);
    } finally {
      openapi.mockRestore();
      swagger.mockRestore();
    }
  });
});
