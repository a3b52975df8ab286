// Shards (docs/deploy.md, "Shards"): the same data and requests on two shards (wrangler.toml's
// SHARDS = "DB,SHARD_1") beside one (SHARDS = "DB", a second wrangler dev), so each request's
// D1 round trips, rows read and written are compared layout by layout, and the fan-out cost of
// an admin page (every shard read and merged) stands beside a one-project page.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { client, load, sampleCost } from "../lib/measure.mjs";
import { inBatches } from "../lib/seed.mjs";
import { startService } from "../lib/server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const PROJECTS = Array.from({ length: 8 }, (_, i) => `shard-bench-${i}`);
const METERS = ["cpu_util", "memory.usage", "disk.read.bytes"];
const T0 = Date.UTC(2026, 0, 1);
const iso = (ms) => new Date(ms).toISOString().replace("Z", "+00:00");
/** pytest-monitor's own form: no zone, microseconds. */
const plain = (ms) => new Date(ms).toISOString().replace("Z", "000").slice(0, 26);
/** Samples seeded per layout, 1,000 a post, spread over the projects. */
const SAMPLES = { quick: 8_000, full: 80_000 };
const MONITOR_SESSIONS = 4;
const METRICS_PER_SESSION = 250;

function sample(n) {
  const project = PROJECTS[n % PROJECTS.length];
  const r = Math.floor(n / PROJECTS.length) % 20;
  return {
    meter: METERS[n % METERS.length],
    type: "gauge",
    unit: "%",
    volume: (n % 1000) / 10,
    resource_id: `${project}-vm-${r}`,
    project_id: project,
    user_id: "u1",
    source: "openstack",
    timestamp: iso(T0 + n * 1000),
    metadata: { flavor: "m1.small" },
  };
}

const session = (project, s) => ({
  session_h: `${project}-session-${s}`,
  run_date: plain(T0 + s * 60_000),
  scm_ref: `ref-${s}`,
  description: { pipeline_branch: "main", pipeline_build_no: String(s) },
});
const context = (project) => ({
  h: `${project}-ctx`,
  cpu_count: 2,
  cpu_frequency: 2000,
  cpu_type: "x86_64",
  cpu_vendor: "bench",
  ram_total: 4096,
  machine_node: "bench",
  machine_type: "x86_64",
  machine_arch: "64bit",
  system_info: "Linux",
  python_info: "3.11",
});
const metric = (project, s, i) => ({
  session_h: `${project}-session-${s}`,
  context_h: `${project}-ctx`,
  item_start_time: plain(T0 + s * 60_000 + i * 10),
  item_path: `tests.test_${i % 50}`,
  item: `test_${i % 50}`,
  item_variant: `test_${i % 50}`,
  item_fs_loc: "tests/test_bench.py",
  kind: "function",
  component: "",
  total_time: 0.1 + (i % 7) / 100,
  user_time: 0.05,
  kernel_time: 0.01,
  cpu_usage: 0.5,
  mem_usage: 20 + (i % 5),
});

async function seed(api, quick) {
  const total = SAMPLES[quick ? "quick" : "full"];
  await inBatches(0, total / 1000, 1, 4, async (i) => {
    const body = Array.from({ length: 1000 }, (_, k) => sample(i * 1000 + k));
    await api.must({ method: "POST", path: "/v2/samples", body });
  });
  for (const project of PROJECTS.slice(0, 2)) {
    const base = `/projects/${project}/api/v1`;
    await api.must({ method: "POST", path: `${base}/contexts/`, body: context(project) });
    for (let s = 0; s < MONITOR_SESSIONS; s++) {
      await api.must({ method: "POST", path: `${base}/sessions/`, body: session(project, s) });
      const body = Array.from({ length: METRICS_PER_SESSION }, (_, i) => metric(project, s, i));
      await api.must({ method: "POST", path: `${base}/metrics/`, body });
    }
  }
  return total;
}

const q = (field, value) => `q.field=${field}&q.op=eq&q.value=${encodeURIComponent(value)}`;
/** The `rel="next"` link of a response. */
const nextOf = (headers) => /<([^>]+)>;\s*rel="next"/.exec(headers.get("link") ?? "")?.[1];

/** The requests compared, each `{ label, req(i) }`; `multi` is a user token with two projects. */
function requests(api, multi) {
  // Each write route posts from its own day, a sample a second: the sampled requests (made
  // before the load) meet the same series and hours in both layouts, however fast the load ran.
  const from = (day) => {
    let n = 0;
    return (project) => ({
      ...sample(n),
      project_id: project,
      timestamp: iso(Date.UTC(2026, 5, day) + n++ * 1000),
    });
  };
  const one = from(1);
  const eight = from(2);
  const burst = from(3);
  let m = 0;
  return [
    { label: "floor: `GET /health/d1` (one primary-key read)", req: () => ({ path: "/health/d1", noAuth: true }) },
    {
      label: "POST one sample, one project",
      write: true,
      req: () => ({ method: "POST", path: "/v2/samples", body: [one(PROJECTS[0])] }),
    },
    {
      label: "POST 8 samples, one in each of 8 projects (admin)",
      write: true,
      req: () => ({ method: "POST", path: "/v2/samples", body: PROJECTS.map((p) => eight(p)) }),
    },
    {
      label: "POST 1,000 samples, one project, 100 series",
      write: true,
      req: () => ({
        method: "POST",
        path: "/v2/samples",
        body: Array.from({ length: 1000 }, (_, k) => ({
          ...burst(PROJECTS[0]),
          resource_id: `burst-${k % 100}`,
        })),
      }),
    },
    {
      label: "GET 100 samples of one project (`q.field=project_id`)",
      req: () => ({ path: `/v2/samples?${q("project_id", PROJECTS[1])}&limit=100` }),
    },
    { label: "GET 100 samples, admin, every project (fan-out)", req: () => ({ path: "/v2/samples?limit=100" }) },
    {
      label: "GET 100 samples, token of two projects",
      req: () => ({ path: "/v2/samples?limit=100", headers: { authorization: `Bearer ${multi}` } }),
    },
    {
      label: "GET the `next` page of the admin list",
      resolve: async () => {
        const first = await api.must({ path: "/v2/samples?limit=100" });
        return { path: nextOf(first.headers) };
      },
    },
    { label: "GET /v2/meters, admin (fan-out)", req: () => ({ path: "/v2/meters?limit=100" }) },
    {
      label: "statistics of one meter, one project, period 1 h",
      req: () => ({ path: `/v2/meters/cpu_util/statistics?${q("project_id", PROJECTS[1])}&period=3600` }),
    },
    {
      label: "statistics of one meter, admin, every project (fan-out)",
      req: () => ({ path: "/v2/meters/cpu_util/statistics?period=3600" }),
    },
    {
      label: "monitor: POST one metric (the plugin's request)",
      write: true,
      req: () => ({
        method: "POST",
        path: `/projects/${PROJECTS[0]}/api/v1/metrics/`,
        body: metric(PROJECTS[0], 0, 100_000 + m++),
      }),
    },
    {
      label: "monitor: GET a session's metrics",
      req: () => ({ path: `/projects/${PROJECTS[1]}/api/v1/sessions/${PROJECTS[1]}-session-1/metrics` }),
    },
    {
      label: "dashboard: monitor projects, admin (fan-out)",
      req: () => ({ path: "/dashboard/api/monitor-projects" }),
    },
  ];
}

/** D1 list prices: $0.001 per million rows read, $1.00 per million rows written. */
const dollarsPerMillion = (c) => c.read * 0.001 + c.written * 1.0;

async function measureLayout(ctx, api, label) {
  const { log, quick, seconds, connections } = ctx;
  const t0 = Date.now();
  const samples = await seed(api, quick);
  log(`shards (${label}): seeded ${samples} samples and ${2 * MONITOR_SESSIONS * METRICS_PER_SESSION} metrics`);
  const minted = await api.must({
    method: "POST",
    path: "/auth/tokens",
    body: { user: "bench-multi", role: "user", projects: [PROJECTS[1], PROJECTS[2]], groups: [] },
  });
  const placement = await api.send({ path: "/admin/shards" });
  const out = new Map();
  let floorRps = null;
  for (const r of requests(api, minted.json.token)) {
    const make = r.resolve ? await r.resolve().then((req) => () => req) : r.req;
    const cost = await sampleCost(api, make, 3);
    const loaded = await load(api, make, { connections, seconds, warmup: quick ? 0 : 1 });
    if (floorRps === null) floorRps = loaded.rps;
    out.set(r.label, { ...cost, rps: loaded.rps, floorRatio: loaded.rps / floorRps, non2xx: loaded.non2xx });
    log(`shards (${label}): ${r.label}: ${loaded.rps.toFixed(0)} req/s, read ${cost.read}, written ${cost.written}`);
  }
  return { results: out, seconds: (Date.now() - t0) / 1000, placement: placement.ok ? placement.json : null };
}

export default {
  name: "shards",
  title: "Shards: two beside one",
  unit: "samples",
  /** Only when named (`--only shards`): it starts a second wrangler dev; its own results file. */
  optIn: true,
  out: "RESULTS-shards.md",
  sizes: { quick: [0], full: [0] },
  notes: [],
  async seed() {},
  probes: () => [],
  routes: () => [],
  async extra(ctx) {
    const two = await measureLayout(ctx, ctx.api, "two shards");
    ctx.log("shards: starting a second wrangler dev with SHARDS=DB");
    const single = await startService({ root, port: 8797, log: ctx.log, vars: { SHARDS: "DB" } });
    let one;
    try {
      one = await measureLayout(ctx, client(single.baseUrl, single.adminToken), "one shard");
    } finally {
      await single.stop();
    }
    const rows = [...two.results.keys()].map((label) => {
      const a = one.results.get(label);
      const b = two.results.get(label);
      const cell = (c) =>
        c.ok
          ? [
              String(c.roundTrips ?? "?"),
              String(c.read),
              String(c.written),
              c.ms.toFixed(2),
              `${c.floorRatio.toFixed(2)}×`,
              `$${dollarsPerMillion(c).toFixed(2)}`,
            ]
          : [`${c.status}`, "", "", "", "", ""];
      return [label, ...cell(a), ...cell(b)];
    });
    const split = two.placement?.shards
      ? two.placement.shards.map((s) => `${s.shard ?? s.name}: ${s.projects ?? s.count ?? "?"} projects`).join(", ")
      : "not reported";
    return [
      {
        title: "Rows and round trips per request: one shard beside two",
        headers: [
          "request",
          "1 shard: D1 round trips",
          "rows read",
          "rows written",
          "D1 ms",
          "req/s ÷ floor",
          "$ / M requests",
          "2 shards: D1 round trips",
          "rows read",
          "rows written",
          "D1 ms",
          "req/s ÷ floor",
          "$ / M requests",
        ],
        rows,
        notes: [
          `Each layout seeded the same ${SAMPLES[ctx.quick ? "quick" : "full"].toLocaleString("en-US")} samples in ${PROJECTS.length} projects (1,000 a post) and ${2 * MONITOR_SESSIONS * METRICS_PER_SESSION} monitor metrics in two projects; then each request was sampled 3 times (medians from Server-Timing, which sums every shard a request touched) and driven for ${ctx.seconds} s at ${ctx.connections} connections. "D1 ms" is D1's own time for the request (statement durations summed, all shards): a write's share of its database's one writer. "req/s ÷ floor" is against \`GET /health/d1\` measured first in the same layout. Dollars: D1 list prices, $0.001 per million rows read and $1.00 per million rows written.`,
          `Two shards: ${split}. Seeding took ${one.seconds.toFixed(0)} s (one shard) and ${two.seconds.toFixed(0)} s (two).`,
        ],
      },
    ];
  },
};
