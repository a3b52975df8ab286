// Telemetry alarms (docs/api/alarms.md, "Rows read per evaluation"): seeds samples of
// 5 meters on 20 resources (100 series) in one project over the 6 days before END, then
// creates one alarm at a time and fires the alarm Cron Trigger at END
// (`/cdn-cgi/handler/scheduled?cron=* * * * *&time=END`: only that alarm is due), and
// reads the D1 rows its evaluation read from the cron's logged report.
// Run alone: `npm run bench -- --only alarms`; ALARMS_BENCH_SAMPLES sets the size
// (default 1,000,000), ALARMS_BENCH_SEED_MINUTES the seeding budget (default 8): past it
// the bench measures what it seeded and says so.
import { inBatches } from "../lib/seed.mjs";

const METERS = ["cpu_util", "memory.usage", "disk.read.bytes", "network.incoming.bytes", "vcpus"];
const RESOURCES = 20;
const MINUTE = 60_000;
const DAY = 86_400_000;
const TARGET = Number(process.env.ALARMS_BENCH_SAMPLES ?? 1_000_000);
const BUDGET_MS = Number(process.env.ALARMS_BENCH_SEED_MINUTES ?? 8) * 60_000;
const POST = 1000;
const CONCURRENCY = 4;
// The samples end at END, half an hour ahead, so the alarms created during the run are due there.
const END = Math.floor(Date.now() / MINUTE) * MINUTE + 30 * MINUTE;
const SPAN = 6 * DAY;
const PROJECT = "bench-alarms";
const iso = (ms) => new Date(ms).toISOString().replace("Z", "+00:00");
const num = (x) => Number(x).toLocaleString("en-US");
const state = { seeded: 0, seconds: 0, stoppedEarly: false };

/** Sample n: series n % 100, evenly over [END - SPAN, END), the newest last. */
function sample(n, total) {
  const series = n % (METERS.length * RESOURCES);
  return {
    meter: METERS[series % METERS.length],
    type: "gauge",
    unit: "%",
    volume: 40 + (n % 50),
    resource_id: `vm-${Math.floor(series / METERS.length)}`,
    project_id: PROJECT,
    timestamp: iso(END - SPAN + Math.floor((n * SPAN) / total)),
    metadata: { flavor: n % 2 ? "m1.small" : "m1.large" },
  };
}

const rule = (over) => ({
  meter_name: "cpu_util",
  threshold: 70,
  comparison_operator: "gt",
  statistic: "avg",
  ...over,
});
const ALARMS = [
  [
    "one resource, period 60 s × 3",
    rule({ period: 60, evaluation_periods: 3, query: [{ field: "resource_id", value: "vm-1" }] }),
  ],
  ["whole project (20 series), period 60 s × 3", rule({ period: 60, evaluation_periods: 3 })],
  ["whole project, period 600 s × 3", rule({ period: 600, evaluation_periods: 3 })],
  ["whole project, period 3600 s × 2", rule({ period: 3600, evaluation_periods: 2 })],
  [
    "one resource, metadata query, period 60 s × 3",
    rule({
      period: 60,
      evaluation_periods: 3,
      query: [
        { field: "resource_id", value: "vm-1" },
        { field: "metadata.flavor", value: "m1.small" },
      ],
    }),
  ],
];

export default {
  name: "alarms",
  title: "Telemetry alarms: D1 rows read per evaluation",
  unit: "samples",
  /** Only when named (`--only alarms`); its own results file; the cron's logged report. */
  optIn: true,
  workerLogs: true,
  out: "RESULTS-alarms.md",
  sizes: { quick: [Math.min(TARGET, 20_000)], full: [TARGET] },
  notes: [],
  async seed(ctx, from, to) {
    const t0 = Date.now();
    await inBatches(0, Math.ceil((to - from) / POST), 1, CONCURRENCY, async (i) => {
      if (Date.now() - t0 > BUDGET_MS) {
        state.stoppedEarly = true;
        return;
      }
      const start = from + i * POST;
      const body = Array.from({ length: Math.min(POST, to - start) }, (_, k) => sample(start + k, to));
      await ctx.api.must({ method: "POST", path: "/v2/samples", body });
      state.seeded += body.length;
      if (state.seeded % 50_000 === 0)
        ctx.log(`alarms: ${num(state.seeded)} samples in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    });
    state.seconds = (Date.now() - t0) / 1000;
  },
  probes: () => [],
  routes: () => [],
  async extra(ctx) {
    const { api, service, log } = ctx;
    const rows = [];
    for (const [i, [label, threshold_rule]] of ALARMS.entries()) {
      const created = await api.must({
        method: "POST",
        path: "/v2/alarms",
        body: { name: `bench-${i}`, type: "threshold", project_id: PROJECT, threshold_rule },
      });
      const mark = service.output().length;
      const res = await fetch(
        `${service.baseUrl}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent("* * * * *")}&time=${END}`,
      );
      await res.text();
      await new Promise((r) => setTimeout(r, 500));
      const report = [
        ...service
          .output()
          .slice(Math.max(0, mark - 10))
          .matchAll(/\{"alarmCron":(\{.*?"rowsReadMax":\d+\})\}/g),
      ]
        .map((m) => JSON.parse(m[1]))
        .at(-1);
      const alarm = (await api.must({ path: `/v2/alarms/${created.json.alarm_id}` })).json;
      const evaluated = report?.evaluated ?? 0;
      rows.push([
        label,
        String(evaluated),
        evaluated === 1 ? num(report.rowsReadMax) : "—",
        alarm.state,
        alarm.state_reason,
      ]);
      log(`alarms: ${label}: ${evaluated} evaluated, ${report?.rowsReadMax ?? "?"} rows read, ${alarm.state}`);
    }
    const perSeries = state.seeded / (METERS.length * RESOURCES);
    return [
      {
        family: "alarms",
        title: `Rows read by one evaluation, ${num(state.seeded)} samples in D1`,
        headers: ["alarm", "evaluated", "D1 rows read", "state", "reason"],
        rows,
        notes: [
          `${num(state.seeded)} samples (${state.stoppedEarly ? `seeding stopped at the ${BUDGET_MS / 60_000}-minute budget, of ${num(TARGET)}` : "all"}) of 100 series (5 meters × 20 resources, one project) over 6 days: ≈ ${num(perSeries / (SPAN / MINUTE))} samples per series and minute, seeded in ${state.seconds.toFixed(0)} s.`,
          "Rows read are the D1 rows of the evaluation's statistics (the Worker's own count, `rowsReadMax` of the cron's report with one alarm due), not the claim or the state write. The statistics come from the chunk rows of the matching series (one row per series and hour, docs/telemetry-storage.md): the series the query selects, then their chunks overlapping the window, so the rows read are about series × hours of the window (plus the series rows and a few index probes), whatever the period; a chunk inside one period answers from its summary, one that straddles a period edge is read sample by sample from that one row. A query on one resource reads that resource's series only; a metadata condition narrows the series first.",
        ],
      },
    ];
  },
};
