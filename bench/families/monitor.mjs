// Test-run monitor (/api/v1, docs/api/monitor.md): metrics posted in bulk as pytest-monitor
// data would look: 100 metrics per session, 10 sessions per context, a pool of items.
import { createHash } from "node:crypto";
import { inBatches } from "../lib/seed.mjs";

const V1 = "/api/v1";
const METRICS_PER_SESSION = 100;
const ITEMS = 200;
const COMPONENTS = ["", "api", "db", "ui", "auth"];
const md5 = (s) => createHash("md5").update(s).digest("hex");
const sessionH = (i) => md5(`bench-session-${i}`);
const contextH = (i) => md5(`bench-context-${i}`);

function metric(n) {
  const s = Math.floor(n / METRICS_PER_SESSION);
  const item = n % ITEMS;
  return {
    session_h: sessionH(s),
    context_h: contextH(Math.floor(s / 10)),
    item_start_time: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString().slice(0, 23),
    item_path: `tests/test_mod${item % 20}.py`,
    item: `test_case_${item}`,
    item_variant: `test_case_${item}[p${n % 3}]`,
    item_fs_loc: `tests/test_mod${item % 20}.py`,
    kind: n % 10 === 0 ? "module" : "function",
    component: COMPONENTS[item % COMPONENTS.length],
    total_time: (n % 97) / 10,
    user_time: (n % 89) / 10,
    kernel_time: (n % 13) / 100,
    cpu_usage: (n % 150) / 100,
    mem_usage: (n % 500) + 0.5,
  };
}

const session = (i) => ({
  session_h: sessionH(i),
  run_date: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString().slice(0, 19),
  scm_ref: md5(`ref-${Math.floor(i / 5)}`).slice(0, 40),
  description: {
    pipeline_branch: ["main", "release", "dev"][i % 3],
    pipeline_build_no: String(1000 + Math.floor(i / 3)),
    __ci__: "gitlab",
  },
});

const context = (i) => ({
  h: contextH(i),
  cpu_count: 8,
  cpu_frequency: 2712,
  cpu_type: "x86_64",
  cpu_vendor: "GenuineIntel",
  ram_total: 16384,
  machine_node: `runner-${i}`,
  machine_type: "x86_64",
  machine_arch: "64bit",
  system_info: "Linux 6.1",
  python_info: "3.11.2 (main)\n[GCC 12.2.0]",
});

const withPage = (path, page) => `${path}${path.includes("?") ? "&" : "?"}page=${page}`;

/**
 * A deep page that is full: the one before the last, by its number and by the
 * `next_url` of the page before it (a page number for whole collections, a keyset
 * cursor `&cursor=a<seq>.<pages>` for filtered lists: that step reads only its page).
 */
async function deepPage(api, path) {
  const pages = (await api.must({ path })).json?.total_page ?? 1;
  const deep = Math.max(1, pages - 1);
  if (deep === 1) return { byNumber: { path: withPage(path, 1) }, byLink: { path: withPage(path, 1) } };
  const before = await api.must({ path: withPage(path, deep - 1) });
  if (!before.json?.next_url) throw new Error(`${path} page ${deep - 1} has no next_url`);
  return { byNumber: { path: withPage(path, deep) }, byLink: { path: before.json.next_url } };
}

let posted = 0;
const fresh = () => `${Date.now()}-${posted++}`;

// ─── Regressions (GET /sessions/<h>/regressions): a separate block ───────────────
// One pipeline branch of REGRESS_RUNS sessions × REGRESS_TESTS tests on one machine; the
// last session is judged against the REGRESS_RUNS - 1 before it (window=20). Reports what
// the one request reads (Server-Timing) against the metrics it needs (1,000 × 21).
const REGRESS_TESTS = 1000;
const REGRESS_RUNS = 21;
const regressSession = (i) => md5(`bench-regress-session-${i}`);

async function regressionsExtra(ctx) {
  const { api, log } = ctx;
  const ctxH = md5("bench-regress-context");
  await api.must({ method: "POST", path: `${V1}/contexts/`, body: { ...context(0), h: ctxH } });
  const t0 = performance.now();
  for (let run = 0; run < REGRESS_RUNS; run++) {
    const h = regressSession(run);
    await api.must({
      method: "POST",
      path: `${V1}/sessions/`,
      body: {
        session_h: h,
        run_date: new Date(Date.UTC(2026, 1, 1) + run * 3600_000).toISOString().slice(0, 19),
        scm_ref: md5(`regress-ref-${run}`),
        description: { pipeline_branch: "bench-regress" },
      },
    });
    const metrics = Array.from({ length: REGRESS_TESTS }, (_, t) => ({
      ...metric(t),
      session_h: h,
      context_h: ctxH,
      item_start_time: `2026-02-01T00:00:${String(run).padStart(2, "0")}.${String(t).padStart(6, "0")}`,
      item: `test_regress_${t}`,
      item_variant: `test_regress_${t}`,
      // 2 % noise run to run; in the last run every 100th test is 50 % slower.
      total_time:
        1 + (t % 10) / 10 + ((run * 7 + t) % 5) * 0.005 + (run === REGRESS_RUNS - 1 && t % 100 === 0 ? 0.75 : 0),
    }));
    await api.must({ method: "POST", path: `${V1}/metrics/`, body: metrics });
  }
  log(
    `monitor: seeded ${REGRESS_RUNS} sessions × ${REGRESS_TESTS} tests for regressions in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const path = `${V1}/sessions/${regressSession(REGRESS_RUNS - 1)}/regressions?window=${REGRESS_RUNS - 1}`;
  const rows = [];
  for (let i = 0; i < 3; i++) {
    const r = await api.must({ path });
    rows.push([
      String(i + 1),
      String(r.json.summary.tests),
      String(r.json.baseline.sessions.length),
      String(r.json.summary.regressions),
      String(r.cost.queries),
      String(r.cost.read),
      `${r.ms.toFixed(0)} ms`,
    ]);
  }
  return [
    {
      family: "monitor",
      title: "Monitor regressions: 1,000 tests against a 20-run baseline",
      headers: [
        "request",
        "tests",
        "baseline sessions",
        "regressions found",
        "D1 statements (one batch)",
        "rows read",
        "latency",
      ],
      rows,
      notes: [
        `\`GET ${V1}/sessions/<h>/regressions?window=20\`: ${REGRESS_TESTS * REGRESS_RUNS} metrics are needed (this session's and the 20 before it); each is read once with its context's row (a unique lookup D1 counts as a row read), plus the session and branch index rows. Seeded regressions: ${REGRESS_TESTS / 100}.`,
      ],
    },
  ];
}

export default {
  name: "monitor",
  title: "Test-run monitor (`/api/v1`)",
  unit: "metrics",
  sizes: { quick: [1000, 5000], full: [1000, 10_000, 100_000, 1_000_000] },

  async seed(ctx, from, to) {
    const { api } = ctx;
    const sessionsFrom = Math.ceil(from / METRICS_PER_SESSION);
    const sessionsTo = Math.ceil(to / METRICS_PER_SESSION);
    const contextsFrom = Math.ceil(sessionsFrom / 10);
    const contextsTo = Math.ceil(sessionsTo / 10);
    await inBatches(contextsFrom, contextsTo, 1, 8, (i) =>
      api.must({ method: "POST", path: `${V1}/contexts/`, body: context(i) }),
    );
    await inBatches(sessionsFrom, sessionsTo, 1, 8, (i) =>
      api.must({ method: "POST", path: `${V1}/sessions/`, body: session(i) }),
    );
    await inBatches(from, to, 1000, 2, (start, end) =>
      api.must({
        method: "POST",
        path: `${V1}/metrics/`,
        body: Array.from({ length: end - start }, (_, k) => metric(start + k)),
      }),
    );
  },

  probes(ctx) {
    const s = sessionH(0);
    const deep = (path) => {
      let found;
      const get = async () => (found ??= await deepPage(ctx.api, path));
      return { number: async () => (await get()).byNumber, link: async () => (await get()).byLink };
    };
    const all = deep(`${V1}/metrics/`);
    const fn = deep(`${V1}/filters/scope/function/metrics`);
    return [
      { group: "count", label: "GET /metrics/count", req: { path: `${V1}/metrics/count` }, flat: true },
      { group: "count", label: "GET /sessions/count", req: { path: `${V1}/sessions/count` }, flat: true },
      {
        group: "count",
        label: "GET /filters/scope/function/metrics/count",
        req: { path: `${V1}/filters/scope/function/metrics/count` },
        flat: true,
      },
      {
        group: "count",
        label: "GET /items/test_case_7/metrics/count",
        req: { path: `${V1}/items/test_case_7/metrics/count` },
        flat: true,
      },
      {
        group: "count",
        label: "GET /variants/test_case_7[p1]/metrics/count",
        req: { path: `${V1}/variants/${encodeURIComponent("test_case_7[p1]")}/metrics/count` },
        flat: true,
      },
      {
        group: "count",
        label: "GET /contexts/<h>/metrics/count",
        req: { path: `${V1}/contexts/${contextH(0)}/metrics/count` },
        flat: true,
      },
      {
        group: "count",
        label: "GET /sessions/<h>/metrics/count",
        req: { path: `${V1}/sessions/${s}/metrics/count` },
        flat: true,
      },
      {
        group: "count",
        label: "GET /index.html (metrics, sessions, contexts)",
        req: { path: "/index.html" },
        flat: true,
      },
      {
        group: "filter",
        label: "GET /components/api/metrics",
        req: { path: `${V1}/components/api/metrics` },
        flat: true,
      },
      {
        group: "first page",
        label: "GET /filters/scope/module/metrics (a tenth)",
        req: { path: `${V1}/filters/scope/module/metrics` },
        flat: true,
      },
      {
        group: "first page",
        label: "GET /items/test_case_7/metrics",
        req: { path: `${V1}/items/test_case_7/metrics` },
        flat: true,
      },
      {
        group: "first page",
        label: "GET /components/api/items/test_case_5/metrics (an item never in api)",
        req: { path: `${V1}/components/api/items/test_case_5/metrics` },
        flat: true,
      },
      {
        group: "first page",
        label: "GET /contexts/<h>/metrics",
        req: { path: `${V1}/contexts/${contextH(0)}/metrics` },
        flat: true,
      },
      {
        group: "page past the end",
        label: "GET /metrics?page=-999999999",
        req: { path: `${V1}/metrics/?page=-999999999` },
        flat: true,
      },
      {
        group: "page past the end",
        label: "GET /filters/scope/function/metrics?page=-999999999",
        req: { path: `${V1}/filters/scope/function/metrics?page=-999999999` },
      },
      { group: "page past the end", label: "GET /metrics?page=0", req: { path: `${V1}/metrics/?page=0` }, flat: true },
      { group: "first page", label: "GET /metrics (page 1, 500 per page)", req: { path: `${V1}/metrics/` } },
      { group: "deep page, by number", label: "GET /metrics?page=<last-1>", resolve: all.number },
      { group: "deep page, by link", label: "GET /metrics, next_url of page <last-2>", resolve: all.link, flat: true },
      {
        group: "first page",
        label: "GET /filters/scope/function/metrics",
        req: { path: `${V1}/filters/scope/function/metrics` },
        flat: true,
      },
      { group: "deep page, by number", label: "GET /filters/scope/function/metrics?page=<last-1>", resolve: fn.number },
      {
        group: "deep page, by link",
        label: "GET /filters/scope/function/metrics, next_url of page <last-2>",
        resolve: fn.link,
        flat: true,
      },
      { group: "filter", label: "GET /sessions/<h>/metrics", req: { path: `${V1}/sessions/${s}/metrics` } },
      {
        group: "filter",
        label: "GET /pipelines/main/builds/<b>/sessions (hashes)",
        req: { path: `${V1}/pipelines/main/builds/1000/sessions` },
      },
      {
        group: "filter",
        label: "GET /resources/memory/components/api/head/10/metrics",
        req: { path: `${V1}/resources/memory/components/api/head/10/metrics` },
        flat: true,
      },
      {
        group: "filter",
        label: "GET /resources/memory/pipelines/main/head/10/metrics",
        req: { path: `${V1}/resources/memory/pipelines/main/head/10/metrics` },
        flat: true,
      },
      { group: "filter", label: "GET /contexts/<h> (plugin's check)", req: { path: `${V1}/contexts/${contextH(0)}` } },
      { group: "filter", label: "GET /sessions/<prefix 4>", req: { path: `${V1}/sessions/${s.slice(0, 4)}` } },
      {
        group: "filter",
        label: "GET /sessions?with_flags=pipeline_branch&restrict_flags=main",
        req: { path: `${V1}/sessions/?with_flags=pipeline_branch&restrict_flags=main` },
        flat: true,
      },
      {
        group: "filter",
        label: "GET /items/like/case_1/metrics (contains: scans)",
        req: { path: `${V1}/items/like/case_1/metrics` },
      },
      {
        group: "filter",
        label: "GET /resources/memory/head/10/metrics",
        req: { path: `${V1}/resources/memory/head/10/metrics` },
      },
      { group: "filter", label: "GET /components/", req: { path: `${V1}/components/` } },
      {
        group: "filter",
        label: "GET /pipelines/main/builds",
        req: { path: `${V1}/pipelines/main/builds` },
        flat: true,
      },
      {
        group: "write",
        label: "POST /metrics/ (one, kind function)",
        req: (i) => ({
          method: "POST",
          path: `${V1}/metrics/`,
          body: { ...metric(i * 10 + 1), session_h: `probe-${fresh()}` },
        }),
      },
      {
        group: "write",
        label: "POST /metrics/ (one, kind module)",
        req: (i) => ({
          method: "POST",
          path: `${V1}/metrics/`,
          body: { ...metric(i * 10), session_h: `probe-${fresh()}` },
        }),
      },
      // A retried post (identical metric stored already): skipped by the insert itself, nothing written.
      {
        group: "write",
        label: "POST /metrics/ (one, a retry)",
        req: () => ({ method: "POST", path: `${V1}/metrics/`, body: metric(0) }),
      },
      {
        group: "write",
        label: "POST /contexts/ (new)",
        req: () => ({ method: "POST", path: `${V1}/contexts/`, body: { ...context(0), h: md5(fresh()) } }),
      },
      {
        group: "write",
        label: "POST /metrics/ (array of 1000)",
        samples: 1,
        req: () => {
          const tag = fresh();
          return {
            method: "POST",
            path: `${V1}/metrics/`,
            body: Array.from({ length: 1000 }, (_, k) => ({ ...metric(k), session_h: `probe-${tag}` })),
          };
        },
      },
      {
        group: "write",
        label: "POST /sessions/",
        req: () => ({ method: "POST", path: `${V1}/sessions/`, body: { ...session(0), session_h: md5(fresh()) } }),
      },
    ];
  },

  extra: regressionsExtra,

  routes(_ctx) {
    const s = sessionH(0);
    return [
      { label: "GET /api/v1/metrics/count", kind: "read", make: () => ({ path: `${V1}/metrics/count` }) },
      { label: "GET /api/v1/sessions/count", kind: "read", make: () => ({ path: `${V1}/sessions/count` }) },
      {
        label: "GET /api/v1/contexts/<h> (plugin's check)",
        kind: "read",
        make: () => ({ path: `${V1}/contexts/${contextH(0)}` }),
      },
      { label: "GET /api/v1/sessions/ (page 1)", kind: "read", make: () => ({ path: `${V1}/sessions/` }) },
      {
        label: "GET /api/v1/sessions/<h>/metrics",
        kind: "read",
        make: () => ({ path: `${V1}/sessions/${s}/metrics` }),
      },
      { label: "GET /api/v1/metrics/ (page 1, 500 rows)", kind: "read", make: () => ({ path: `${V1}/metrics/` }) },
      {
        label: "GET /api/v1/filters/scope/function/metrics/count",
        kind: "read",
        make: () => ({ path: `${V1}/filters/scope/function/metrics/count` }),
      },
      {
        label: "GET /api/v1/resources/memory/head/10/metrics",
        kind: "read",
        make: () => ({ path: `${V1}/resources/memory/head/10/metrics` }),
      },
      {
        label: "POST /api/v1/metrics/ (one)",
        kind: "write",
        make: (i) => ({ method: "POST", path: `${V1}/metrics/`, body: { ...metric(i), session_h: `load-${fresh()}` } }),
      },
      {
        label: "POST /api/v1/sessions/",
        kind: "write",
        make: () => ({ method: "POST", path: `${V1}/sessions/`, body: { ...session(0), session_h: md5(fresh()) } }),
      },
    ];
  },
};
