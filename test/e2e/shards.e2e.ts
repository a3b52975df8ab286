import { type ChildProcess, spawn } from "node:child_process";
import { expect, inject, it } from "vitest";

// A project moves between the dev server's two shards under load, with the operator's script
// (scripts/move-project.mjs) interrupted once and run again, as docs/deploy.md tells: counts and
// statistics are equal before and after, and every sample and metric posted during the move is
// there once. (The move back and the cleanup, two map lifetimes after the switch, are
// test/shard-move.test.ts's, with a clock of its own.)

const base = () => inject("baseUrl");
const auth = () => ({ Authorization: `Bearer ${inject("adminToken")}`, "content-type": "application/json" });
const project = `e2e-move-${Date.now()}`;
const T0 = Date.parse("2026-11-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00");
const plain = (ms: number) => new Date(ms).toISOString().replace("Z", "000").slice(0, 26);

let posted = 0;
const sample = (n: number) => ({
  meter: "cpu_util",
  type: "gauge",
  unit: "%",
  volume: n % 100,
  resource_id: `vm-${n % 5}`,
  project_id: project,
  user_id: "ops",
  source: "openstack",
  timestamp: iso(T0 + n * 1000),
});
const metric = (n: number) => ({
  session_h: "move-session",
  context_h: "move-ctx",
  item_start_time: plain(T0 + n * 10),
  item_path: "tests.test_move",
  item: `test_${n % 9}`,
  item_variant: `test_${n % 9}`,
  item_fs_loc: "tests/test_move.py",
  kind: "function",
  component: "",
  total_time: n / 100,
  user_time: 0.1,
  kernel_time: 0.01,
  cpu_usage: 0.5,
  mem_usage: 10,
});

async function post(path: string, body: unknown) {
  const res = await fetch(`${base()}${path}`, { method: "POST", headers: auth(), body: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}
async function getJson<T = any>(path: string): Promise<{ body: T; res: Response }> {
  const res = await fetch(`${base()}${path}`, { headers: auth() });
  expect(res.status, path).toBe(200);
  return { body: (await res.json()) as T, res };
}

/** What a client can see of the project: totals, statistics, meters, metric counts. */
async function observe() {
  const q = `q.field=project_id&q.op=eq&q.value=${project}`;
  const list = await getJson(`/v2/samples?${q}&limit=1`);
  const [stats] = (await getJson(`/v2/meters/cpu_util/statistics?${q}`)).body;
  const meters = (await getJson(`/v2/meters?${q}`)).body;
  const v1 = `/projects/${project}/api/v1`;
  const metrics = (await getJson<{ count: number }>(`${v1}/metrics/count`)).body.count;
  const firstPage = (await getJson<{ metrics: unknown[]; total_page: number }>(`${v1}/metrics`)).body;
  return {
    total: list.res.headers.get("Total"),
    exact: list.res.headers.get("Total-Exact"),
    stats: { count: stats.count, sum: stats.sum, min: stats.min, max: stats.max, avg: stats.avg },
    meters: meters.length,
    metrics,
    firstPage: { rows: firstPage.metrics.length, totalPage: firstPage.total_page },
  };
}

/** Runs the operator's script; resolves with its output when it exits, or when `until` shows in it (then kills it). */
function runScript(to: string, until?: RegExp): { done: Promise<string>; child: ChildProcess } {
  const child = spawn(
    process.execPath,
    ["scripts/move-project.mjs", project, to, "--url", base(), "--token", inject("adminToken")],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const done = new Promise<string>((resolve, reject) => {
    const seen = (d: Buffer) => {
      out += d;
      if (until?.test(out)) child.kill("SIGKILL");
    };
    child.stdout?.on("data", seen);
    child.stderr?.on("data", seen);
    child.on("exit", (code, signal) =>
      code === 0 || signal === "SIGKILL" ? resolve(out) : reject(new Error(`move-project exited ${code}:\n${out}`)),
    );
  });
  return { done, child };
}

it("moves a project to the other shard under load, interrupted once, with nothing lost or doubled", async () => {
  // The project's first write places it; 3,000 samples and 400 metrics before the move.
  await post(`/projects/${project}/api/v1/contexts/`, {
    h: "move-ctx",
    cpu_count: 2,
    cpu_frequency: 2000,
    cpu_type: "x86_64",
    cpu_vendor: "e2e",
    ram_total: 4096,
    machine_node: "e2e",
    machine_type: "x86_64",
    machine_arch: "64bit",
    system_info: "Linux",
    python_info: "3.11",
  });
  await post(`/projects/${project}/api/v1/sessions/`, {
    session_h: "move-session",
    run_date: plain(T0),
    scm_ref: "abc",
    description: {},
  });
  for (let i = 0; i < 3; i++) {
    await post(
      "/v2/samples",
      Array.from({ length: 1000 }, () => sample(posted++)),
    );
  }
  let metrics = 0;
  await post(
    `/projects/${project}/api/v1/metrics/`,
    Array.from({ length: 400 }, () => metric(metrics++)),
  );
  const { body: placed } = await getJson(`/admin/shards/projects/${project}`);
  const to = placed.shard === "DB" ? "SHARD_1" : "DB";
  const before = await observe();
  expect(before.stats.count).toBe(3000);
  // Total counts to 1,000 (docs/api/telemetry.md): past that it says so.
  expect([before.total, before.exact]).toEqual(["1000", "false"]);

  // Writers keep posting while the move runs: four posting a sample at a time, two a metric.
  let writing = true;
  const writers = [
    ...Array.from({ length: 4 }, async () => {
      while (writing) await post("/v2/samples", [sample(posted++)]);
    }),
    ...Array.from({ length: 2 }, async () => {
      while (writing) await post(`/projects/${project}/api/v1/metrics/`, metric(metrics++));
    }),
  ];

  // The move starts and stops after one bounded step each call (an operator's call that died),
  // then the operator's script resumes it to the switch (its cleanup waits two map lifetimes).
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${base()}/admin/shards/moves?steps=1`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({ project, to }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).step).toMatch(/copy|catchup|freeze/);
  }
  const log = await runScript(to, /cleanup/).done;
  expect(log).toMatch(/cleanup/);
  writing = false;
  await Promise.all(writers);
  console.log(`moved under load: ${posted - 3000} samples and ${metrics - 400} metrics posted during the move`);

  const { body: after } = await getJson(`/admin/shards/projects/${project}`);
  expect(after.shard).toBe(to);
  expect(after.frozen).toBe(false);

  // Everything posted is there once: samples (statistics count them all), metrics.
  const seen = await observe();
  expect([seen.total, seen.exact]).toEqual(["1000", "false"]);
  expect(seen.stats.count).toBe(posted);
  const volumes = Array.from({ length: posted }, (_, n) => n % 100);
  expect(seen.stats.sum).toBe(volumes.reduce((a, b) => a + b, 0));
  expect(seen.stats.max).toBe(Math.max(...volumes));
  expect(seen.metrics).toBe(metrics);
  expect(seen.meters).toBe(before.meters);

  expect(seen.firstPage.totalPage).toBe(Math.ceil(metrics / 500));
});
