import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, inject, it } from "vitest";

// pytest-monitor runs replayed with the plugin's own HTTP client (see pytest_monitor_replay.py),
// each test really sleeping; the last run's test_logout sleeps 0.6 s longer. The verdict,
// the comparison and the CSV export are then read over HTTP as a CI job would.
const PYTHON = "/usr/bin/python3";
const BRANCH = "e2e-regress";
const base = () => inject("baseUrl");
let token = "";

function replay(run: number, sleeps: Record<string, number>) {
  const remote = `${base().replace("://", `://ci:${token}@`)}/api/v1`;
  const r = spawnSync(
    PYTHON,
    ["test/e2e/pytest_monitor_replay.py", remote, String(run), BRANCH, JSON.stringify(sleeps)],
    {
      encoding: "utf8",
    },
  );
  if (r.error || r.status !== 0) throw new Error(`replay ${run} failed: ${r.error ?? r.stderr}`);
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines.filter((l) => l.step?.startsWith("metric-")).every((l) => l.status === 201)).toBe(true);
  return lines.at(-1) as { session_h: string; context_h: string };
}

const get = async (path: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base()}/api/v1${path}`, { headers: { Authorization: `Bearer ${token}`, ...headers } });
  return { status: res.status, res, text: await res.text() };
};

describe("regressions of replayed pytest-monitor runs, over HTTP", () => {
  const sessions: string[] = [];

  beforeAll(async () => {
    const res = await fetch(`${base()}/auth/tokens`, {
      method: "POST",
      headers: { "X-Auth-Token": inject("adminToken"), "content-type": "application/json" },
      body: JSON.stringify({ user: "ci-regress", role: "user", projects: ["team-regress"] }),
    });
    expect(res.status).toBe(201);
    token = ((await res.json()) as { token: string }).token;
    // Three ordinary runs make the baseline; the fourth has the slow test.
    for (let run = 21; run <= 23; run++) sessions.push(replay(run, {}).session_h);
    sessions.push(replay(24, { test_logout: 0.6 }).session_h);
  });

  it("judges the slower test a regression, and the CI gate fails on it", async () => {
    // min_change=0.5: a loaded test machine's sleep jitter must not matter; 0.6 s on 0.2 s still does.
    const r = await get(`/sessions/${sessions[3]}/regressions?min_change=0.5`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text);
    expect(body.baseline).toMatchObject({ by: "pipeline_branch", value: BRANCH });
    expect(body.baseline.sessions.map((s: { session_h: string }) => s.session_h)).toEqual(
      sessions.slice(0, 3).reverse(),
    );
    const byItem = Object.fromEntries(body.tests.map((t: { item: string }) => [t.item, t]));
    expect(byItem.test_logout.verdict).toBe("regression");
    expect(byItem.test_logout.resources.total_time.verdict).toBe("regression");
    expect(byItem.test_logout.resources.total_time.value).toBeGreaterThan(0.75);
    expect(byItem.test_logout.resources.total_time.median).toBeLessThan(0.4);
    expect(byItem.test_login.resources.total_time.verdict).toBe("unchanged");
    expect(byItem.test_api.resources.total_time.verdict).toBe("unchanged");
    expect(body.summary.regressions).toBe(1);
    // The README's gate: `jq -e '.summary.regressions == 0'` fails this run, passes the one before.
    const gate = (text: string) =>
      spawnSync("jq", ["-e", ".summary.regressions == 0"], { input: text, encoding: "utf8" }).status;
    expect(gate(r.text)).toBe(1);
    expect(gate((await get(`/sessions/${sessions[2]}/regressions?min_change=0.5`)).text)).toBe(0);
    // The first run of the branch had nothing to compare with.
    expect(JSON.parse((await get(`/sessions/${sessions[0]}/regressions`)).text).summary.insufficient_history).toBe(3);
  });

  it("compares the last two runs, and exports the slow run's metrics as CSV", async () => {
    const r = await get(`/sessions/${sessions[2]}/compare/${sessions[3]}`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text);
    expect(body.summary).toEqual({ both: 3, only_in_a: 0, only_in_b: 0 });
    const logout = body.tests.find((t: { item: string }) => t.item === "test_logout");
    expect(logout.resources.total_time.change).toBeGreaterThan(0.5);

    const csv = await get(`/sessions/${sessions[3]}/metrics`, { Accept: "text/csv" });
    expect(csv.res.headers.get("content-type")).toMatch(/^text\/csv/);
    const lines = csv.text.trim().split("\r\n");
    expect(lines[0]).toMatch(/^session_h,context_h,item_start_time,/);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain(",test_logout,");
  });
});
