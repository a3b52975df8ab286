// Runs with MONITOR_PAGE_SIZE=3 (see vitest.config.ts) so every paging rule shows with few rows.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "./helpers/http";
import { ciDescription, metricsOf, pluginMetric, pluginSession } from "./helpers/monitor";

const api = "/api/v1";
const post = (path: string, json: unknown) => callJson(`${api}${path}`, { method: "POST", json });
const get = (path: string) => callJson(`${api}${path}`);

describe("paging with MONITOR_PAGE_SIZE=3", () => {
  it("uses the configured size", () => {
    expect(env.MONITOR_PAGE_SIZE).toBe("3");
  });

  it("answers 204 with no body for an empty first page, and 404 past it", async () => {
    const r = await get("/sessions/nothing-starts-like-this");
    expect(r.status).toBe(204);
    expect(r.body).toBeNull();
    expect((await get("/sessions/nothing-starts-like-this?page=2")).status).toBe(404);
  });

  it("pages a prefix lookup with relative links that keep the route", async () => {
    for (let i = 0; i < 7; i++) await post("/sessions", pluginSession(`dead${i}`));
    const p1 = await get("/sessions/dead");
    expect(p1.status).toBe(200);
    expect(p1.body).toEqual({
      sessions: expect.any(Array),
      total_page: 3,
      next_url: expect.stringMatching(/^\/api\/v1\/sessions\/dead\?page=2&cursor=a\d+\.3$/),
    });
    expect(p1.body.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(["dead0", "dead1", "dead2"]);
    const p2 = await get("/sessions/dead?page=2");
    expect(p2.body.prev_url).toMatch(/^\/api\/v1\/sessions\/dead\?page=1&cursor=b\d+\.3$/);
    expect(p2.body.next_url).toMatch(/^\/api\/v1\/sessions\/dead\?page=3&cursor=a\d+\.3$/);
    expect((await get(p1.body.next_url.slice(api.length))).body).toEqual(p2.body);
    expect(p2.body.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(["dead3", "dead4", "dead5"]);
    const last = await get("/sessions/dead?page=-1");
    expect(last.body.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(["dead6"]);
    expect(last.body).not.toHaveProperty("next_url");
    expect((await get("/sessions/dead?page=-3")).body.sessions[0].session_h).toBe("dead0");
    expect((await get("/sessions/dead?page=-4")).status).toBe(404);
    expect((await get("/sessions/dead?page=4")).body).toEqual({ message: expect.stringMatching(/Page 4/) });
  });

  it("keeps the other query arguments in links, with and without a trailing slash", async () => {
    for (let i = 0; i < 4; i++) await post("/sessions", pluginSession(`keep${i}`, { suite: "smoke" }));
    const p1 = await get("/sessions/?with_flags=suite&restrict_flags=smoke");
    expect(p1.body.total_page).toBe(2);
    expect(p1.body.next_url).toMatch(/^\/api\/v1\/sessions\/\?with_flags=suite&restrict_flags=smoke&page=2&cursor=a\d+\.2$/);
    const p2 = await get(p1.body.next_url.slice(api.length));
    expect(p2.body.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(["keep3"]);
    const bare = await get("/sessions?with_flags=suite&restrict_flags=smoke");
    expect(bare.body.next_url).toMatch(/^\/api\/v1\/sessions\?with_flags=suite&restrict_flags=smoke&page=2&cursor=a\d+\.2$/);
  });

  it("pages the whole metric collection in insertion order, every row exactly once", async () => {
    await post("/metrics", metricsOf("a11a000000000000000000000000000a", 10));
    const total = (await get("/metrics/count")).body.count as number;
    const first = await get("/metrics/");
    expect(first.body.total_page).toBe(Math.ceil(total / 3));
    const seen: string[] = [];
    let next: string | undefined = `/metrics/`;
    while (next) {
      const page: { body: { metrics: Array<{ item_start_time: string; session_h: string }>; next_url?: string } } = await get(next);
      seen.push(...page.body.metrics.map((m) => `${m.session_h}/${m.item_start_time}`));
      next = page.body.next_url?.slice(api.length);
    }
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    const mine = seen.filter((k) => k.startsWith("a11a"));
    expect(mine).toEqual([...mine].sort());
  });

  it("sends null links on build lists and leaves them out of the component list, as the reference does", async () => {
    for (let i = 0; i < 4; i++) {
      await post("/metrics", pluginMetric({ component: `comp${i}`, item_start_time: `c${i}`, session_h: "c0c0" }));
      await post("/sessions", pluginSession(`b${i}`, ciDescription("nightly", String(i))));
    }
    const comps = await get("/components/comp");
    expect(comps.body).toEqual({ components: ["comp0", "comp1", "comp2"], total_page: 2, next_url: `${api}/components/comp?page=2` });
    const builds = await get("/pipelines/nightly/builds?page=2");
    expect(builds.body).toEqual({ pipeline: "nightly", builds: ["3"], total_page: 2, prev_url: `${api}/pipelines/nightly/builds?page=1`, next_url: null });
  });

  it("does not page resources", async () => {
    await post("/metrics", metricsOf("4e54000000000000000000000000000b", 8, { component: "nopage" }));
    const r = await get("/resources/memory/components/nopage/tail/5/metrics");
    expect(Object.keys(r.body)).toEqual(["metrics"]);
    expect(r.body.metrics).toHaveLength(5);
  });
});
