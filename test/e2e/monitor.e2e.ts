import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, inject, it } from "vitest";

// Debian's python3 with python3-requests: the HTTP client pytest-monitor itself uses.
const PYTHON = "/usr/bin/python3";

let token = "";
const base = () => inject("baseUrl");

function replay(remote: string, run: number) {
  const r = spawnSync(PYTHON, ["test/e2e/pytest_monitor_replay.py", remote, String(run)], { encoding: "utf8" });
  if (r.error || /No module named 'requests'/.test(r.stderr)) {
    throw new Error(
      `the replay needs ${PYTHON} with requests (apt-get install -y python3-requests): ${r.error ?? r.stderr}`,
    );
  }
  const lines = r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  return { code: r.status, lines, stderr: r.stderr };
}

describe("pytest-monitor --remote-server against wrangler dev", () => {
  beforeAll(async () => {
    const res = await fetch(`${base()}/auth/tokens`, {
      method: "POST",
      headers: { "X-Auth-Token": inject("adminToken"), "content-type": "application/json" },
      body: JSON.stringify({ user: "ci", role: "user", projects: ["team-a"] }),
    });
    expect(res.status).toBe(201);
    token = ((await res.json()) as { token: string }).token;
  });

  it("takes the plugin's whole run with https://ci:TOKEN@host/api/v1-style credentials", async () => {
    const remote = `${base().replace("://", `://ci:${token}@`)}/api/v1`;
    const first = replay(remote, 1);
    expect(first.code, first.stderr).toBe(0);
    expect(first.lines.slice(0, 6)).toEqual([
      { step: "context-known", status: 204, known: false },
      { step: "context-create", status: 201, ok: true },
      { step: "session-create", status: 201, ok: true },
      { step: "metric-0", status: 201, ok: true },
      { step: "metric-1", status: 201, ok: true },
      { step: "metric-2", status: 201, ok: true },
    ]);
    const { session_h, context_h } = first.lines[6];

    // A second run on the same machine finds its context and does not post it again.
    const second = replay(remote, 2);
    expect(second.code, second.stderr).toBe(0);
    expect(second.lines[0]).toEqual({ step: "context-known", status: 200, known: true });
    expect(second.lines.map((l) => l.step)).not.toContain("context-create");

    const auth = { Authorization: `Basic ${Buffer.from(`ci:${token}`).toString("base64")}` };
    const metrics = await fetch(`${base()}/api/v1/sessions/${session_h}/metrics`, { headers: auth });
    expect(metrics.status).toBe(200);
    const body = (await metrics.json()) as { metrics: Array<Record<string, unknown>>; total_page: number };
    expect(body.total_page).toBe(1);
    expect(body.metrics.map((m) => m.item_variant)).toEqual([
      "test_login[admin, ro]",
      "test_logout",
      "test_api[v1, json]",
    ]);
    expect(body.metrics[0]).toMatchObject({ context_h, mem_usage: -0.125, component: "" });
    const ctx = (await (await fetch(`${base()}/api/v1/contexts/${context_h}`, { headers: auth })).json()) as {
      contexts: Array<Record<string, unknown>>;
    };
    expect(ctx.contexts[0]).toMatchObject({ cpu_frequency: 2712, python_info: expect.stringContaining("\n[GCC") });
    const builds = (await (await fetch(`${base()}/api/v1/pipelines/main/builds`, { headers: auth })).json()) as {
      builds: string[];
    };
    expect(builds.builds).toEqual(["1001", "1002"]);
  });

  it("takes a run into the project its URL names, for a token with several projects", async () => {
    const minted = await fetch(`${base()}/auth/tokens`, {
      method: "POST",
      headers: { "X-Auth-Token": inject("adminToken"), "content-type": "application/json" },
      body: JSON.stringify({ user: "ci-multi", role: "user", projects: ["team-a", "team-b"] }),
    });
    const multi = ((await minted.json()) as { token: string }).token;
    const host = base().replace("://", `://ci:${multi}@`);
    // Without a project in the path, the plugin's first call is refused: nothing is stored.
    const bare = replay(`${host}/api/v1`, 4);
    expect(bare.lines[0]).toEqual({ step: "context-known", status: 400, known: false });
    const named = replay(`${host}/projects/team-b/api/v1`, 4);
    expect(named.code, named.stderr).toBe(0);
    expect(named.lines[0]).toEqual({ step: "context-known", status: 204, known: false });
    const { session_h } = named.lines.at(-1) as { session_h: string };
    const auth = { Authorization: `Bearer ${multi}` };
    const inB = await fetch(`${base()}/projects/team-b/api/v1/sessions/${session_h}/metrics/count`, { headers: auth });
    expect(await inB.json()).toEqual({ count: 3 });
    const inA = await fetch(`${base()}/projects/team-a/api/v1/sessions/${session_h}/metrics/count`, { headers: auth });
    expect(await inA.json()).toEqual({ count: 0 });
  });

  it("makes the plugin deactivate (non-201) on a bad token, as it should", () => {
    const remote = `${base().replace("://", "://ci:not-a-token@")}/api/v1`;
    const run = replay(remote, 3);
    expect(run.code).toBe(1);
    expect(run.lines[0]).toEqual({ step: "context-known", status: 401, known: false });
    expect(run.lines[1]).toEqual({ step: "context-create", status: 401, ok: false });
  });
});
