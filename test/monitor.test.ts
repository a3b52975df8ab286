import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, mintToken } from "./helpers/http";
import { ciDescription, metricsOf, pluginContext, pluginMetric, pluginSession } from "./helpers/monitor";
import { countAll, databaseOf, shardBindings } from "./helpers/shards";

const api = "/api/v1";
const post = (path: string, json: unknown, token?: string) =>
  callJson(`${api}${path}`, { method: "POST", json, token });
const get = (path: string) => callJson(`${api}${path}`);
/** Rows of a table on every shard (two, or the main DB alone: vitest.config.ts). */
const rowCount = (table: string, where = "1") => countAll(`SELECT count(*) AS n FROM ${table} WHERE ${where}`);
/** Project `default`'s id on the shard holding it (NULL, so no rows, on the others). */
const DEFAULT_ID = "(SELECT id FROM monitor_projects WHERE name = 'default')";
const rowsRead = (res: Response) => Number(/rows_read=(\d+)/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? NaN);
const hex = (n: number) => n.toString(16).padStart(32, "0");

describe("what the plugin does (spec: 'What the plugin sends')", () => {
  it("checks the context, creates it, opens a session and posts metrics, with Basic credentials", async () => {
    const { token } = await mintToken({ user: "ci", role: "user", projects: ["plugin-team"] });
    const basic = { Authorization: `Basic ${btoa(`ci:${token}`)}` };
    const ctx = pluginContext("c0ffee00000000000000000000000001");

    // 1. Unknown context: anything but a 200 with contexts[0].h.
    const probe = await call(`${api}/contexts/${ctx.h}`, { token: null, headers: basic });
    expect(probe.status).toBe(204);

    // 2. Create it: 201 and a body with h; the float frequency comes back as integer MHz.
    const created = await callJson(`${api}/contexts/`, { method: "POST", json: ctx, token: null, headers: basic });
    expect(created.status).toBe(201);
    // Read back exactly as posted (the reference's keys, no others), the frequency as integer MHz.
    expect(created.body).toEqual({ ...ctx, cpu_frequency: 2712 });
    expect(created.body.python_info).toContain("\n");

    // Now known: 200 with contexts[0].h.
    const known = await callJson(`${api}/contexts/${ctx.h}`, { token: null, headers: basic });
    expect(known.status).toBe(200);
    expect(known.body.contexts[0].h).toBe(ctx.h);

    // 3. The session, with CI keys and tags in its description.
    const session = pluginSession("5e55100000000000000000000000aaaa", { ...ciDescription(), tag: "nightly" });
    const s = await callJson(`${api}/sessions/`, { method: "POST", json: session, token: null, headers: basic });
    expect(s.status).toBe(201);
    expect(s.body).toEqual({
      session_h: session.session_h,
      run_date: session.run_date,
      scm_ref: session.scm_ref,
      tags: Object.entries(session.description).map(([k, v]) => ({ name: k, key: k, value: v })),
    });

    // 4. A metric after each passing test.
    for (const m of metricsOf(session.session_h, 3, { context_h: ctx.h })) {
      const r = await call(`${api}/metrics/`, { method: "POST", json: m, token: null, headers: basic });
      expect(r.status).toBe(201);
    }
    // Stored in the token's only project: the admin reads it there, not in `default`.
    expect((await callJson(`/projects/plugin-team${api}/sessions/${session.session_h}/metrics/count`)).body).toEqual({
      count: 3,
    });
    expect((await get(`/sessions/${session.session_h}/metrics/count`)).body).toEqual({ count: 0 });
  });

  it("takes posts on /sessions/<h> (hash from the path when the body has none) and /contexts/<h>, as the reference", async () => {
    const { session_h: _, ...noHash } = pluginSession(hex(0x9a7));
    const s = await post(`/sessions/${hex(0x9a7)}`, noHash);
    expect(s.status).toBe(201);
    expect(s.body.session_h).toBe(hex(0x9a7));
    const ctx = pluginContext(hex(0x9a8));
    expect((await post(`/contexts/${ctx.h}`, ctx)).status).toBe(201);
    expect((await get(`/contexts/${ctx.h}`)).body.contexts[0]).toEqual({ ...ctx, cpu_frequency: 2712 });
  });

  it("accepts a session with an empty description and a null scm_ref", async () => {
    const r = await post("/sessions", { ...pluginSession(hex(0xe1)), scm_ref: null, description: {} });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ scm_ref: null, tags: [] });
  });

  it("refuses calls without a valid token in its dialect", async () => {
    const r = await callJson(`${api}/sessions/`, { token: null });
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ message: expect.any(String) });
    expect((await call(`${api}/sessions/`, { token: "wrong" })).status).toBe(401);
  });

  it("accepts a metric naming a session and context that do not exist yet", async () => {
    const r = await post("/metrics", pluginMetric({ session_h: hex(0xabc), context_h: hex(0xdef) }));
    expect(r.status).toBe(201);
  });
});

describe("a project's shard (docs/api/monitor.md, 'Shards')", () => {
  it("reads a project never written as empty, without asking the map when there is one shard", async () => {
    const res = await call("/projects/mon-never-written/api/v1/sessions/");
    expect(res.status).toBe(204);
    // Shards: the map (a project without a place is never cached), then the shard the placement
    // rule names; the main DB alone: that one query.
    const shards = shardBindings().length;
    expect(res.headers.get("server-timing")).toMatch(shards === 1 ? /round_trips=1 / : /round_trips=2 /);
    expect((await callJson("/projects/mon-never-written/api/v1/metrics/count")).body).toEqual({ count: 0 });
    expect(await rowCount("monitor_projects", "name = 'mon-never-written'")).toBe(0);
  });

  it("writes a project's rows on its shard, its monitor_projects id the shard map's number", async () => {
    const r = await callJson("/projects/mon-placed/api/v1/sessions/", {
      method: "POST",
      json: pluginSession(hex(0x5a)),
    });
    expect(r.status).toBe(201);
    const placed = await env.DB.prepare("SELECT number, shard FROM shard_map WHERE project = 'mon-placed'").first<{
      number: number;
      shard: string;
    }>();
    expect(shardBindings()).toContain(placed?.shard);
    const home = await databaseOf("mon-placed");
    expect(await home.prepare("SELECT id FROM monitor_projects WHERE name = 'mon-placed'").first()).toEqual({
      id: placed?.number,
    });
    expect(
      await home.prepare("SELECT count(*) AS n FROM monitor_sessions WHERE session_h = ?").bind(hex(0x5a)).first(),
    ).toEqual({ n: 1 });
    expect(await rowCount("monitor_sessions", `session_h = '${hex(0x5a)}'`)).toBe(1);
  });
});

describe("re-posting is idempotent and never overwrites", () => {
  it("answers 200 with the stored session when identical and 409 when different", async () => {
    const session = pluginSession(hex(0x51), ciDescription("dev", "7"));
    expect((await post("/sessions", session)).status).toBe(201);
    const again = await post("/sessions", session);
    expect(again.status).toBe(200);
    expect(again.body.session_h).toBe(session.session_h);
    const other = await post("/sessions", { ...session, description: { ...session.description, python: "3.12" } });
    expect(other.status).toBe(409);
    expect(other.body).toEqual({ message: expect.stringContaining(session.session_h) });
    const stored = await get(`/sessions/${session.session_h}`);
    expect(stored.body.sessions[0].tags).toContainEqual({ name: "python", key: "python", value: "3.11" });
  });

  it("answers 200 / 409 for contexts and for metrics", async () => {
    const ctx = pluginContext(hex(0xc7));
    expect((await post("/contexts", ctx)).status).toBe(201);
    expect((await post("/contexts", ctx)).status).toBe(200);
    expect((await post("/contexts", { ...ctx, ram_total: 1 })).status).toBe(409);
    expect((await get(`/contexts/${ctx.h}`)).body.contexts[0].ram_total).toBe(15903);

    const m = pluginMetric({ session_h: hex(0x3e) });
    expect((await post("/metrics", m)).status).toBe(201);
    expect((await post("/metrics", m)).status).toBe(200);
    expect((await post("/metrics", { ...m, total_time: 99 })).status).toBe(409);
    const stored = await get(`/sessions/${hex(0x3e)}/metrics`);
    expect(stored.body.metrics).toEqual([m]);
  });

  it("stores one session when the same post races with itself", async () => {
    const session = pluginSession(hex(0x7ace));
    const before = (await get("/sessions/count")).body.count;
    const statuses = (await Promise.all(Array.from({ length: 8 }, () => post("/sessions", session)))).map(
      (r) => r.status,
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(7);
    expect((await get("/sessions/count")).body.count).toBe(before + 1);
  });
});

describe("bad input is a 400 naming the field, and stores nothing", () => {
  it("names a missing or mistyped field", async () => {
    const { session_h: _, ...noHash } = pluginSession(hex(0xbad1));
    const r = await post("/sessions", noHash);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ errors: { session_h: expect.any(String) }, message: "Input payload validation failed" });

    const ctx = await post("/contexts", { ...pluginContext(hex(0xbad2)), cpu_count: "eight" });
    expect(ctx.status).toBe(400);
    expect(Object.keys(ctx.body.errors)).toEqual(["cpu_count"]);

    const { mem_usage: __, ...noMem } = pluginMetric();
    const m = await post("/metrics", noMem);
    expect(m.status).toBe(400);
    expect(m.body.errors).toHaveProperty("mem_usage");

    const { scm_ref: ___, ...noScm } = pluginSession(hex(0xbad3));
    expect((await post("/sessions", noScm)).body.errors).toHaveProperty("scm_ref");
  });

  it("refuses a description that is not an object of JSON scalars", async () => {
    for (const description of ["a=b", ["a"], { a: { b: 1 } }, { a: [1] }, null]) {
      const r = await post("/sessions", { ...pluginSession(hex(0xbad4)), description });
      expect(r.status, JSON.stringify(description)).toBe(400);
      expect(r.body).toEqual({ message: "Bad description format" });
    }
    expect((await get(`/sessions/${hex(0xbad4)}`)).status).toBe(204);
  });

  it("accepts JSON scalars as description values and shows them as the reference's string tags", async () => {
    const h = hex(0x5ca1);
    const r = await post("/sessions", {
      ...pluginSession(h),
      description: { pipeline_branch: "scalars", pipeline_build_no: 1, fast: true, ratio: 0.5, none: null },
    });
    expect(r.status).toBe(201);
    expect(r.body.tags).toEqual([
      { name: "pipeline_branch", key: "pipeline_branch", value: "scalars" },
      { name: "pipeline_build_no", key: "pipeline_build_no", value: "1" },
      { name: "fast", key: "fast", value: "true" },
      { name: "ratio", key: "ratio", value: "0.5" },
      { name: "none", key: "none", value: null },
    ]);
    expect(
      (
        await post("/sessions", {
          ...pluginSession(h),
          description: { pipeline_branch: "scalars", pipeline_build_no: 1, fast: true, ratio: 0.5, none: null },
        })
      ).status,
    ).toBe(200);
    // The number 1 and the string "1" are different descriptions: nothing stored is overwritten.
    expect(
      (
        await post("/sessions", {
          ...pluginSession(h),
          description: { pipeline_branch: "scalars", pipeline_build_no: "1", fast: true, ratio: 0.5, none: null },
        })
      ).status,
    ).toBe(409);
    expect((await get("/pipelines/scalars/builds")).body.builds).toEqual(["1"]);
    expect(
      (await get("/sessions/?with_flags=fast&restrict_flags=true")).body.sessions.map(
        (s: { session_h: string }) => s.session_h,
      ),
    ).toContain(h);
  });

  it("caps description entries at 64 with a 400 naming the field, storing nothing", async () => {
    const flagsBefore = await rowCount("monitor_session_flags");
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    const r = await post("/sessions", { ...pluginSession(hex(0xca9)), description: many });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      errors: { description: "at most 64 entries" },
      message: "Input payload validation failed",
    });
    expect(await rowCount("monitor_session_flags")).toBe(flagsBefore);
    const { k64: _, ...most } = many;
    expect((await post("/sessions", { ...pluginSession(hex(0xca9)), description: most })).status).toBe(201);
    expect(await rowCount("monitor_session_flags")).toBe(flagsBefore + 64);
  });

  it("caps with_flags and restrict_flags at 32 names with a 400 (D1 binds at most 100 parameters)", async () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `flag${i}`).join(",");
    for (const query of [
      `with_flags=${names(33)}`,
      `with_flags=a&restrict_flags=${names(33)}`,
      `with_tags=${names(60)}`,
      `with_flags=${names(60)}&method=match_all`,
    ]) {
      const r = await get(`/sessions/?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.message, query).toMatch(/at most 32/);
    }
    const h = hex(0xf1a932);
    await post(
      "/sessions",
      pluginSession(h, Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`flag${i}`, `flag${i}`]))),
    );
    for (const method of ["match_any", "match_all"]) {
      const ok = await get(`/sessions/?with_flags=${names(32)}&restrict_flags=${names(32)}&method=${method}`);
      expect(ok.status, method).toBe(200);
      expect(
        ok.body.sessions.map((s: { session_h: string }) => s.session_h),
        method,
      ).toEqual([h]);
    }
  });

  it("answers malformed JSON with a 400 in the dialect", async () => {
    const r = await callJson(`${api}/sessions/`, {
      method: "POST",
      body: '{"session_h": ',
      headers: { "content-type": "application/json" },
    });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ message: expect.stringMatching(/Malformed JSON/) });
  });

  it("stores nothing of a bulk post with one bad or conflicting metric", async () => {
    const before = await rowCount("monitor_metrics");
    const batch = metricsOf(hex(0xb01c), 40);
    const bad = batch.map((m, i) => (i === 33 ? { ...m, cpu_usage: "high" } : m));
    const r = await post("/metrics", bad);
    expect(r.status).toBe(400);
    expect(r.body.errors).toHaveProperty("33.cpu_usage");
    expect(await rowCount("monitor_metrics")).toBe(before);

    expect((await post("/metrics", batch.slice(0, 1))).status).toBe(201);
    const conflicting = batch.map((m, i) => (i === 0 ? { ...m, mem_usage: 1e9 } : m));
    expect((await post("/metrics", conflicting)).status).toBe(409);
    expect(await rowCount("monitor_metrics")).toBe(before + 1);

    const ok = await post("/metrics", batch);
    expect(ok.status).toBe(201);
    expect(ok.body).toEqual({ count: 40 });
    expect(await rowCount("monitor_metrics")).toBe(before + 40);
    expect((await post("/metrics", batch)).status).toBe(200);
    expect(await rowCount("monitor_metrics")).toBe(before + 40);
  });

  it("answers 405 for a method a route lacks and 404 for an unknown route, in the dialect", async () => {
    const r = await callJson(`${api}/sessions/count`, { method: "DELETE" });
    expect(r.status).toBe(405);
    expect(r.body).toEqual({ message: expect.any(String) });
    const nf = await callJson(`${api}/nothing/here/at/all`);
    expect(nf.status).toBe(404);
    expect(nf.body).toEqual({ message: expect.any(String) });
  });
});

describe("counts, lookups and filters", () => {
  it("writes a metric as its row and 5 index entries (6 for a kind other than function), a retry as nothing", async () => {
    const written = (res: Response) =>
      Number(/rows_written=(\d+)/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? NaN);
    const fn = pluginMetric({ session_h: hex(0x6001), item_start_time: "w1" });
    const first = await call(`${api}/metrics/`, { method: "POST", json: fn });
    expect(first.status).toBe(201);
    // The row, the key, context, item, variant, component; and the project's first row of a component name (and its
    // key).
    expect(written(first)).toBeLessThanOrEqual(6 + 2);
    const second = await call(`${api}/metrics/`, { method: "POST", json: { ...fn, item_start_time: "w2" } });
    expect(written(second)).toBe(6);
    const mod = await call(`${api}/metrics/`, {
      method: "POST",
      json: { ...fn, item_start_time: "w3", kind: "module" },
    });
    expect(written(mod)).toBe(7);
    const retry = await call(`${api}/metrics/`, { method: "POST", json: { ...fn, item_start_time: "w2" } });
    expect(retry.status).toBe(200);
    expect(written(retry)).toBe(0);
  });

  it("counts whole collections from the project's newest rowid: a few rows read, nothing kept up to date on insert", async () => {
    const [s, c, m] = await Promise.all(["/sessions/count", "/contexts/count", "/metrics/count"].map((p) => get(p)));
    // The admin token works in project `default`.
    expect(s.body.count).toBe(await rowCount("monitor_sessions", `project_id = ${DEFAULT_ID}`));
    expect(c.body.count).toBe(await rowCount("monitor_contexts", `project_id = ${DEFAULT_ID}`));
    expect(m.body.count).toBe(await rowCount("monitor_metrics", `project_id = ${DEFAULT_ID}`));
    const res = await call(`${api}/metrics/count`);
    // Rows are never deleted and rowids are dense per project: the newest rowid less the
    // project's floor is the count (that row and the project's, looked up by name).
    expect(res.headers.get("server-timing")).toMatch(/queries=1 rows_read=[1-5] rows_written=0/);
  });

  it("counts a key's metrics exactly from its index, also under racing retries", async () => {
    const sh = "c0de0000000000000000000000000c01";
    const batch = metricsOf(sh, 60, { component: "countme" });
    const statuses = (
      await Promise.all([post("/metrics", batch), post("/metrics", batch), post("/metrics", batch.slice(0, 30))])
    ).map((r) => r.status);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 201 || s === 200)).toBe(true);
    const truth = (where: string) => rowCount("monitor_metrics", `project_id = ${DEFAULT_ID} AND ${where}`);
    const checks: Array<[string, string]> = [
      [`/sessions/${sh}/metrics/count`, `session_h = '${sh}'`],
      [`/items/test_3/metrics/count`, `item = 'test_3'`],
      [`/variants/test_3[3]/metrics/count`, `item_variant = 'test_3[3]'`],
      [`/filters/scope/function/metrics/count`, `kind = 'function'`],
      [`/contexts/${batch[0].context_h}/metrics/count`, `context_h = '${batch[0].context_h}'`],
    ];
    for (const [path, where] of checks) {
      const res = await call(`${api}${path}`);
      expect(((await res.json()) as { count: number }).count, path).toBe(await truth(where));
      expect(res.headers.get("server-timing"), path).toMatch(/queries=1 rows_read=\d+ rows_written=0/);
    }
    expect(await truth(`session_h = '${sh}'`)).toBe(60);
  });

  it("treats % and _ literally in prefix and like matches", async () => {
    await post("/sessions", pluginSession("ab%_literal"));
    await post("/sessions", pluginSession("abXYliteral"));
    const hit = await get("/sessions/ab%25_");
    expect(hit.body.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(["ab%_literal"]);
    await post("/metrics", [
      pluginMetric({ session_h: hex(0x11e), item: "test_50%_off" }),
      pluginMetric({ session_h: hex(0x11e), item: "test_50x_off", item_start_time: "t2" }),
    ]);
    const like = await get("/items/like/50%25_/metrics");
    expect(like.body.metrics.map((m: { item: string }) => m.item)).toEqual(["test_50%_off"]);
    expect((await get("/items/like/50%25_/metrics/count")).body).toEqual({ count: 1 });
  });

  it("filters sessions by flags with match_any and match_all", async () => {
    await post("/sessions", pluginSession("f1ag0000000000000000000000000001", { python: "3.11", os: "linux" }));
    await post("/sessions", pluginSession("f1ag0000000000000000000000000002", { python: "3.12", os: "linux" }));
    await post("/sessions", pluginSession("f1ag0000000000000000000000000003", { python: "3.12", os: "" }));
    const hashes = (r: { body: { sessions: Array<{ session_h: string }> } }) =>
      r.body.sessions.map((s) => s.session_h).filter((h) => h.startsWith("f1ag"));
    expect(hashes(await get("/sessions/?with_flags=python&restrict_flags=3.12"))).toEqual([
      "f1ag0000000000000000000000000002",
      "f1ag0000000000000000000000000003",
    ]);
    expect(hashes(await get("/sessions/?with_flags=python,os&restrict_flags=3.12&method=match_all"))).toEqual([
      "f1ag0000000000000000000000000002",
    ]);
    expect(hashes(await get("/sessions/?with_flags=python,os&restrict_flags=3.11,linux&method=match_any"))).toEqual([
      "f1ag0000000000000000000000000001",
      "f1ag0000000000000000000000000002",
    ]);
  });

  it("serves items, variants, scopes, scm filters and components", async () => {
    const sh = "5c000000000000000000000000000001";
    await post("/sessions", { ...pluginSession(sh), scm_ref: "feedbeef1234" });
    await post("/metrics", [
      pluginMetric({ session_h: sh, item: "test_a", item_variant: "test_a[x]", kind: "function", component: "auth" }),
      pluginMetric({
        session_h: sh,
        item: "test_b",
        item_variant: "test_b[y]",
        kind: "module",
        component: "auth",
        item_start_time: "t2",
      }),
      pluginMetric({
        session_h: sh,
        item: "test_a",
        item_variant: "test_a[z]",
        kind: "function",
        component: "billing",
        item_start_time: "t3",
      }),
    ]);
    const items = (r: { body: { metrics: Array<{ item_variant: string }> } }) =>
      r.body.metrics.map((m) => m.item_variant);
    expect(items(await get("/items/test_a/metrics"))).toEqual(expect.arrayContaining(["test_a[x]", "test_a[z]"]));
    expect(items(await get("/variants/test_b[y]/metrics"))).toEqual(["test_b[y]"]);
    expect(items(await get("/variants/like/_a[/metrics"))).toEqual(expect.arrayContaining(["test_a[x]", "test_a[z]"]));
    expect(items(await get("/filters/scm/feedbeef/metrics"))).toEqual(["test_a[x]", "test_b[y]", "test_a[z]"]);
    expect((await get("/filters/scm/feedbeef/metrics/count")).body).toEqual({ count: 3 });
    expect(
      (await get("/filters/scm/feedbeef/sessions")).body.sessions.map((s: { session_h: string }) => s.session_h),
    ).toEqual([sh]);
    expect(items(await get("/filters/scope/module/metrics"))).toContain("test_b[y]");
    expect(items(await get("/components/auth/metrics"))).toEqual(["test_a[x]", "test_b[y]"]);
    expect(items(await get("/components/auth/items/test_b/metrics"))).toEqual(["test_b[y]"]);
    expect(items(await get("/components/billing/variants/test_a[z]/metrics"))).toEqual(["test_a[z]"]);
    const comps = await get("/components/");
    expect(comps.body.components).toEqual(expect.arrayContaining(["auth", "billing"]));
    // As the reference (skip_none): absent links are left out of the components list.
    expect(comps.body).toEqual({ components: expect.any(Array), total_page: 1 });
    expect((await get("/components/bil")).body.components).toEqual(["billing"]);
    expect((await get("/components/count")).body.count).toBe(
      await rowCount("monitor_components", `project_id = ${DEFAULT_ID}`),
    );
  });

  it("lists pipelines, builds and their sessions, also by component", async () => {
    await post("/sessions", pluginSession("919e0000000000000000000000000001", ciDescription("release", "10")));
    await post("/sessions", pluginSession("919e0000000000000000000000000002", ciDescription("release", "9")));
    await post("/sessions", pluginSession("919e0000000000000000000000000003", ciDescription("release", "10")));
    await post("/metrics", pluginMetric({ session_h: "919e0000000000000000000000000002", component: "pipecomp" }));
    expect((await get("/pipelines/")).body.pipelines).toContain("release");
    const builds = await get("/pipelines/release/builds");
    expect(builds.body).toEqual({
      pipeline: "release",
      builds: ["10", "9"],
      total_page: 1,
      prev_url: null,
      next_url: null,
    });
    const sessionsOf10 = await get("/pipelines/release/builds/10/sessions");
    expect(sessionsOf10.body).toEqual({
      pipeline: "release",
      build: "10",
      sessions: ["919e0000000000000000000000000001", "919e0000000000000000000000000003"],
      total_page: 1,
      prev_url: null,
      next_url: null,
    });
    expect((await get("/components/pipecomp/pipelines")).body).toEqual({
      component: "pipecomp",
      pipelines: ["release"],
      total_page: 1,
      prev_url: null,
      next_url: null,
    });
    expect((await get("/components/pipecomp/pipelines/release/builds")).body).toEqual({
      component: "pipecomp",
      pipeline: "release",
      builds: ["9"],
      total_page: 1,
      prev_url: null,
      next_url: null,
    });
    expect((await get("/components/pipecomp/pipelines/release/builds/9/sessions")).body).toEqual({
      component: "pipecomp",
      pipeline: "release",
      build: "9",
      sessions: ["919e0000000000000000000000000002"],
      total_page: 1,
      prev_url: null,
      next_url: null,
    });
    // Empty envelopes answer 200 with an empty list, as the reference does (its envelope is never empty).
    expect((await get("/pipelines/nowhere/builds")).body).toEqual({
      pipeline: "nowhere",
      builds: [],
      total_page: 0,
      prev_url: null,
      next_url: null,
    });
  });

  it("returns the head and tail of each resource, in every scope", async () => {
    const sh = "4e5000000000000000000000000000aa";
    await post("/sessions", pluginSession(sh, ciDescription("res", "1")));
    await post("/metrics", metricsOf(sh, 30, { component: "rescomp" }));
    const head = await get("/resources/memory/components/rescomp/head/3/metrics");
    expect(head.status).toBe(200);
    expect(head.body.metrics.map((m: { mem_usage: number }) => m.mem_usage)).toEqual([
      29 * 1.5 - 3,
      28 * 1.5 - 3,
      27 * 1.5 - 3,
    ]);
    const tail = await get("/resources/total_time/pipelines/res/builds/1/tail/2/metrics");
    expect(tail.body.metrics.map((m: { total_time: number }) => m.total_time)).toEqual([0, 0.1]);
    expect((await get("/resources/cpu/pipelines/res/head/metrics")).body.metrics).toHaveLength(10);
    // The scope comes after the resource, as in the reference: the other order is not a route.
    expect((await get("/components/rescomp/resources/memory/head/3/metrics")).status).toBe(404);
    const all = await get("/resources/user_time/head/1/metrics");
    expect(all.body.metrics).toHaveLength(1);
    const bad = await get("/resources/disk/head/metrics");
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/memory, cpu, kernel_time, user_time, total_time/);
    expect((await get("/resources/memory/head/0/metrics")).status).toBe(400);
  });
});

describe("paging at the default size of 500", () => {
  it("pages 1201 metrics of a session as 500/500/201 with links that keep the route", async () => {
    const sh = "9a9e0000000000000000000000000500";
    const all = metricsOf(sh, 1201);
    for (let i = 0; i < all.length; i += 1000)
      expect((await post("/metrics", all.slice(i, i + 1000))).status).toBe(201);
    const p1 = await get(`/sessions/${sh}/metrics`);
    expect(p1.body.total_page).toBe(3);
    expect(p1.body.metrics).toHaveLength(500);
    expect(p1.body).not.toHaveProperty("prev_url");
    // The link carries a keyset step: the rows after the page's last one, and the page count.
    expect(p1.body.next_url).toMatch(new RegExp(`^${api}/sessions/${sh}/metrics\\?page=2&cursor=a\\d+\\.3$`));
    const p2 = await call(p1.body.next_url);
    const p2body = (await p2.json()) as { metrics: unknown[]; next_url: string; prev_url: string; total_page: number };
    expect(p2body.metrics).toEqual(all.slice(500, 1000));
    expect(p2body.total_page).toBe(3);
    // Following a link reads the session's metrics (its key prefix, sorted: a session's own
    // rows, not the table's), never the count.
    expect(rowsRead(p2)).toBeGreaterThan(500);
    expect(rowsRead(p2)).toBeLessThanOrEqual(2 * 1201 + 20);
    const p3 = await get(p2body.next_url.slice(api.length));
    expect(p3.body.metrics).toEqual(all.slice(1000));
    expect(p3.body).not.toHaveProperty("next_url");
    const back = await get(p3.body.prev_url.slice(api.length));
    expect(back.body.metrics).toEqual(all.slice(500, 1000));
    expect(back.body.prev_url).toMatch(/page=1&cursor=b\d+\.3$/);
    expect((await get(back.body.prev_url.slice(api.length))).body.metrics).toEqual(all.slice(0, 500));
    const last = await get(`/sessions/${sh}/metrics?page=-1`);
    expect(last.body.metrics).toHaveLength(201);
    expect(last.body.metrics[200]).toEqual(all[1200]);
    expect(last.body.prev_url).toMatch(new RegExp(`^${api}/sessions/${sh}/metrics\\?page=2&cursor=b\\d+\\.3$`));
    expect(last.body).not.toHaveProperty("next_url");
    expect((await get(`/sessions/${sh}/metrics?page=-2`)).body.metrics).toEqual(all.slice(500, 1000));
    expect((await get(`/sessions/${sh}/metrics?cursor=x1.2`)).status).toBe(400);
    expect((await get(`/metrics/?cursor=a1.2`)).status).toBe(400);
    expect((await get(`/sessions/${sh}/metrics?page=4`)).status).toBe(404);
    expect((await get(`/sessions/${sh}/metrics?page=-4`)).status).toBe(404);
    expect((await get(`/sessions/${sh}/metrics?page=two`)).status).toBe(400);
  });
});

describe("every non-like filter is served by an index, within the project's rows", () => {
  const plan = async (sql: string) =>
    (await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).all<{ detail: string }>()).results
      .map((r) => r.detail)
      .join(" | ");
  // The project's rowid range as the listings write it (src/monitor/projects.ts).
  const P = "(SELECT id FROM monitor_projects WHERE name = 'default')";
  const range = `seq > ${P} * 1099511627776 AND seq < ${P} * 1099511627776 + 1099511627776`;
  const cases: Array<[string, string, RegExp]> = [
    [
      "session metrics (the key's prefix, sorted: a session's own rows)",
      `SELECT * FROM monitor_metrics WHERE project_id = ${P} AND session_h = 'x' ORDER BY seq LIMIT 500`,
      /USING INDEX monitor_metrics_project_key \(project_id=\? AND session_h=\?\)/,
    ],
    [
      "context metrics",
      `SELECT * FROM monitor_metrics WHERE context_h = 'x' AND ${range} ORDER BY seq`,
      /USING INDEX monitor_metrics_context \(context_h=\? AND rowid>\? AND rowid<\?\)/,
    ],
    [
      "item",
      `SELECT count(*) FROM monitor_metrics WHERE item = 'x' AND ${range}`,
      /USING (COVERING )?INDEX monitor_metrics_item/,
    ],
    [
      "variant",
      `SELECT * FROM monitor_metrics WHERE item_variant = 'x' AND ${range} ORDER BY seq`,
      /USING INDEX monitor_metrics_variant/,
    ],
    [
      "a kind other than function (the partial index)",
      `SELECT * FROM monitor_metrics WHERE monitor_metrics.kind = 'module' AND monitor_metrics.kind <> 'function' AND ${range} ORDER BY seq`,
      /USING INDEX monitor_metrics_kind \(kind=\? AND rowid>\? AND rowid<\?\)/,
    ],
    [
      "kind function (the project's rowid range, in order)",
      `SELECT * FROM monitor_metrics WHERE kind = 'function' AND ${range} ORDER BY seq LIMIT 501`,
      /USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/,
    ],
    [
      "component",
      `SELECT * FROM monitor_metrics WHERE component = 'x' AND ${range} ORDER BY seq LIMIT 500`,
      /USING INDEX monitor_metrics_component \(/,
    ],
    [
      "capped count of a key's metrics",
      `SELECT count(*) FROM (SELECT 1 FROM monitor_metrics WHERE component = 'x' AND ${range} LIMIT 10001)`,
      /USING COVERING INDEX monitor_metrics_component \(component=\? AND rowid>\? AND rowid<\?\)/,
    ],
    [
      "keyset step",
      `SELECT * FROM monitor_metrics WHERE item = 'x' AND seq > max(1000, ${P} * 1099511627776) AND seq < ${P} * 1099511627776 + 1099511627776 ORDER BY seq LIMIT 501`,
      /USING INDEX monitor_metrics_item \(item=\? AND rowid>\? AND rowid<\?\)/,
    ],
    [
      "component item (the item's range, filtered)",
      `SELECT * FROM monitor_metrics WHERE item = 'y' AND +component = 'x' AND ${range}`,
      /USING INDEX monitor_metrics_item/,
    ],
    [
      "session prefix",
      `SELECT * FROM monitor_sessions WHERE project_id = ${P} AND session_h >= 'ab' AND session_h < 'ac'`,
      /USING INDEX monitor_sessions_project_h/,
    ],
    [
      "scm prefix",
      `SELECT * FROM monitor_sessions WHERE project_id = ${P} AND scm_ref >= 'ab' AND scm_ref < 'ac'`,
      /USING INDEX monitor_sessions_project_scm/,
    ],
    [
      "build sessions",
      `SELECT * FROM monitor_sessions WHERE project_id = ${P} AND pipeline_branch = 'a' AND pipeline_build_no = 'b'`,
      /USING INDEX monitor_sessions_project_pipeline/,
    ],
    [
      "builds of a pipeline, in order",
      `SELECT build_no FROM monitor_builds WHERE project_id = ${P} AND branch = 'a' ORDER BY seq LIMIT 500`,
      /USING INDEX monitor_builds_project_branch/,
    ],
    [
      "flags",
      "SELECT session_seq FROM monitor_session_flags WHERE name = 'a' AND value = 'b' AND session_seq > 0 AND session_seq < 1099511627776",
      /USING COVERING INDEX monitor_session_flags_pk/,
    ],
    [
      "whole-collection page",
      `SELECT * FROM monitor_metrics WHERE seq > ${P} * 1099511627776 + max(1000, 0) AND seq <= ${P} * 1099511627776 + 1000 + 500 ORDER BY seq`,
      /USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/,
    ],
    [
      "pipeline metrics (its newest sessions, by the key's prefix)",
      `SELECT * FROM monitor_metrics WHERE project_id = ${P} AND session_h IN (SELECT session_h FROM monitor_sessions WHERE project_id = ${P} AND pipeline_branch = 'p' ORDER BY seq DESC LIMIT 100)`,
      /monitor_metrics_project_key.*monitor_sessions_project_pipeline|monitor_sessions_project_pipeline.*monitor_metrics_project_key/,
    ],
  ];
  for (const [name, sql, expected] of cases) {
    it(name, async () => {
      const detail = await plan(sql);
      expect(detail).toMatch(expected);
      // A scan is of an index (or of a subquery's own rows, for the capped count).
      for (const step of detail.split(" | ").filter((d) => d.startsWith("SCAN") && !d.startsWith("SCAN (subquery"))) {
        expect(step).toMatch(/USING/);
      }
    });
  }
});
