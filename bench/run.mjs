#!/usr/bin/env node
// `npm run bench`: starts OpsHub under a real `wrangler dev` with fresh local
// state, seeds every API family at growing sizes through its own bulk routes, samples
// the D1 cost of each route at each size (Server-Timing), drives the main routes with
// autocannon at fixed concurrency against a bare GET /health measured in the same run,
// and writes bench/RESULTS.md.
//
//   npm run bench                 full run (about 18 min on 2 cores, under 20)
//   npm run bench -- --quick      small sizes, short runs (development); writes bench/.work/RESULTS.quick.md
//   npm run bench -- --only shards  two shards beside one (a second wrangler dev); writes bench/RESULTS-shards.md
//   options: --only monitor,logs  --port 8795  --seconds 5  --connections 10  --big-mib 100  --out FILE
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import alarms from "./families/alarms.mjs";
import daemon from "./families/daemon.mjs";
import logs from "./families/logs.mjs";
import monitor from "./families/monitor.mjs";
import scheduler from "./families/scheduler.mjs";
import shards from "./families/shards.mjs";
import telemetry from "./families/telemetry.mjs";
import telemetryScale from "./families/telemetry-scale.mjs";
import { client, load, sampleCost } from "./lib/measure.mjs";
import { render } from "./lib/report.mjs";
import { startService } from "./lib/server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    port: { type: "string", default: "8795" },
    seconds: { type: "string" },
    connections: { type: "string", default: "10" },
    out: { type: "string" },
    "big-mib": { type: "string" },
  },
});
const quick = opts.quick;
const seconds = Number(opts.seconds ?? (quick ? 2 : 5));
const connections = Number(opts.connections);
const all = [monitor, telemetry, logs, daemon, scheduler, telemetryScale, alarms, shards];
// An opt-in family runs only when named, and a family run alone may name its own file.
const families = opts.only ? all.filter((f) => opts.only.split(",").includes(f.name)) : all.filter((f) => !f.optIn);
const own = families.length === 1 ? families[0].out : undefined;
const out =
  opts.out ??
  (quick
    ? path.join(root, "bench", ".work", own ?? "RESULTS.quick.md")
    : path.join(root, "bench", own ?? "RESULTS.md"));

const started = Date.now();
const log = (msg) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}`);
const errorText = (e) =>
  String(e?.message ?? e)
    .split("\n")[0]
    .slice(0, 200);

// A family that reads the Worker's own logs (the cron's report) asks wrangler to print them.
const service = await startService({
  root,
  port: Number(opts.port),
  log,
  logLevel: families.some((f) => f.workerLogs) ? "log" : "warn",
  // A family may need vars of its own (telemetry-scale: one shard).
  vars: Object.assign({}, ...families.map((f) => f.vars ?? {})),
});
const stop = () => service.stop();
process.on("SIGINT", () => stop().then(() => process.exit(130)));
process.on("SIGTERM", () => stop().then(() => process.exit(143)));

const api = client(service.baseUrl, service.adminToken);
const ctx = {
  api,
  service,
  quick,
  log,
  seconds,
  connections,
  bigMiB: opts["big-mib"] ? Number(opts["big-mib"]) : undefined,
};
const results = {
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
  date: new Date().toISOString(),
  cores: availableParallelism(),
  cpu: cpus()[0]?.model ?? "?",
  node: process.version,
  wrangler: (() => {
    try {
      return JSON.parse(readFileSync(path.join(root, "node_modules", "wrangler", "package.json"), "utf8")).version;
    } catch {
      return "?";
    }
  })(),
  seconds,
  connections,
  families: [],
  baseline: [],
  extras: [],
};

/** Runs one route under load, after sampling its D1 cost; an error answer is reported, not thrown. */
async function measureRoute(route) {
  const row = { label: route.label, kind: route.kind };
  try {
    await route.prepare?.();
    const sample = await sampleCost(api, (i) => route.make(1_000_000 + i), route.samples ?? 2);
    row.read = sample.read;
    row.written = sample.written;
    row.queries = sample.queries;
    row.roundTrips = sample.roundTrips;
    row.records = route.records ?? sample.records;
    if (!sample.ok) {
      row.error = `${sample.status} ${sample.error ?? ""}`.trim();
      return row;
    }
    const r = await load(api, route.make, {
      connections,
      seconds,
      warmup: quick ? 0 : 1,
      countD1: route.kind === "write" || route.countD1,
    });
    Object.assign(row, {
      rps: r.rps,
      p50: r.p50,
      p99: r.p99,
      total: r.total,
      non2xx: r.non2xx,
      statusCodes: r.statusCodes,
    });
    if (r.d1)
      Object.assign(row, {
        read: r.d1.read,
        written: r.d1.written,
        queries: r.d1.queries,
        roundTrips: r.d1.roundTrips,
        d1Totals: r.d1,
        d1FromLoad: true,
      });
  } catch (e) {
    row.error = errorText(e);
  }
  return row;
}

/** The one-query floor: a single primary-key read, no token (src/index.ts). */
const FLOOR = { path: "/health/d1", noAuth: true };

/**
 * Bare `GET /health`, then the floor `GET /health/d1`, at the same load: every route is
 * reported against both, measured at the same moment of the run.
 */
async function healthBaseline(when) {
  const r = await load(api, () => ({ path: "/health" }), { connections, seconds, warmup: quick ? 0 : 1 });
  const b = { when, rps: r.rps, p50: r.p50, p99: r.p99, non2xx: r.non2xx };
  try {
    const cost = await sampleCost(api, FLOOR, 2);
    if (!cost.ok) throw new Error(`${cost.status} ${cost.error ?? ""}`);
    const f = await load(api, () => FLOOR, { connections, seconds, warmup: quick ? 0 : 1 });
    b.floor = {
      rps: f.rps,
      p50: f.p50,
      p99: f.p99,
      non2xx: f.non2xx,
      read: cost.read,
      written: cost.written,
      queries: cost.queries,
      roundTrips: cost.roundTrips,
    };
  } catch (e) {
    b.floor = { error: errorText(e) };
  }
  results.baseline.push(b);
  log(
    `GET /health ${when}: ${r.rps.toFixed(0)} req/s; GET /health/d1: ${b.floor.error ?? `${b.floor.rps.toFixed(0)} req/s`}`,
  );
  return b;
}

/**
 * A user token against the admin token on the same route (`GET /auth/whoami`, which does
 * nothing but resolve the caller): once an isolate has seen a token it costs no D1 query.
 */
async function tokenCost(baseline) {
  const title = "Tokens: a user token costs what the admin token costs";
  try {
    const minted = await api.must({
      method: "POST",
      path: "/auth/tokens",
      body: { user: "bench-user", role: "user", projects: ["p0"], groups: [] },
    });
    const callers = [
      ["admin token (`ADMIN_TOKEN`, no record)", {}],
      ["user token (a D1 record, kept by the isolate once seen)", { authorization: `Bearer ${minted.json.token}` }],
    ];
    const rows = [];
    for (const [label, headers] of callers) {
      const req = () => ({ path: "/auth/whoami", headers });
      const cold = await sampleCost(api, req, 1);
      const r = await load(api, req, { connections, seconds, warmup: quick ? 0 : 1, countD1: true });
      rows.push([
        label,
        n0(r.rps),
        `${(r.rps / baseline.rps).toFixed(2)}×`,
        String(r.p50),
        String(r.p99),
        String(cold.queries),
        (r.d1?.queries ?? 0).toFixed(3),
        (r.d1?.read ?? 0).toFixed(3),
      ]);
    }
    return {
      title,
      headers: [
        "caller",
        "req/s",
        "× /health (end of run)",
        "p50 ms",
        "p99 ms",
        "D1 queries, first request",
        "D1 queries/req under load",
        "D1 rows read/req under load",
      ],
      rows,
      notes: [
        `\`GET /auth/whoami\` with each token for ${seconds} s at ${connections} connections, right after the last \`/health\` run. A token's record is looked up once per isolate and kept for \`AUTH_CACHE_SECONDS\` (10 s; docs/api/auth.md), so under load a user token costs no more D1 than the admin token.`,
      ],
    };
  } catch (e) {
    return { title, error: errorText(e) };
  }
}
const n0 = (x) => Math.round(x).toLocaleString("en-US");

try {
  // Growth: seed each family size after size and sample what each route reads there.
  for (const family of families) {
    const sizes = family.sizes[quick ? "quick" : "full"];
    const entry = {
      name: family.name,
      title: family.title,
      unit: family.unit,
      notes: family.notes,
      sizes: [],
      seeding: [],
      probes: new Map(),
      routes: [],
      error: null,
    };
    results.families.push(entry);
    try {
      await family.setup?.(ctx);
    } catch (e) {
      entry.error = `setup: ${errorText(e)}`;
    }
    let have = 0;
    for (const size of sizes) {
      const t0 = performance.now();
      try {
        await family.seed(ctx, have, size);
      } catch (e) {
        // Measure what is there, and grow no further.
        entry.error = `seeding ${size} ${family.unit}: ${errorText(e)}`;
        log(`${family.name}: ${entry.error}`);
      }
      const secs = (performance.now() - t0) / 1000;
      entry.seeding.push({ from: have, to: size, seconds: secs, failed: Boolean(entry.error) });
      if (!entry.error) log(`${family.name}: seeded ${size} ${family.unit} (+${size - have} in ${secs.toFixed(1)} s)`);
      have = size;
      entry.sizes.push(size);
      let probes = [];
      try {
        probes = family.probes(ctx);
      } catch (e) {
        entry.error ??= `probes: ${errorText(e)}`;
      }
      for (const probe of probes) {
        const cell = {};
        try {
          const req = probe.resolve ? await probe.resolve() : probe.req;
          const s = await sampleCost(api, typeof req === "function" ? req : () => req, probe.samples ?? 3);
          Object.assign(cell, {
            read: s.read,
            written: s.written,
            queries: s.queries,
            roundTrips: s.roundTrips,
            records: s.records,
            status: s.status,
            bytes: s.bytes,
          });
          if (!s.ok) cell.error = `${s.status} ${s.error ?? ""}`.trim();
        } catch (e) {
          cell.error = errorText(e);
        }
        if (!entry.probes.has(probe.label))
          entry.probes.set(probe.label, { label: probe.label, group: probe.group, flat: probe.flat, cells: [] });
        entry.probes.get(probe.label).cells.push(cell);
      }
      if (entry.error) break;
    }
  }

  // Throughput at the largest size. A bare /health run before each family's block (and
  // one at the end) gives each block the baseline of its own moment of the run.
  await load(api, () => ({ path: "/health" }), { connections, seconds: 1 }); // warm-up
  const blocks = results.families;
  for (const entry of blocks) {
    const family = families.find((f) => f.name === entry.name);
    entry.health = [await healthBaseline(`before ${entry.name}`)];
    let routes = [];
    try {
      routes = family.routes(ctx);
    } catch (e) {
      entry.error ??= errorText(e);
    }
    for (const route of routes) {
      const row = await measureRoute(route);
      entry.routes.push(row);
      log(
        `${row.label}: ${row.error ? `error ${row.error}` : `${row.rps.toFixed(0)} req/s, p99 ${row.p99} ms, read ${row.read}, written ${row.written}`}`,
      );
    }
  }
  const last = await healthBaseline("at the end");
  blocks.forEach((entry, i) => {
    entry.health.push(blocks[i + 1]?.health[0] ?? last);
  });
  results.extras.push(await tokenCost(last));

  // Family extras: log bodies of 1 MB and 100 MB, heartbeats of many daemons.
  for (const family of families) {
    if (!family.extra) continue;
    try {
      results.extras.push(
        ...(await family.extra(
          ctx,
          results.families.find((e) => e.name === family.name),
        )),
      );
    } catch (e) {
      results.extras.push({ family: family.name, title: `${family.name} extras`, error: errorText(e) });
    }
  }
} finally {
  await stop();
}

results.elapsed = (Date.now() - started) / 1000;
const markdown = render(results);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, markdown);
console.log(markdown);
log(`wrote ${path.relative(process.cwd(), out)} in ${results.elapsed.toFixed(0)} s`);
