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
    expect(p1.body.next_url).toMatch(
      /^\/api\/v1\/sessions\/\?with_flags=suite&restrict_flags=smoke&page=2&cursor=a\d+\.2$/,
    );
    const p2 = await get(p1.body.next_url.slice(api.length));
    expect(p2.body.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(["keep3"]);
    const bare = await get("/sessions?with_flags=suite&restrict_flags=smoke");
    expect(bare.body.next_url).toMatch(
      /^\/api\/v1\/sessions\?with_flags=suite&restrict_flags=smoke&page=2&cursor=a\d+\.2$/,
    );
  });

  it("pages the whole metric collection in insertion order, every row exactly once", async () => {
    await post("/metrics", metricsOf("a11a000000000000000000000000000a", 10));
    const total = (await get("/metrics/count")).body.count as number;
    const first = await get("/metrics/");
    expect(first.body.total_page).toBe(Math.ceil(total / 3));
    const seen: string[] = [];
    let next: string | undefined = `/metrics/`;
    while (next) {
      const page: { body: { metrics: Array<{ item_start_time: string; session_h: string }>; next_url?: string } } =
        await get(next);
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
    expect(comps.body).toEqual({
      components: ["comp0", "comp1", "comp2"],
      total_page: 2,
      next_url: `${api}/components/comp?page=2`,
    });
    const builds = await get("/pipelines/nightly/builds?page=2");
    expect(builds.body).toEqual({
      pipeline: "nightly",
      builds: ["3"],
      total_page: 2,
      prev_url: `${api}/pipelines/nightly/builds?page=1`,
      next_url: null,
    });
  });

  it("does not page resources", async () => {
    await post("/metrics", metricsOf("4e54000000000000000000000000000b", 8, { component: "nopage" }));
    const r = await get("/resources/memory/components/nopage/tail/5/metrics");
    expect(Object.keys(r.body)).toEqual(["metrics"]);
    expect(r.body.metrics).toHaveLength(5);
  });
});

describe("following links reads one page at any depth", () => {
  it("steps through the metrics of an SCM filter in insertion order, each step bounded by the sessions it matches", async () => {
    // 8 sessions, 30 metrics each, posted interleaved; the filter matches every other session.
    for (let i = 0; i < 8; i++)
      await post("/sessions", { ...pluginSession(`5c3a1k${i}`), scm_ref: i % 2 ? `other${i}` : `walkref${i}` });
    const perSession = Array.from({ length: 8 }, (_, i) => metricsOf(`5c3a1k${i}`, 30));
    for (let k = 0; k < 30; k++)
      expect(
        (
          await post(
            "/metrics",
            perSession.map((ms) => ms[k]),
          )
        ).status,
      ).toBe(201);
    const expected = Array.from({ length: 30 }, (_, k) =>
      [0, 2, 4, 6].map((i) => `5c3a1k${i}/${perSession[i][k].item_start_time}`),
    ).flat();

    const seen: string[] = [];
    const reads: number[] = [];
    let next: string | undefined = "/filters/scm/walkref/metrics";
    while (next) {
      const r: {
        body: { metrics: Array<{ session_h: string; item_start_time: string }>; next_url?: string };
        res: Response;
      } = await get(next);
      seen.push(...r.body.metrics.map((m) => `${m.session_h}/${m.item_start_time}`));
      reads.push(Number(/rows_read=(\d+)/.exec(r.res.headers.get("server-timing") ?? "")![1]));
      next = r.body.next_url?.slice(api.length);
    }
    expect(seen).toEqual(expected);
    expect(reads).toHaveLength(40);
    // 120 matches: the first page counts them; a later step walks the matching sessions' own
    // metrics (their key prefix: index entry and row), the same at any depth, never the other sessions'.
    expect(Math.max(...reads.slice(1))).toBe(reads[1]);
    expect(reads[1]).toBeLessThanOrEqual(2 * 120 + 60);
  });
});

describe("following links of a flag filter", () => {
  it("reads a page from the flag index per step, forwards and backwards", async () => {
    const mine: string[] = [];
    for (let i = 0; i < 60; i++) {
      const h = `f1agwalk${String(i).padStart(2, "0")}`;
      await post("/sessions", pluginSession(h, { walk: i % 2 ? "odd" : "even" }));
      if (i % 2 === 0) mine.push(h);
    }
    const walk = async (first: string, link: "next_url" | "prev_url") => {
      const seen: string[] = [];
      const reads: number[] = [];
      let at: string | undefined = first;
      while (at) {
        const r: { body: Record<string, any>; res: Response } = await get(at);
        seen.push(...r.body.sessions.map((x: { session_h: string }) => x.session_h));
        reads.push(Number(/rows_read=(\d+)/.exec(r.res.headers.get("server-timing") ?? "")![1]));
        at = r.body[link]?.slice(api.length);
      }
      return { seen, reads };
    };
    const forwards = await walk("/sessions/?with_flags=walk&restrict_flags=even", "next_url");
    expect(forwards.seen).toEqual(mine);
    const backwards = await walk("/sessions/?with_flags=walk&restrict_flags=even&page=-1", "prev_url");
    expect(backwards.seen).toEqual(
      [...mine]
        .reverse()
        .reduce<string[][]>((pages, h, i) => {
          if (i % 3) pages[pages.length - 1].unshift(h);
          else pages.push([h]);
          return pages;
        }, [])
        .flat(),
    );
    // 30 matches: every step after the first reads the same few rows, wherever it is.
    for (const { reads } of [forwards, backwards]) {
      expect(Math.max(...reads.slice(1))).toBe(reads[1]);
      expect(reads[1]).toBeLessThan(30);
    }
  });
});

/** Rows read by the request, from its Server-Timing header (docs/api/auth.md). */
const rowsRead = (res: Response) => Number(/rows_read=(\d+)/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? NaN);

describe("page numbers that do not exist", () => {
  it("answers page 0 with 404, as the reference does", async () => {
    await post("/metrics", metricsOf("page-zero", 4));
    for (const path of [
      "/metrics/?page=0",
      "/sessions/page-zero/metrics?page=0",
      "/filters/scope/function/metrics?page=0",
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(r.body).toEqual({ message: expect.stringMatching(/Page 0 does not exist/) });
    }
  });

  it("answers any negative or huge page past either end with 404, reading no more than the list and two pages", async () => {
    const h = "far-pages";
    await post("/metrics", metricsOf(h, 7));
    for (const page of [-999999999, -4, 4, 999999999, 999999999999999]) {
      const r = await get(`/sessions/${h}/metrics?page=${page}`);
      expect(r.status, `page ${page}`).toBe(404);
      expect(r.body.message).toMatch(/there are 3 page\(s\)/);
    }
    const last = await get(`/sessions/${h}/metrics?page=-1`);
    expect(last.body.metrics.map((x: { item_start_time: string }) => x.item_start_time.slice(-1))).toEqual(["6"]);
    const first = await get(`/sessions/${h}/metrics?page=-3`);
    expect(first.body.metrics).toHaveLength(3);
    expect(first.body.metrics[0].item_start_time).toMatch(/0$/);
    // The whole collection's pages are rowid ranges: a page before the first reads the count
    // (the project's newest rowid and its id, looked up by name), no metric.
    const whole = await callJson(`${api}/metrics/?page=-999999999`);
    expect(whole.status).toBe(404);
    expect(rowsRead(whole.res)).toBeLessThanOrEqual(12);
  });
});

describe("regressions and compare read a bounded number of metrics (MONITOR_MAX_METRICS_READ=40)", () => {
  it("answers 400 rather than read more, and judges sessions within the bound", async () => {
    const desc = ciDescription("cap-branch", "1");
    for (let i = 0; i < 3; i++) {
      await post("/sessions", { ...pluginSession(`cap-${i}`, desc), run_date: `2026-11-2${i}T10:00:00` });
      await post("/metrics", metricsOf(`cap-${i}`, 15));
    }
    const ok = await get("/sessions/cap-1/regressions?window=1");
    expect(ok.status).toBe(200);
    expect(ok.body.summary.tests).toBe(15);
    const over = await get("/sessions/cap-2/regressions?window=2");
    expect(over.status).toBe(400);
    expect(over.body).toEqual({
      message: expect.stringMatching(/more than 40 metrics/),
      errors: { window: expect.any(String) },
    });
    expect((await get("/sessions/cap-0/compare/cap-1")).status).toBe(200);
    await post("/metrics", metricsOf("cap-1", 30).slice(15));
    const big = await get("/sessions/cap-0/compare/cap-1");
    expect(big.status).toBe(400);
    expect(big.body.message).toMatch(/more than 40 metrics/);
  });
});
