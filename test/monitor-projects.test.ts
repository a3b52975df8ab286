// Projects of the test-run monitor (docs/api/monitor.md, "Projects"): a user token reads and
// writes only within its projects, through every route; the admin reaches any project by path.
import { beforeAll, describe, expect, it } from "vitest";
import { call, callJson, mintToken } from "./helpers/http";
import { metricsOf, pluginContext, pluginSession } from "./helpers/monitor";

const api = "/api/v1";
let alice: string; // project pa
let bob: string; // project pb
let both: string; // pa and pb
let nobody: string; // no project

const CTX = "c7c7c7c7000000000000000000000001";
const SESSION_A = [
  "5a000000000000000000000000000001",
  "5a000000000000000000000000000002",
  "5a000000000000000000000000000003",
];
/** Alice's tests all carry "alpha" in their names; nothing of hers may show up in Bob's answers. */
const alphaMetrics = (h: string) =>
  metricsOf(h, 6, { context_h: CTX, component: "alphacomp" }).map((m, i) => ({
    ...m,
    item: `alpha_${i % 2}`,
    item_variant: `alpha_${i % 2}[${i}]`,
    item_path: "tests.alpha",
  }));

const as = (token: string, path: string, init: Parameters<typeof callJson>[1] = {}) =>
  callJson(path, { ...init, token });
const post = (token: string, path: string, json: unknown) => as(token, `${api}${path}`, { method: "POST", json });

beforeAll(async () => {
  alice = (await mintToken({ user: "alice", role: "user", projects: ["pa"] })).token;
  bob = (await mintToken({ user: "bob", role: "user", projects: ["pb"] })).token;
  both = (await mintToken({ user: "carol", role: "user", projects: ["pa", "pb"] })).token;
  nobody = (await mintToken({ user: "dave", role: "user", projects: [] })).token;
  // Alice: a context, three sessions of pipeline main (builds 1..3), each with alpha metrics.
  expect((await post(alice, "/contexts/", pluginContext(CTX))).status).toBe(201);
  for (const [i, h] of SESSION_A.entries()) {
    const s = await post(alice, "/sessions/", {
      ...pluginSession(h, { pipeline_branch: "main", pipeline_build_no: String(i + 1) }),
      scm_ref: `abcabc${i}`,
    });
    expect(s.status).toBe(201);
    expect((await post(alice, "/metrics/", alphaMetrics(h))).status).toBe(201);
  }
});

describe("a user token works within its projects", () => {
  it("keeps the same hashes apart: Bob's posts of Alice's keys are his own records", async () => {
    // Same context hash, same session hash, same metric keys: stored in pb, Alice's untouched.
    expect((await post(bob, "/contexts/", { ...pluginContext(CTX), machine_node: "bob-box" })).status).toBe(201);
    const s = await post(
      bob,
      "/sessions/",
      pluginSession(SESSION_A[0], { pipeline_branch: "main", pipeline_build_no: "1" }),
    );
    expect(s.status).toBe(201);
    const mine = metricsOf(SESSION_A[0], 2, { context_h: CTX, item: "beta", item_variant: "beta" });
    expect((await post(bob, "/metrics/", mine)).status).toBe(201);
    // Alice still sees her own context and session exactly as she posted them.
    const ctx = await as(alice, `${api}/contexts/${CTX}`);
    expect(ctx.body.contexts).toEqual([{ ...pluginContext(CTX), cpu_frequency: 2712 }]);
    const sessions = await as(alice, `${api}/sessions/${SESSION_A[0]}`);
    expect(sessions.body.sessions[0].tags).toContainEqual({
      name: "pipeline_build_no",
      key: "pipeline_build_no",
      value: "1",
    });
    expect(sessions.body.sessions[0].scm_ref).toBe("abcabc0");
    expect((await as(alice, `${api}/sessions/${SESSION_A[0]}/metrics/count`)).body).toEqual({ count: 6 });
    expect((await as(bob, `${api}/sessions/${SESSION_A[0]}/metrics/count`)).body).toEqual({ count: 2 });
  });

  it("never shows another project's data through any read route", async () => {
    // Bob has data of his own (the test above may not have run: post it again, idempotently).
    await post(bob, "/sessions/", pluginSession(SESSION_A[0], { pipeline_branch: "main", pipeline_build_no: "1" }));
    await post(bob, "/metrics/", metricsOf(SESSION_A[0], 2, { context_h: CTX, item: "beta", item_variant: "beta" }));
    const reads = [
      "/sessions/",
      "/sessions/?with_flags=pipeline_branch&restrict_flags=main",
      `/sessions/${SESSION_A[1]}`,
      `/sessions/${SESSION_A[1]}/metrics`,
      "/sessions/5a",
      "/contexts/",
      `/contexts/${CTX}/metrics`,
      "/metrics/",
      "/metrics/?page=-1",
      "/items/alpha_0/metrics",
      "/items/like/alpha/metrics",
      "/variants/alpha_0[0]/metrics",
      "/variants/like/alpha/metrics",
      "/filters/scm/abcabc/sessions",
      "/filters/scm/abcabc/metrics",
      "/filters/scope/function/metrics",
      "/components/",
      "/components/alphacomp/metrics",
      "/components/alphacomp/items/alpha_0/metrics",
      "/components/alphacomp/pipelines",
      "/pipelines/",
      "/pipelines/main/builds",
      "/pipelines/main/builds/2/sessions",
      "/components/alphacomp/pipelines/main/builds",
      "/resources/memory/head/500/metrics",
      "/resources/cpu/tail/500/metrics",
      "/resources/memory/components/alphacomp/head/metrics",
      "/resources/memory/pipelines/main/head/500/metrics",
      "/resources/memory/pipelines/main/builds/2/head/metrics",
      `/sessions/${SESSION_A[2]}/regressions`,
      `/sessions/${SESSION_A[0]}/regressions`,
      `/sessions/${SESSION_A[1]}/compare/${SESSION_A[2]}`,
    ];
    for (const path of reads) {
      const res = await call(`${api}${path}`, { token: bob });
      expect(res.status, path).toBeLessThan(500);
      // The envelopes echo the path's own names (component, pipeline, build), a 404 the hash asked for: not data.
      const body = res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>);
      const { component: _c, pipeline: _p, build: _b, message: _m, ...data } = body;
      const text = JSON.stringify(data);
      expect(text, path).not.toMatch(/alpha|abcabc|5a000000000000000000000000000002|5a000000000000000000000000000003/);
    }
    // Another project's session is unknown here.
    expect((await as(bob, `${api}/sessions/${SESSION_A[2]}/regressions`)).status).toBe(404);
    expect((await as(bob, `${api}/sessions/${SESSION_A[1]}/compare/${SESSION_A[2]}`)).status).toBe(404);
    // Counts: Bob's only.
    for (const [path, n] of [
      ["/metrics/count", 2],
      ["/sessions/count", 1],
      ["/contexts/count", 1],
      ["/items/alpha_0/metrics/count", 0],
      ["/components/count", 1],
    ] as const) {
      expect((await as(bob, `${api}${path}`)).body, path).toEqual({ count: n });
    }
    // CSV answers the same rows.
    const csv = await call(`${api}/metrics/`, { token: bob, headers: { Accept: "text/csv" } });
    expect(await csv.text()).not.toContain("alpha");
    // Alice's own reads still see her data.
    expect((await as(alice, `${api}/items/alpha_0/metrics/count`)).body).toEqual({ count: 9 });
  });

  it("keeps another project's sessions out of a regression baseline", async () => {
    // Bob posts many sessions on Alice's branch name: her verdict's baseline stays hers.
    for (let i = 0; i < 4; i++) {
      const h = `5b00000000000000000000000000000${i}`;
      await post(bob, "/sessions/", pluginSession(h, { pipeline_branch: "main", pipeline_build_no: `9${i}` }));
      await post(
        bob,
        "/metrics/",
        alphaMetrics(h).map((m) => ({ ...m, total_time: 99 })),
      );
    }
    const r = await as(alice, `${api}/sessions/${SESSION_A[2]}/regressions`);
    expect(r.status).toBe(200);
    expect(r.body.baseline.sessions.map((s: { session_h: string }) => s.session_h)).toEqual([
      SESSION_A[1],
      SESSION_A[0],
    ]);
    expect(r.body.summary.regressions).toBe(0);
  });

  it("refuses a project the token does not have, a token without one, and asks a token with several to name one", async () => {
    const other = await as(bob, `/projects/pa${api}/sessions/`);
    expect(other.status).toBe(403);
    expect(other.body).toEqual({ message: "This token may not use project pa" });
    const write = await as(bob, `/projects/pa${api}/sessions/`, {
      method: "POST",
      json: pluginSession("5bad0000000000000000000000000001"),
    });
    expect(write.status).toBe(403);
    expect((await as(alice, `${api}/sessions/5bad0000000000000000000000000001`)).status).toBe(204);

    const none = await as(nobody, `${api}/sessions/count`);
    expect(none.status).toBe(403);
    expect(none.body.message).toMatch(/no project/);

    const several = await as(both, `${api}/sessions/count`);
    expect(several.status).toBe(400);
    expect(several.body.message).toMatch(/several projects \(pa, pb\).*\/projects\/<project>\/api\/v1/);
    const named = await as(both, `/projects/pa${api}/sessions/count`);
    expect(named.body).toEqual({ count: 3 });
    // A path that names its only project works as well as the bare one.
    expect((await as(alice, `/projects/pa${api}/sessions/count`)).body).toEqual({ count: 3 });
  });

  it("lets the admin reach every project by path, and `default` without one", async () => {
    const pa = await callJson(`/projects/pa${api}/items/alpha_1/metrics/count`);
    expect(pa.body).toEqual({ count: 9 });
    const inDefault = await callJson(`${api}/items/alpha_1/metrics/count`);
    expect(inDefault.body).toEqual({ count: 0 });
    // Links keep the project's path.
    const page = await callJson(`/projects/pa${api}/sessions/?page=1`);
    expect(page.body.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(SESSION_A);
  });
});

describe("GET /index.html, as the reference serves it", () => {
  it("shows the project's counts of metrics, sessions and contexts where the reference's test reads them", async () => {
    const base = `/projects/idx${api}`;
    expect((await callJson(`${base}/contexts/`, { method: "POST", json: pluginContext(CTX) })).status).toBe(201);
    for (let s = 0; s < 3; s++) {
      const h = `1d${s}`.padEnd(32, "0");
      expect((await callJson(`${base}/sessions/`, { method: "POST", json: pluginSession(h) })).status).toBe(201);
      expect(
        (await callJson(`${base}/metrics/`, { method: "POST", json: metricsOf(h, 100, { context_h: CTX }) })).status,
      ).toBe(201);
    }
    const res = await call("/projects/idx/index.html");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const text = await res.text();
    // The reference's test_index: lines 101 to 115, stripped and joined, hold >300<, >3< and >1<.
    const stats = text
      .split("\n")
      .slice(100, 115)
      .map((l) => l.trim())
      .join(" ");
    expect(stats).toContain(">300<");
    expect(stats).toContain(">3<");
    expect(stats).toContain(">1<");
    // A user token sees its own project's counts; no token is a 401.
    expect(await (await call("/index.html", { token: alice })).text()).toMatch(/Metrics <span class="badge">18</);
    expect((await call("/index.html", { token: null })).status).toBe(401);
  });
});
