// Telemetry at scale (docs/telemetry-storage.md, docs/scale.md): seeds samples spread
// over 60 days ending now, measures D1 size, then fires the archive Cron Trigger
// (`/__scheduled`, wrangler dev --test-scheduled) until nothing older than the hot
// window is left in D1, and measures again: D1 size, R2 objects and bytes, rows read and
// time of a hot query, a cold query and 30 days of hourly statistics.
// Run alone: `npm run bench -- --only telemetry-scale` (it is not part of the full run);
// TELEMETRY_SCALE_SAMPLES sets the size (default 1,000,000), TELEMETRY_SCALE_SEED_MINUTES
// the seeding budget (default 8): past it the bench measures what it seeded and says so.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { inBatches } from "../lib/seed.mjs";

const METERS = [
  ["cpu_util", "gauge", "%"],
  ["memory.usage", "gauge", "MB"],
  ["network.outgoing.bytes", "cumulative", "B"],
  ["disk.read.bytes", "cumulative", "B"],
  ["vcpus", "gauge", "vcpu"],
];
const RESOURCES = 16;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const TARGET = Number(process.env.TELEMETRY_SCALE_SAMPLES ?? 1_000_000);
const BUDGET_MS = Number(process.env.TELEMETRY_SCALE_SEED_MINUTES ?? 8) * 60_000;
const POST = 1000;
const CONCURRENCY = 4;
const HOT_DAYS = 7; // wrangler.toml's TELEMETRY_HOT_DAYS
// 60 days ending at the start of this hour; sample n at T0 + n × STEP.
const END = Math.floor(Date.now() / HOUR) * HOUR;
const T0 = END - 60 * DAY;
const iso = (ms) => new Date(ms).toISOString().replace("Z", "+00:00");

/** 80 series (5 meters × 16 resources, a resource in one of 2 projects), evenly over 60 days. */
function sample(n, step) {
  const [meter, type, unit] = METERS[n % METERS.length];
  const r = Math.floor(n / METERS.length) % RESOURCES;
  return {
    meter,
    type,
    unit,
    volume: (n % 1000) / 8,
    resource_id: `vm-${r}`,
    project_id: `p${r % 2}`,
    user_id: `u${r % 4}`,
    timestamp: iso(T0 + Math.floor(n * step)),
    metadata: { flavor: "m1.small", host: `compute-${r % 4}` },
  };
}

const state = { seeded: 0, seedSeconds: 0, stoppedEarly: false, step: (60 * DAY) / TARGET, written: 0, posts: 0 };

/** `wrangler d1 execute` on the dev server's local state: the first result's rows. */
function d1(service, sqlText) {
  const r = spawnSync(
    "npx",
    ["wrangler", "d1", "execute", "DB", "--local", "--persist-to", service.state, "--json", "--command", sqlText],
    { encoding: "utf8", env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" }, maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`d1 execute failed: ${r.stderr.slice(0, 300)}`);
  return JSON.parse(r.stdout)[0].results;
}

/**
 * PRAGMA page_count, page_size and freelist_count of the local D1 database. D1 refuses
 * these pragmas (SQLITE_AUTH), so they are read from its SQLite file, read-only, with
 * Debian's sqlite3.
 */
function pragmas(service) {
  const dir = path.join(service.state, "v3", "d1", "miniflare-D1DatabaseObject");
  const file = readdirSync(dir).find((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  const r = spawnSync(
    "sqlite3",
    ["-readonly", path.join(dir, file), "pragma page_count; pragma page_size; pragma freelist_count;"],
    {
      encoding: "utf8",
    },
  );
  if (r.status !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
  const [page_count, page_size, freelist_count] = r.stdout.trim().split("\n").map(Number);
  return { page_count, page_size, freelist_count };
}

function storage(service) {
  const { page_count, page_size, freelist_count } = pragmas(service);
  const [counts] = d1(
    service,
    `select (select coalesce(sum(n), 0) from telemetry_chunks) as samples, (select count(*) from telemetry_chunks) as chunks,
      (select count(*) from telemetry_series) as series, (select count(*) from telemetry_series_metadata) as metadata,
      (select count(*) from telemetry_rollups where width = 3600) as hours,
      (select count(*) from telemetry_archive) as objects, (select coalesce(sum(bytes), 0) from telemetry_archive) as objectBytes,
      (select coalesce(sum(n), 0) from telemetry_archive) as coldSamples`,
  );
  return {
    bytes: page_count * page_size,
    usedBytes: (page_count - freelist_count) * page_size,
    pageSize: page_size,
    ...counts,
    r2Disk: service.r2Bytes(),
  };
}

/** Rows read (Server-Timing), median time of 3 calls, rows answered. */
async function measure(api, path) {
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await api.send({ path }));
  const last = runs.at(-1);
  if (!last.ok) return { path, error: `${last.status} ${last.text.slice(0, 120)}` };
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b)[1];
  return {
    path,
    read: last.cost.read,
    queries: last.cost.queries,
    ms,
    rows: Array.isArray(last.json) ? last.json.length : 0,
    body: last.text,
  };
}

const q = (...conds) => conds.map(([f, op, v]) => `q.field=${f}&q.op=${op}&q.value=${encodeURIComponent(v)}`).join("&");
const HOT_FROM = Math.floor(END / DAY) * DAY - HOT_DAYS * DAY;
const COLD_DAY = HOT_FROM - 20 * DAY;
const STATS_FROM = END - 30 * DAY;
const queries = [
  [
    "hot: cpu_util of p0, last day, 100 newest",
    `/v2/samples?${q(["meter", "eq", "cpu_util"], ["project_id", "eq", "p0"], ["timestamp", "ge", iso(END - DAY)])}&limit=100`,
  ],
  [
    "cold: cpu_util of vm-3, 6 hours 27 days ago, 100 newest",
    `/v2/samples?${q(["meter", "eq", "cpu_util"], ["resource_id", "eq", "vm-3"], ["timestamp", "ge", iso(COLD_DAY)], ["timestamp", "lt", iso(COLD_DAY + 6 * HOUR)])}&limit=100`,
  ],
  [
    "statistics: cpu_util, 30 days hourly (period=3600, aligned)",
    `/v2/meters/cpu_util/statistics?period=3600&${q(["timestamp", "ge", iso(STATS_FROM)], ["timestamp", "lt", iso(END)])}`,
  ],
  [
    "statistics: cpu_util, 30 days, period=3599 (unaligned: chunks hot, objects cold)",
    `/v2/meters/cpu_util/statistics?period=3599&${q(["timestamp", "ge", iso(STATS_FROM)], ["timestamp", "lt", iso(END)])}`,
  ],
];

/**
 * Fires the Cron Trigger: `/__scheduled` (wrangler dev --test-scheduled) needs wrangler to
 * bundle the Worker, and bench/lib/server.mjs runs a prebuilt bundle with --no-bundle, so
 * miniflare's own `/cdn-cgi/handler/scheduled` answers there instead.
 */
async function fireCron(baseUrl) {
  const cron = `cron=${encodeURIComponent("*/10 * * * *")}`;
  const res = await fetch(`${baseUrl}/__scheduled?${cron}`);
  return res.status === 404 ? fetch(`${baseUrl}/cdn-cgi/handler/scheduled?${cron}`) : res;
}

const mib = (b) => (b / (1 << 20)).toFixed(1);
const num = (x) => Number(x).toLocaleString("en-US");

export default {
  name: "telemetry-scale",
  title: "Telemetry at scale: 60 days of samples, hot D1 and cold R2",
  unit: "samples",
  /** Only when named (`--only telemetry-scale`); its own results file; the cron's logged report. */
  optIn: true,
  /** One shard: its sizes are read from the main DB's SQLite file (pragmas below). */
  vars: { SHARDS: "DB" },
  workerLogs: true,
  out: "RESULTS-telemetry-scale.md",
  sizes: { quick: [Math.min(TARGET, 20_000)], full: [TARGET] },
  notes: [],
  async seed(ctx, from, to) {
    state.step = (60 * DAY) / to;
    const t0 = Date.now();
    const posts = Math.ceil((to - from) / POST);
    let done = 0;
    await inBatches(0, posts, 1, CONCURRENCY, async (i) => {
      if (Date.now() - t0 > BUDGET_MS) {
        state.stoppedEarly = true;
        return;
      }
      const start = from + i * POST;
      const body = Array.from({ length: Math.min(POST, to - start) }, (_, k) => sample(start + k, state.step));
      const r = await ctx.api.must({ method: "POST", path: "/v2/samples", body });
      state.seeded += body.length;
      state.written += r.cost.written;
      state.posts += 1;
      if (++done % 50 === 0)
        ctx.log(`telemetry-scale: ${num(state.seeded)} samples in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    });
    state.seedSeconds = (Date.now() - t0) / 1000;
  },
  probes: () => [],
  routes: () => [],
  async extra(ctx) {
    const { api, service, log } = ctx;
    const before = storage(service);
    log(`telemetry-scale: D1 ${mib(before.bytes)} MiB with ${num(before.samples)} samples`);
    const hot = [];
    for (const [label, path] of queries) hot.push({ label, ...(await measure(api, path)) });

    const runs = [];
    const cutoff = HOT_FROM * 1000;
    for (let i = 0; i < 50; i++) {
      const [{ left }] = d1(
        service,
        `select coalesce(sum(n), 0) as left from telemetry_chunks where bucket < ${cutoff}`,
      );
      if (!left) break;
      const t0 = performance.now();
      const mark = service.output().length;
      const res = await fireCron(service.baseUrl);
      await res.text();
      // The handler logs its report (src/telemetry/archive-cron.ts) when wrangler shows Worker logs.
      await new Promise((r) => setTimeout(r, 500));
      const report = [
        ...service
          .output()
          .slice(Math.max(0, mark - 10))
          .matchAll(/\{"telemetryArchive":(\{[^}]*\})\}/g),
      ]
        .map((m) => JSON.parse(m[1]))
        .at(-1);
      runs.push({ seconds: (performance.now() - t0) / 1000, status: res.status, left, report });
      log(
        `telemetry-scale: cron run ${i + 1}: ${res.status} in ${runs.at(-1).seconds.toFixed(1)} s (${num(left)} old samples were in D1)`,
      );
    }
    const after = storage(service);
    const cold = [];
    for (const [label, path] of queries) cold.push({ label, ...(await measure(api, path)) });

    const seeded = state.seeded;
    const extrapolated = state.stoppedEarly
      ? `Seeding stopped at the ${BUDGET_MS / 60_000}-minute budget: ${num(seeded)} of ${num(TARGET)} samples, spread over ${((seeded * state.step) / DAY).toFixed(1)} of the 60 days. Per-sample sizes below scale linearly; at ${num(TARGET)} samples D1 would hold ≈ ${mib((before.bytes / seeded) * TARGET)} MiB before the move.`
      : `Seeded all ${num(seeded)} samples.`;
    const same = hot.map((h, i) => h.body === cold[i].body);
    const rows = (list) =>
      list.map((m, i) => [
        m.label,
        m.error ?? num(m.rows),
        m.error ? "—" : num(m.read),
        m.error ? "—" : String(m.queries),
        m.error ? "—" : m.ms.toFixed(0),
        i < same.length && list === cold ? (same[i] ? "same as before the move" : "DIFFERS") : "",
      ]);
    const perSample = (b, n) => (n ? (b / n).toFixed(0) : "—");
    return [
      {
        family: "telemetry-scale",
        title: "Seeding and the archive cron",
        headers: ["what", "value"],
        rows: [
          [
            "samples seeded",
            `${num(seeded)} (80 series: 5 meters × 16 resources, 2 projects; one sample per series every ${((state.step * 80) / 60_000).toFixed(1)} min; 1000 per post, ${CONCURRENCY} posts at a time)`,
          ],
          [
            "seeding time",
            `${state.seedSeconds.toFixed(0)} s (${num(Math.round(seeded / state.seedSeconds))} samples/s)`,
          ],
          ["cron runs", `${runs.length}: ${runs.map((r) => `${r.seconds.toFixed(1)} s`).join(", ")}`],
          ["D1 rows written per sample posted (Server-Timing of the posts)", (state.written / seeded).toFixed(1)],
          ...(() => {
            const reports = runs.map((r) => r.report).filter(Boolean);
            if (!reports.length)
              return [["D1 rows written per sample moved", "not seen: wrangler did not print the cron's report"]];
            const moved = reports.reduce((n, r) => n + r.moved, 0);
            const written = reports.reduce((n, r) => n + (r.rowsWritten ?? 0), 0);
            const objects = reports.reduce((n, r) => n + r.objects, 0);
            return [
              ["samples moved, objects written (the cron's reports)", `${num(moved)}, ${num(objects)}`],
              ["D1 rows written per sample moved (the cron's reports)", (written / Math.max(1, moved)).toFixed(1)],
            ];
          })(),
          ["hot window", `${HOT_DAYS} days (TELEMETRY_HOT_DAYS): samples before ${iso(HOT_FROM)} move`],
        ],
        notes: [extrapolated],
      },
      {
        family: "telemetry-scale",
        title: "D1 and R2, before and after the move",
        headers: ["", "before", "after"],
        rows: [
          ["D1 size (page_count × page_size)", `${mib(before.bytes)} MiB`, `${mib(after.bytes)} MiB`],
          [
            "D1 pages in use ((page_count − freelist_count) × page_size)",
            `${mib(before.usedBytes)} MiB`,
            `${mib(after.usedBytes)} MiB`,
          ],
          ["hot samples in D1 (sum of the chunks' counts)", num(before.samples), num(after.samples)],
          ["chunks (one per series and hour)", num(before.chunks), num(after.chunks)],
          [
            "series, and their metadata index rows",
            `${num(before.series)}, ${num(before.metadata)}`,
            `${num(after.series)}, ${num(after.metadata)}`,
          ],
          ["hour rollups (the moved chunks' summaries)", num(before.hours), num(after.hours)],
          [
            "D1 bytes per raw sample held (pages in use / samples)",
            perSample(before.usedBytes, before.samples),
            perSample(after.usedBytes, after.samples),
          ],
          ["R2 objects (telemetry_archive rows)", num(before.objects), num(after.objects)],
          ["R2 bytes (sum of object sizes)", `${mib(before.objectBytes)} MiB`, `${mib(after.objectBytes)} MiB`],
          ["R2 bytes per cold sample", "—", perSample(after.objectBytes, after.coldSamples)],
          ["local R2 store on disk", `${mib(before.r2Disk)} MiB`, `${mib(after.r2Disk)} MiB`],
        ],
        notes: [
          "SQLite keeps freed pages in the file (freelist) until VACUUM: the file does not shrink after the move, the pages in use do, and new samples reuse the free pages.",
        ],
      },
      {
        family: "telemetry-scale",
        title: "Queries before the move (all hot) and after (cold in R2)",
        headers: ["query", "rows answered", "rows read", "D1 queries", "ms (median of 3)", ""],
        rows: [
          ...rows(hot).map((r) => [`before: ${r[0]}`, ...r.slice(1)]),
          ...rows(cold).map((r) => [`after: ${r[0]}`, ...r.slice(1)]),
        ],
        notes: queries.map(([label, path]) => `- ${label}: \`${path}\``),
      },
    ];
  },
};
