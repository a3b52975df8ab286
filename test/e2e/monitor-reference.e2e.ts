import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "./server";

// The pytest-monitor reference server's own test scenarios (CFMTech/monitor-server-api,
// tests/test_monitor_*.py, run with a page size of 5), told in our words and driven over
// HTTP against a `wrangler dev` of its own started with MONITOR_PAGE_SIZE=5.
const PAGE = 5;
let server: DevServer;
const V1 = "/api/v1";

async function call(path: string, json?: unknown, method = json === undefined ? "GET" : "POST") {
  const res = await fetch(`${server.baseUrl}${path.startsWith(V1) ? path : V1 + path}`, {
    method,
    headers: { Authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, timing: res.headers.get("server-timing") ?? "" };
}
const get = (path: string) => call(path);

/** A GET carrying a JSON body, as Flask's test client sends `get(url, json=…)` (fetch refuses GET bodies). */
function getWithBody(path: string, json: unknown) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const data = JSON.stringify(json);
    const url = new URL(`${server.baseUrl}${V1}${path}`);
    const req = request(
      url,
      {
        method: "GET",
        headers: {
          Authorization: `Bearer ${server.adminToken}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(data),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

// Generators shaped like the reference's conftest: random hashes, one metric per POST.
let n = 0;
const unique = (prefix: string) =>
  `${prefix}${(++n).toString(16).padStart(8, "0")}${Math.random().toString(16).slice(2, 10)}`;
const newContext = () => ({
  h: unique("ctx"),
  cpu_count: 8,
  cpu_frequency: 2400,
  cpu_type: "x86_64",
  cpu_vendor: "GenuineIntel",
  ram_total: 16000,
  machine_node: "node.example",
  machine_type: "x86",
  machine_arch: "64 bits",
  system_info: "Linux",
  python_info: "3.11",
});
const newSession = (description: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => ({
  session_h: unique("s"),
  run_date: new Date().toISOString(),
  scm_ref: unique("scm"),
  description: { python: "py311", pipeline_branch: unique("branch"), pipeline_build_no: "1", ...description },
  ...over,
});
const ciSession = (pipeline: string, build: string | number) =>
  newSession({ pipeline_branch: pipeline, pipeline_build_no: build, __ci__: pipeline.split(":")[0] });
const newMetric = (ctx: { h: string }, session: { session_h: string }, over: Record<string, unknown> = {}) => {
  const item = unique("test_");
  return {
    session_h: session.session_h,
    context_h: ctx.h,
    item_start_time: `${new Date().toISOString()}#${++n}`,
    item_path: "pkg.module",
    item,
    item_variant: item,
    item_fs_loc: "pkg/module.py",
    kind: "function",
    component: unique("comp"),
    total_time: Math.random() * 100,
    user_time: Math.random() * 50,
    kernel_time: Math.random() * 10,
    cpu_usage: Math.random() * 30,
    mem_usage: Math.random() * 1000,
    ...over,
  };
};
async function post(path: string, ...bodies: unknown[]) {
  for (const b of bodies) expect((await call(path, b)).status, JSON.stringify(b).slice(0, 120)).toBe(201);
}

/** Follows `next_url` from a first page to the end, as the reference's tests and client do. */
async function follow(path: string, key: string) {
  const pages: any[] = [];
  let next: string | undefined = path;
  while (next) {
    const page = await get(next);
    expect(page.status, next).toBe(200);
    pages.push(page);
    next = page.body.next_url ?? undefined;
  }
  return { pages, items: pages.flatMap((p) => p.body[key]) };
}

beforeAll(async () => {
  server = await startDevServer({ MONITOR_PAGE_SIZE: String(PAGE) });
}, 180_000);
afterAll(() => server?.stop());

describe("an empty store", () => {
  it("answers 204 with no body for every list, and counts of 0", async () => {
    for (const list of ["/components/", "/contexts/", "/metrics/", "/pipelines/", "/sessions/"]) {
      const r = await get(list);
      expect(r.status, list).toBe(204);
      expect(r.body, list).toBeNull();
    }
    for (const count of ["/components/count", "/contexts/count", "/metrics/count", "/sessions/count"]) {
      expect((await get(count)).body, count).toEqual({ count: 0 });
    }
  });

  it("serves its API description at /api/v1/swagger.json without a token", async () => {
    const res = await fetch(`${server.baseUrl}${V1}/swagger.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      swagger: string;
      basePath: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc).not.toEqual({ error: "Unable to render schema" });
    expect(doc.swagger).toBe("2.0");
    expect(doc.basePath).toBe(V1);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/sessions",
        "/pipelines/{p}/builds/{b}/sessions",
        "/resources/{r}/components/{c}/{end}/metrics",
      ]),
    );
    expect(doc.paths["/metrics"]).toHaveProperty("post");
  });
});

describe("sessions", () => {
  it("posts and reads back a session, with tags named as in its description", async () => {
    const s = newSession({}, { scm_ref: "deadmeet" });
    const created = await call("/sessions/", s);
    expect(created.status).toBe(201);
    expect(created.body.tags.map((t: { name: string; value: string }) => [t.name, t.value])).toEqual(
      Object.entries(s.description),
    );
    expect((await get(`/sessions/${s.session_h}`)).body.sessions[0]).toMatchObject({
      session_h: s.session_h,
      run_date: s.run_date,
      scm_ref: "deadmeet",
    });
    expect((await call("/sessions/", { ...newSession(), description: ["bc", "def"] })).status).toBe(400);
  });

  it("finds sessions by hash prefix, by flags (any / all) and by SCM reference", async () => {
    await post(
      "/sessions/",
      newSession({}, { session_h: "deadmeet" }),
      newSession({ wanted_flags: "some" }, { session_h: "deadbeef" }),
      newSession({ some_flags: "value" }, { session_h: "badcoffee" }),
    );
    const dead = await get("/sessions/dead");
    expect(dead.status).toBe(200);
    expect(dead.body.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(["deadmeet", "deadbeef"]);
    expect(dead.body).not.toHaveProperty("next_url");
    expect(dead.body).not.toHaveProperty("prev_url");
    expect((await get("/sessions/foo")).status).toBe(204);
    const hashes = (r: { body: { sessions: Array<{ session_h: string }> } }) => r.body.sessions.map((s) => s.session_h);
    expect(
      hashes(await get("/sessions/?method=match_any&with_flags=wanted_flags,some_flags&restrict_flags=some")),
    ).toEqual(["deadbeef", "badcoffee"]);
    expect(hashes(await get("/sessions/?with_flags=wanted_flags,some_flags&restrict_flags=some"))).toEqual([
      "deadbeef",
      "badcoffee",
    ]);
    expect(
      hashes(await get("/sessions/?method=match_all&with_flags=wanted_flags,pipeline_branch&restrict_flags=some")),
    ).toEqual(["deadbeef"]);

    const wanted: string[] = [];
    for (let i = 1; i < 8; i++) {
      for (let j = 0; j < i; j++) {
        const s = newSession({}, { scm_ref: `deadbeef${i}` });
        if (i === 5) wanted.push(s.session_h);
        await post("/sessions/", s);
      }
    }
    const scm = await get("/filters/scm/deadbeef5/sessions");
    expect(hashes(scm)).toEqual(wanted);
  });
});

describe("contexts", () => {
  it("lists a context by prefix exactly as it was posted (the reference's test_contexts_get), and counts its metrics", async () => {
    const [c1, c2] = [newContext(), newContext()];
    await post("/contexts/", c1, c2);
    const found = await get(`/contexts/${c1.h.slice(0, 12)}`);
    expect(found.body.contexts[0]).toEqual(c1);
    const s = newSession();
    for (let i = 0; i < 5; i++) await post("/metrics/", newMetric(c1, s, { item: `item_c1_${i}` }));
    for (let i = 0; i < 3; i++) await post("/metrics/", newMetric(c2, s, { item: `item_c2_${i}` }));
    expect((await get(`/contexts/${c1.h + c2.h}/metrics`)).status).toBe(204);
    const metrics = await get(`/contexts/${c1.h}/metrics`);
    expect(metrics.body.metrics.map((m: { item: string }) => m.item)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `item_c1_${i}`),
    );
    expect((await get(`/contexts/${c1.h + c2.h}/metrics/count`)).body).toEqual({ count: 0 });
    expect((await get(`/contexts/${c1.h}/metrics/count`)).body).toEqual({ count: 5 });
  });
});

describe("one pipeline with several builds", () => {
  it("lists pipelines, builds by pages of 5 with the reference's envelopes, and each build's session hashes", async () => {
    const pipelines = ["circleci:monitor", "jenkinsci:monitor"];
    const circleBuilds: string[] = [];
    const sessionsOf = new Map<string, string[]>();
    for (let b = 1; b <= 10; b++) {
      const build = String(987654321 + b);
      circleBuilds.push(build);
      const perBuild = b >= 6 ? 3 : 2;
      for (let k = 0; k < perBuild; k++) {
        const s = ciSession(pipelines[0], build);
        await post("/sessions/", s);
        sessionsOf.set(build, [...(sessionsOf.get(build) ?? []), s.session_h]);
      }
    }
    // Numbers are JSON scalars the reference accepts as a build number.
    for (let b = 1; b <= 10; b++) await post("/sessions/", ciSession(pipelines[1], b));

    const all = await get("/pipelines/");
    expect(all.body.pipelines).toEqual(expect.arrayContaining(pipelines));
    expect(Object.keys(all.body)).toEqual(["pipelines"]);

    const p1 = await get("/pipelines/circleci:monitor/builds");
    expect(p1.body).toEqual({
      pipeline: "circleci:monitor",
      builds: circleBuilds.slice(0, 5),
      next_url: `${V1}/pipelines/circleci:monitor/builds?page=2`,
      prev_url: null,
      total_page: 2,
    });
    const p2 = await get(p1.body.next_url);
    expect(p2.body).toEqual({
      pipeline: "circleci:monitor",
      builds: circleBuilds.slice(5),
      next_url: null,
      prev_url: `${V1}/pipelines/circleci:monitor/builds?page=1`,
      total_page: 2,
    });
    expect((await get("/pipelines/jenkinsci:monitor/builds?page=2")).body.builds).toEqual(["6", "7", "8", "9", "10"]);

    for (const build of ["987654323", "987654329"]) {
      expect((await get(`/pipelines/circleci:monitor/builds/${build}/sessions`)).body).toEqual({
        pipeline: "circleci:monitor",
        build,
        sessions: sessionsOf.get(build),
        next_url: null,
        prev_url: null,
        total_page: 1,
      });
    }
    expect((await get("/pipelines/jenkinsci:monitor/builds/7/sessions")).body.sessions).toHaveLength(1);
  });
});

describe("components", () => {
  it("lists components, by prefix, counts them and serves their metrics", async () => {
    const [c, s] = [newContext(), newSession()];
    for (const i of "ABC") await post("/metrics/", newMetric(c, s, { component: `component_${i}`, item: `item_${i}` }));
    await post(
      "/metrics/",
      newMetric(c, s, { component: "another_component", item: "another_item" }),
      newMetric(c, s, { component: "another_component", item: "another_item" }),
    );
    expect((await get("/components/BAD")).status).toBe(204);
    const prefixed = await get("/components/component_");
    expect(prefixed.body).toEqual({ components: ["component_A", "component_B", "component_C"], total_page: 1 });
    expect((await get("/components/count")).body.count).toBeGreaterThanOrEqual(4);
    expect((await get("/components/BAD/metrics")).status).toBe(204);
    const another = await get("/components/another_component/metrics");
    expect(another.body.metrics.map((m: { item: string; component: string }) => [m.item, m.component])).toEqual([
      ["another_item", "another_component"],
      ["another_item", "another_component"],
    ]);
  });

  it("serves items and variants with and without a component, paged by 5", async () => {
    const [c, s] = [newContext(), newSession()];
    for (const [path, _field] of [
      ["/components/comp_A/items/test_that/metrics", "item"],
      ["/components/items/test_that/metrics", "item"],
      ["/components/comp_A/variants/test_that[1/metrics", "item_variant"],
      ["/components/variants/test_that[1/metrics", "item_variant"],
    ] as const) {
      expect((await get(path)).status, path).toBe(204);
    }
    for (let i = 0; i < 10; i++)
      await post(
        "/metrics/",
        newMetric(c, s, { component: ["comp_A", "comp_B"][i % 2], item: "test_that", item_variant: "test_that[1" }),
      );
    for (let i = 0; i < 10; i++)
      await post("/metrics/", newMetric(c, s, { component: "", item: "test_that", item_variant: "test_that[1" }));
    expect((await get("/components/comp_A/items/test_that/metrics")).body.metrics).toHaveLength(5);
    expect((await get("/components/comp_A/variants/test_that[1/metrics")).body.metrics).toHaveLength(5);
    for (const path of ["/components/items/test_that/metrics", "/components/variants/test_that[1/metrics"]) {
      const first = await get(path);
      expect(first.body.metrics, path).toHaveLength(5);
      expect(first.body.total_page, path).toBe(2);
      expect(
        first.body.metrics.every((m: { component: string }) => m.component === ""),
        path,
      ).toBe(true);
      expect((await get(`${path}?page=2`)).body.metrics, path).toHaveLength(5);
    }
    expect((await get("/components/metrics")).body.total_page).toBeGreaterThanOrEqual(2);
  });

  it("lists a component's pipelines, builds and build sessions in the reference's envelopes", async () => {
    const c = newContext();
    const jenkins = ciSession("jenkinsci:component", "1234");
    const circle = ciSession("circleci:component", "9857677");
    await post("/sessions/", jenkins, circle);
    await post(
      "/metrics/",
      newMetric(c, jenkins, { component: "compPipes" }),
      newMetric(c, circle, { component: "compPipes" }),
      newMetric(c, jenkins, { component: "compOther" }),
    );
    expect((await get("/components/compPipes/pipelines")).body).toEqual({
      component: "compPipes",
      pipelines: ["jenkinsci:component", "circleci:component"],
      next_url: null,
      prev_url: null,
      total_page: 1,
    });
    expect((await get("/components/compOther/pipelines/jenkinsci:component/builds")).body).toEqual({
      component: "compOther",
      pipeline: "jenkinsci:component",
      builds: ["1234"],
      next_url: null,
      prev_url: null,
      total_page: 1,
    });
    expect((await get("/components/compPipes/pipelines/circleci:component/builds/9857677/sessions")).body).toEqual({
      component: "compPipes",
      pipeline: "circleci:component",
      build: "9857677",
      sessions: [circle.session_h],
      next_url: null,
      prev_url: null,
      total_page: 1,
    });
  });
});

describe("resources, head and tail, by scope", () => {
  it("answers the n metrics using most and least of a resource, overall and per component, pipeline and build", async () => {
    const c = newContext();
    const s1 = newSession({ pipeline_branch: "res-pipeline1", pipeline_build_no: "1" });
    const s2 = newSession({ pipeline_branch: "res-pipeline1", pipeline_build_no: "2" });
    const s3 = newSession({ pipeline_branch: "res-pipeline2", pipeline_build_no: "1" });
    await post("/sessions/", s1, s2, s3);
    for (let i = 0; i < 20; i++)
      await post("/metrics/", newMetric(c, s1, { component: "resA", mem_usage: 10_000 + i * 100 }));
    for (let i = 0; i < 20; i++) await post("/metrics/", newMetric(c, s2, { component: "resB", mem_usage: -1000 + i }));
    for (let i = 0; i < 20; i++) await post("/metrics/", newMetric(c, s3, { component: "resB", mem_usage: 5000 + i }));
    const mem = (r: { body: { metrics: Array<{ mem_usage: number }> } }) => r.body.metrics.map((m) => m.mem_usage);
    expect(mem(await get("/resources/memory/head/3/metrics"))).toEqual([11_900, 11_800, 11_700]);
    expect(mem(await get("/resources/memory/tail/2/metrics"))).toEqual([-1000, -999]);
    expect(mem(await get("/resources/memory/components/resB/head/2/metrics"))).toEqual([5019, 5018]);
    expect(mem(await get("/resources/memory/components/resB/tail/2/metrics"))).toEqual([-1000, -999]);
    expect(mem(await get("/resources/memory/pipelines/res-pipeline1/tail/2/metrics"))).toEqual([-1000, -999]);
    expect(mem(await get("/resources/memory/pipelines/res-pipeline2/head/2/metrics"))).toEqual([5019, 5018]);
    expect(mem(await get("/resources/memory/pipelines/res-pipeline1/builds/2/head/2/metrics"))).toEqual([-981, -982]);
    const build1 = await get("/resources/memory/pipelines/res-pipeline1/builds/1/tail/metrics");
    expect(build1.body.metrics).toHaveLength(10);
    expect(build1.body.metrics.every((m: { session_h: string }) => m.session_h === s1.session_h)).toBe(true);
    expect(Object.keys(build1.body)).toEqual(["metrics"]);
    expect((await get("/resources/disk/head/metrics")).status).toBe(400);
  });
});

describe("paging by 5", () => {
  it("pages a session's 100 metrics as 20 pages, following next_url to the end; an item's steps cost one page each", async () => {
    const [c, s1, s2] = [newContext(), newSession(), newSession()];
    const mine: string[] = [];
    for (let i = 0; i < 100; i++) {
      const m = newMetric(c, s1, { item: "this_item" });
      mine.push(m.item_start_time);
      await post("/metrics/", m);
      if (i % 10 === 0) await post("/metrics/", newMetric(c, s2, { item: "that_item" }));
    }
    const { pages, items } = await follow(`/sessions/${s1.session_h}/metrics`, "metrics");
    expect(pages).toHaveLength(20);
    expect(pages.every((p) => p.body.total_page === 20)).toBe(true);
    expect(items.map((m: { item_start_time: string }) => m.item_start_time)).toEqual(mine);
    expect(pages.at(-1).body).not.toHaveProperty("next_url");
    // A session's pages sort that session's own rows (its key prefix): bounded by the session.
    for (const p of pages.slice(1))
      expect(Number(/rows_read=(\d+)/.exec(p.timing)?.[1])).toBeLessThanOrEqual(2 * 100 + 10);
    // An item's pages are its index range: past the first, each step reads its rows and one
    // more (and the project's id), never the count.
    const byItem = await follow("/items/this_item/metrics", "metrics");
    expect(byItem.items.map((m: { item_start_time: string }) => m.item_start_time)).toEqual(mine);
    for (const p of byItem.pages.slice(1))
      expect(Number(/rows_read=(\d+)/.exec(p.timing)?.[1])).toBeLessThanOrEqual(6 + 4);
    expect((await get(`/sessions/${newSession().session_h}/metrics`)).status).toBe(204);
    expect((await get(`/sessions/${s1.session_h}/metrics/count`)).body).toEqual({ count: 100 });
  });

  it("pages items, SCM filters and kinds, and reads page from the query or a JSON body", async () => {
    const c = newContext();
    const [s1, s2] = [newSession({}, { scm_ref: "ABCDEF-paging" }), newSession({}, { scm_ref: "ABCGHI-paging" })];
    await post("/sessions/", s1, s2);
    for (let i = 0; i < 12; i++) await post("/metrics/", newMetric(c, s1, { item: "paged_item", kind: "module" }));
    for (let i = 0; i < 8; i++) await post("/metrics/", newMetric(c, s2, { item: "other_item", kind: "package" }));
    const byItem = await get("/items/paged_item/metrics");
    expect(byItem.body.total_page).toBe(3);
    expect(byItem.body).toHaveProperty("next_url");
    expect(byItem.body).not.toHaveProperty("prev_url");
    expect((await get("/items/paged_item/metrics/count")).body).toEqual({ count: 12 });
    expect((await follow("/items/like/_item/metrics", "metrics")).items.length).toBeGreaterThanOrEqual(20);
    expect((await get("/items/like/nothing-like-this/metrics")).status).toBe(204);
    expect((await get("/filters/scm/ABC/metrics/count")).body).toEqual({ count: 20 });
    expect((await get("/filters/scm/ABCDEF-paging/metrics/count")).body).toEqual({ count: 12 });
    expect((await get("/filters/scm/XYZ-nothing/metrics/count")).body).toEqual({ count: 0 });
    expect((await get("/filters/scm/ABCDEF-pagingbad/metrics")).status).toBe(204);
    const scm = await follow("/filters/scm/ABCDEF-paging/metrics", "metrics");
    expect(scm.items.every((m: { session_h: string }) => m.session_h === s1.session_h)).toBe(true);
    expect(scm.items).toHaveLength(12);
    expect((await get("/filters/scope/package/metrics/count")).body.count).toBeGreaterThanOrEqual(8);

    for (const last of [await get("/metrics/?page=-1"), await getWithBody("/metrics/", { page: -1 })]) {
      expect(last.status).toBe(200);
      expect(last.body).not.toHaveProperty("next_url");
      expect(last.body).toHaveProperty("prev_url");
    }
    const secondToLast = await get("/metrics/?page=-2");
    expect(secondToLast.body).toHaveProperty("next_url");
    expect(secondToLast.body).toHaveProperty("prev_url");
    const first = await getWithBody("/metrics/", { page: 1 });
    expect(first.body).toHaveProperty("next_url");
    expect(first.body).not.toHaveProperty("prev_url");
    expect((await getWithBody("/metrics/", { page: "two" })).status).toBe(400);
  });

  it("refuses a metric missing any field with a 400 (the reference answers 400 too)", async () => {
    const m = newMetric(newContext(), newSession());
    for (const key of Object.keys(m)) {
      const { [key]: _, ...partial } = m as Record<string, unknown>;
      expect((await call("/metrics/", partial)).status, key).toBe(400);
    }
  });
});
