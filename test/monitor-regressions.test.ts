import { describe, expect, it } from "vitest";
import { DEFAULT_THRESHOLDS, type JUDGED, judge, leakSuspect, mad, median } from "../src/monitor/regressions";
import { callJson } from "./helpers/http";
import { pluginContext, pluginMetric } from "./helpers/monitor";

const api = "/api/v1";
const get = (path: string) => callJson(`${api}${path}`);
async function post(path: string, json: unknown) {
  const r = await callJson(`${api}${path}`, { method: "POST", json });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

type Values = Partial<Record<(typeof JUDGED)[number], number>>;
const BASE: Required<Values> = { total_time: 1, user_time: 0.8, kernel_time: 0.05, cpu_usage: 0.85, mem_usage: 100 };
/** Noise of a CI machine: ±3 % on times, ±1 MB on memory, deterministic per run. */
const wobble = (i: number) => [0, 0.02, -0.03, 0.01, -0.01, 0.03, -0.02, 0.015, -0.015, 0.005][i % 10];

let contexts = 0;
/** A context of a machine class; a different node name gives a different hash of the same class. */
async function machine(over: Record<string, unknown> = {}) {
  const h = `ctx${++contexts}`.padEnd(32, "0");
  await post("/contexts/", { ...pluginContext(h), machine_node: `runner-${contexts}`, ...over });
  return h;
}

/** One pytest run: a session with its description and one metric per test. */
async function session(
  h: string,
  description: Record<string, string>,
  tests: Record<string, Values>,
  context: string,
  scm_ref: string | null = "cafe",
) {
  await post("/sessions/", { session_h: h, run_date: "2026-11-23T10:00:00", scm_ref, description });
  const metrics = Object.entries(tests).map(([name, v], i) =>
    pluginMetric({
      session_h: h,
      context_h: context,
      item: name,
      item_variant: name,
      item_start_time: `t${i}`,
      ...BASE,
      ...v,
    }),
  );
  if (metrics.length) await post("/metrics/", metrics);
}

const noisy = (i: number, over: Values = {}): Values => ({
  total_time: BASE.total_time * (1 + wobble(i)),
  user_time: BASE.user_time * (1 + wobble(i + 3)),
  mem_usage: BASE.mem_usage + wobble(i) * 30,
  ...over,
});

const verdicts = (body: any) => Object.fromEntries(body.tests.map((t: any) => [t.item, t.verdict]));
const costOf = (res: Response) => {
  const m = /queries=(\d+) rows_read=(\d+)/.exec(res.headers.get("server-timing") ?? "")!;
  return { queries: Number(m[1]), read: Number(m[2]) };
};

describe("the statistics", () => {
  it("median and MAD are robust to one wild value", () => {
    expect(median([1, 2, 100])).toBe(2);
    expect(mad([1, 2, 3, 4, 100])).toBe(1);
  });

  it("needs three earlier runs, and a change beyond k × MAD, min_change and the noise floor", () => {
    expect(judge("total_time", 5, [1, 1], DEFAULT_THRESHOLDS).verdict).toBe("insufficient_history");
    const history = [1, 1.02, 0.98, 1.01, 0.99];
    const slower = judge("total_time", 1.3, history, DEFAULT_THRESHOLDS);
    expect(slower).toMatchObject({ verdict: "regression", median: 1, history: 5 });
    expect(slower.mad).toBeCloseTo(0.01, 12);
    expect(slower.upper).toBeCloseTo(1.1, 12); // the 10 % minimum is the wider margin here
    expect(judge("total_time", 1.08, history, DEFAULT_THRESHOLDS).verdict).toBe("unchanged"); // 8 % < 10 %
    expect(judge("total_time", 0.8, history, DEFAULT_THRESHOLDS).verdict).toBe("improvement");
    // A noisy test: 30 % up is within 3 MADs of its own spread.
    expect(judge("total_time", 1.3, [1, 1.2, 0.8, 1.15, 0.85], DEFAULT_THRESHOLDS).verdict).toBe("unchanged");
    // A flat zero baseline: only the floor stands between noise and a verdict.
    expect(judge("mem_usage", 0.5, [0, 0, 0], DEFAULT_THRESHOLDS).verdict).toBe("unchanged");
    expect(judge("mem_usage", 1.5, [0, 0, 0], DEFAULT_THRESHOLDS)).toMatchObject({
      verdict: "regression",
      relative_change: null,
    });
  });

  it("suspects a leak on steady small growth only", () => {
    expect(leakSuspect([50, 50.4, 50.8, 51.2, 51.6, 52])).toBe(true);
    expect(leakSuspect([50, 50.1, 50.2, 50.3, 50.4, 50.5])).toBe(false); // 0.5 MB in all: below the floor
    expect(leakSuspect([50, 53, 49, 52, 50, 51])).toBe(false); // noise
    expect(leakSuspect([50, 51, 52, 53])).toBe(false); // too few runs
  });
});

describe("GET /api/v1/sessions/<h>/regressions", () => {
  it("flags injected slowdowns and growths, not noise; new tests have no history", async () => {
    const ctx = await machine();
    for (let i = 0; i < 10; i++) {
      await session(
        `rg-main-${i}`,
        { pipeline_branch: "rg-main", pipeline_build_no: String(i) },
        {
          test_slow: noisy(i),
          test_noise: noisy(i + 1),
          test_grow: noisy(i + 2),
          test_fast: noisy(i + 3),
          test_leak: noisy(i + 4, { mem_usage: 50 + 0.4 * i }),
        },
        ctx,
      );
    }
    await session(
      "rg-main-10",
      { pipeline_branch: "rg-main", pipeline_build_no: "10" },
      {
        test_slow: noisy(0, { total_time: 1.6 }),
        test_noise: noisy(0, { total_time: 1.06, mem_usage: 100.9 }),
        test_grow: noisy(0, { mem_usage: 150 }),
        test_fast: noisy(0, { total_time: 0.5, user_time: 0.4 }),
        test_leak: noisy(0, { mem_usage: 54 }),
        test_new: {},
      },
      ctx,
    );

    const r = await get("/sessions/rg-main-10/regressions");
    expect(r.status).toBe(200);
    expect(verdicts(r.body)).toEqual({
      test_slow: "regression",
      test_noise: "unchanged",
      test_grow: "regression",
      test_fast: "improvement",
      test_leak: "unchanged",
      test_new: "insufficient_history",
    });
    expect(r.body.summary).toEqual({
      tests: 6,
      regressions: 2,
      improvements: 1,
      unchanged: 2,
      insufficient_history: 1,
      leaks: 1,
    });
    expect(r.body.tests.find((t: any) => t.item === "test_leak").leak).toBe(true);
    expect(r.body.baseline).toMatchObject({ by: "pipeline_branch", value: "rg-main", window: 10 });
    expect(r.body.baseline.sessions.map((s: any) => s.session_h)).toEqual(
      Array.from({ length: 10 }, (_, i) => `rg-main-${9 - i}`),
    );

    const slow = r.body.tests.find((t: any) => t.item === "test_slow");
    expect(slow.resources.total_time).toMatchObject({ value: 1.6, verdict: "regression", history: 10 });
    expect(slow.resources.total_time.median).toBeCloseTo(1.0025, 6);
    expect(slow.resources.total_time.change).toBeCloseTo(0.5975, 6);
    expect(slow.resources.mem_usage.verdict).toBe("unchanged");
    const grow = r.body.tests.find((t: any) => t.item === "test_grow");
    expect(grow.resources.mem_usage).toMatchObject({ value: 150, verdict: "regression" });
    expect(grow.resources.total_time.verdict).toBe("unchanged");
    expect(grow.leak).toBe(false); // one jump is a regression, not a leak
    const fresh = r.body.tests.find((t: any) => t.item === "test_new");
    expect(fresh.resources.total_time).toEqual({
      value: 1,
      median: null,
      mad: null,
      change: null,
      relative_change: null,
      lower: null,
      upper: null,
      history: 0,
      verdict: "insufficient_history",
    });

    // The CI gate of the README reads exactly this.
    expect(r.body.summary.regressions === 0).toBe(false);

    // Thresholds from the query: with neither MADs nor a minimum, the 6 % noise counts.
    const strict = await get("/sessions/rg-main-10/regressions?k=0&min_change=0");
    expect(strict.body.thresholds).toEqual({ k: 0, min_change: 0 });
    expect(verdicts(strict.body).test_noise).toBe("regression");
    // A lenient gate lets the 60 % slowdown through.
    expect(verdicts((await get("/sessions/rg-main-10/regressions?min_change=1")).body).test_slow).toBe("unchanged");
    // A window of 2 is too short a history for anyone.
    const short = await get("/sessions/rg-main-10/regressions?window=2");
    expect(short.body.baseline.sessions).toHaveLength(2);
    expect(short.body.summary.insufficient_history).toBe(6);
  });

  it("judges the first runs of a branch insufficient_history, then starts at the third earlier run", async () => {
    const ctx = await machine();
    const tests = { test_a: { total_time: 1 }, test_b: { total_time: 2 } };
    for (let i = 0; i < 4; i++) await session(`rg-first-${i}`, { pipeline_branch: "rg-first" }, tests, ctx);
    for (let i = 0; i < 3; i++) {
      const r = await get(`/sessions/rg-first-${i}/regressions`);
      expect(r.body.baseline.sessions).toHaveLength(i);
      expect(r.body.summary).toMatchObject({ tests: 2, insufficient_history: 2, regressions: 0 });
    }
    expect((await get("/sessions/rg-first-3/regressions")).body.summary).toMatchObject({
      unchanged: 2,
      insufficient_history: 0,
    });
  });

  it("compares on the same machine class only, and with no other branch", async () => {
    const a = await machine();
    const sameClass = await machine(); // another runner of the same class: comparable
    const bigger = await machine({ cpu_count: 64, ram_total: 257_000 });
    for (let i = 0; i < 4; i++)
      await session(`rg-ctx-${i}`, { pipeline_branch: "rg-ctx" }, { test_x: { total_time: 1 } }, i % 2 ? a : sameClass);
    // On a big machine, and on another branch, the same test is much faster: neither is baseline.
    await session("rg-ctx-big", { pipeline_branch: "rg-ctx" }, { test_x: { total_time: 0.1 } }, bigger);
    await session("rg-other", { pipeline_branch: "rg-other" }, { test_x: { total_time: 0.1 } }, a);
    await session("rg-ctx-now", { pipeline_branch: "rg-ctx" }, { test_x: { total_time: 1.02 } }, a);
    const r = await get("/sessions/rg-ctx-now/regressions");
    expect(r.body.baseline.sessions.map((s: any) => s.session_h)).toEqual([
      "rg-ctx-big",
      "rg-ctx-3",
      "rg-ctx-2",
      "rg-ctx-1",
      "rg-ctx-0",
    ]);
    expect(r.body.tests[0]).toMatchObject({ item: "test_x", verdict: "unchanged" });
    expect(r.body.tests[0].resources.total_time).toMatchObject({ median: 1, history: 4 });
    // The big machine's own baseline has no run of its class.
    expect((await get("/sessions/rg-ctx-big/regressions")).body.tests[0].resources.total_time.history).toBe(0);
  });

  it("falls back to a `branch` tag, then to re-runs of the same scm_ref", async () => {
    const ctx = await machine();
    for (let i = 0; i < 4; i++)
      await session(`rg-tag-${i}`, { branch: "feature-x" }, { test_t: { total_time: 1 } }, ctx, `ref${i}`);
    await session("rg-tag-now", { branch: "feature-x" }, { test_t: { total_time: 3 } }, ctx, "ref9");
    const tagged = await get("/sessions/rg-tag-now/regressions");
    expect(tagged.body.baseline).toMatchObject({ by: "branch", value: "feature-x" });
    expect(tagged.body.summary.regressions).toBe(1);

    for (let i = 0; i < 3; i++) await session(`rg-scm-${i}`, {}, { test_t: { total_time: 1 } }, ctx, "d00d");
    await session("rg-scm-other", {}, { test_t: { total_time: 1 } }, ctx, "beef");
    await session("rg-scm-now", {}, { test_t: { total_time: 3 } }, ctx, "d00d");
    const byRef = await get("/sessions/rg-scm-now/regressions");
    expect(byRef.body.baseline).toMatchObject({ by: "scm_ref", value: "d00d" });
    expect(byRef.body.baseline.sessions.map((s: any) => s.session_h)).toEqual(["rg-scm-2", "rg-scm-1", "rg-scm-0"]);
    expect(byRef.body.summary.regressions).toBe(1);

    await session("rg-none", {}, { test_t: {} }, ctx, null);
    const none = await get("/sessions/rg-none/regressions");
    expect(none.body.baseline).toEqual({ by: null, value: null, window: 10, sessions: [] });
    expect(none.body.summary.insufficient_history).toBe(1);
  });

  it("is one D1 batch whose rows read do not grow with data outside its window", async () => {
    const ctx = await machine();
    const tests = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`test_${i}`, {}]));
    for (let i = 0; i < 5; i++) await session(`rg-cost-${i}`, { pipeline_branch: "rg-cost" }, tests, ctx);
    const before = costOf((await get("/sessions/rg-cost-4/regressions?window=3")).res);
    expect(before.queries).toBe(3);
    // The 3 earlier sessions' and this session's 80 metrics, each with its context's row, and a
    // few session, flag index and project rows (the project's id, looked up by name in each sub-select).
    expect(before.read).toBeGreaterThanOrEqual(2 * 80);
    expect(before.read).toBeLessThanOrEqual(2 * 80 + 60);
    // Later sessions of the branch and sessions of other branches change nothing (nor does rg-cost-0, older than the
    // window).
    await session("rg-cost-5", { pipeline_branch: "rg-cost" }, tests, ctx);
    for (let i = 0; i < 3; i++) await session(`rg-cost-other-${i}`, { pipeline_branch: "rg-cost-other" }, tests, ctx);
    const after = costOf((await get("/sessions/rg-cost-4/regressions?window=3")).res);
    expect(after.queries).toBe(3);
    expect(Math.abs(after.read - before.read)).toBeLessThanOrEqual(2); // where the index seek lands, not 20+ rows per added session
  });

  it("answers bad input in the monitor's dialect", async () => {
    const unknown = await get("/sessions/no-such-session/regressions");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ message: "Session no-such-session does not exist" });
    for (const [query, field] of [
      ["window=0", "window"],
      ["window=51", "window"],
      ["window=ten", "window"],
      ["k=-1", "k"],
      ["k=abc", "k"],
      ["min_change=-0.1", "min_change"],
    ]) {
      const r = await get(`/sessions/no-such-session/regressions?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.message).toContain(field);
      expect(Object.keys(r.body.errors), query).toEqual([field]);
    }
    expect((await get("/sessions/x/regressions?window=50&k=0&min_change=0")).status).toBe(404);
  });
});

describe("GET /api/v1/sessions/<a>/compare/<b>", () => {
  it("puts both values and the change side by side, and lists tests of one side", async () => {
    const ctx = await machine();
    await session("cmp-a", {}, { test_both: { total_time: 2, mem_usage: 10 }, test_gone: { total_time: 1 } }, ctx);
    await session("cmp-b", {}, { test_both: { total_time: 3, mem_usage: 0 }, test_added: { total_time: 4 } }, ctx);
    const r = await get("/sessions/cmp-a/compare/cmp-b");
    expect(r.status).toBe(200);
    expect(r.body.a).toEqual({ session_h: "cmp-a", run_date: "2026-11-23T10:00:00", scm_ref: "cafe", contexts: [ctx] });
    expect(r.body.summary).toEqual({ both: 1, only_in_a: 1, only_in_b: 1 });
    expect(r.body.tests).toHaveLength(1);
    expect(r.body.tests[0]).toMatchObject({
      item: "test_both",
      kind: "function",
      component: "",
      context_a: ctx,
      context_b: ctx,
    });
    expect(r.body.tests[0].resources.total_time).toEqual({ a: 2, b: 3, change: 1, relative_change: 0.5 });
    expect(r.body.tests[0].resources.mem_usage).toEqual({ a: 10, b: 0, change: -10, relative_change: -1 });
    expect(r.body.only_in_a.map((t: any) => t.item)).toEqual(["test_gone"]);
    expect(r.body.only_in_b[0]).toMatchObject({ item: "test_added", values: { total_time: 4 } });
    expect(costOf(r.res).queries).toBe(2);

    const unknown = await get("/sessions/cmp-a/compare/cmp-nope");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ message: "Session cmp-nope does not exist" });
  });
});
