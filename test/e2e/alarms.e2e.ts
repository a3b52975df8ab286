import { spawnSync } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "./server";

/**
 * The alarm API driven by real clients against `wrangler dev --test-scheduled`:
 * Debian's `aodh` (python3-aodhclient 3.0) unchanged, logging in through the Keystone
 * shim whose catalog names this Worker as `alarming`; python-ceilometerclient 2.9.1's
 * alarm commands replayed with its exact requests (ceilometer_alarm_replay.py). A node
 * HTTP server is the hook; the Cron Trigger is fired with a clock of the test's choosing
 * (`/cdn-cgi/handler/scheduled?cron=…&time=…`), so a sample stream crosses the threshold minute by minute.
 * Its own dev server: hooks on loopback need ALARM_ALLOW_PRIVATE_TARGETS.
 */
const PYTHON = "/usr/bin/python3";
const MINUTE = 60_000;
let server: DevServer;
let hook: Server;
let hookUrl = "";
const received: Array<{ path: string; headers: Record<string, unknown>; body: any }> = [];
const project = `alarms-e2e-${Date.now().toString(36)}`;
let token = "";

const base = () => server.baseUrl;

/**
 * One HTTP exchange on a connection of its own (`agent: false`): the aodh runs leave long
 * idle gaps, and a pooled keep-alive socket the dev server has meanwhile closed would fail.
 */
function exchange(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(`${base()}${path}`, { method, headers, agent: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function api(path: string, init: { method?: string; json?: unknown } = {}) {
  const headers: Record<string, string> = { "X-Auth-Token": token };
  if (init.json !== undefined) headers["content-type"] = "application/json";
  const res = await exchange(
    init.method ?? "GET",
    path,
    init.json !== undefined ? JSON.stringify(init.json) : undefined,
    headers,
  );
  return { status: res.status, body: res.text ? JSON.parse(res.text) : null };
}

function aodh(args: string[]) {
  const r = spawnSync("aodh", args, {
    encoding: "utf8",
    timeout: 60_000,
    env: {
      ...process.env,
      OS_AUTH_URL: `${base()}/v3`,
      OS_AUTH_TYPE: "v3token",
      OS_TOKEN: token,
      OS_PROJECT_ID: project,
    },
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

function aodhJson(args: string[]) {
  const r = aodh([...args, "-f", "json"]);
  expect(r.code, `aodh ${args.join(" ")}\n${r.out}`).toBe(0);
  return JSON.parse(r.stdout);
}

/**
 * Fires the alarm cron at `ms` and waits for the run (deliveries included) to end. Miniflare's
 * `/cdn-cgi/handler/scheduled` takes the `time`; wrangler's `/__scheduled` would run at the real now.
 */
async function tick(ms: number) {
  const res = await exchange("GET", `/cdn-cgi/handler/scheduled?cron=${encodeURIComponent("* * * * *")}&time=${ms}`);
  expect(res.status, res.text).toBe(200);
}

async function samples(points: Array<[number, number]>) {
  const r = await api("/v2/samples", {
    method: "POST",
    json: points.map(([ms, volume]) => ({
      meter: "cpu_util",
      type: "gauge",
      unit: "%",
      volume,
      resource_id: "vm-1",
      project_id: project,
      timestamp: new Date(ms).toISOString(),
    })),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

beforeAll(async () => {
  const which = spawnSync("aodh", ["--version"], { encoding: "utf8" });
  if (which.error || which.status !== 0) {
    throw new Error(
      "The `aodh` command (Debian's python3-aodhclient) is not installed: apt-get update && apt-get install -y python3-aodhclient",
    );
  }
  hook = createServer((req, res) => {
    let data = "";
    req.on("data", (d) => (data += d));
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers, body: JSON.parse(data) });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
  server = await startDevServer({ ALARM_ALLOW_PRIVATE_TARGETS: "true" });
  const res = await fetch(`${base()}/auth/tokens`, {
    method: "POST",
    headers: { "X-Auth-Token": server.adminToken, "content-type": "application/json" },
    body: JSON.stringify({ user: "alarm-operator", role: "user", projects: [project] }),
  });
  expect(res.status).toBe(201);
  token = ((await res.json()) as { token: string }).token;
});

afterAll(async () => {
  server?.stop();
  await new Promise((resolve) => hook?.close(resolve));
});

describe("alarms with the real clients", () => {
  let aodhId = "";
  let replayId = "";

  it("Debian's aodh command: create, list, show, update, state, history", () => {
    const created = aodhJson([
      "alarm",
      "create",
      "--type",
      "threshold",
      "--name",
      "cpu-aodh",
      "-m",
      "cpu_util",
      "--threshold",
      "70",
      "--comparison-operator",
      "gt",
      "--statistic",
      "avg",
      "--period",
      "60",
      "--evaluation-periods",
      "2",
      "--query",
      "resource_id=vm-1",
      "--alarm-action",
      `${hookUrl}/aodh`,
      "--ok-action",
      `${hookUrl}/aodh`,
    ]);
    aodhId = created.alarm_id;
    expect(created).toMatchObject({
      name: "cpu-aodh",
      type: "threshold",
      state: "insufficient data",
      project_id: project,
      meter_name: "cpu_util",
      threshold: 70,
      query: `resource_id = vm-1 AND\nproject_id = ${project}`,
    });
    const list = aodhJson(["alarm", "list"]);
    expect(list.map((a: any) => a.name)).toEqual(["cpu-aodh"]);
    expect(aodhJson(["alarm", "list", "--filter", "severity=critical"])).toEqual([]);
    expect(aodhJson(["alarm", "show", aodhId])).toMatchObject({ alarm_id: aodhId, comparison_operator: "gt" });
    expect(aodhJson(["alarm", "show", "--name", "cpu-aodh"])).toMatchObject({ alarm_id: aodhId });
    expect(aodhJson(["alarm", "update", aodhId, "--threshold", "72"])).toMatchObject({ threshold: 72 });
    expect(aodhJson(["alarm", "state", "set", "--state", "alarm", aodhId])).toEqual({ state: "alarm" });
    expect(aodhJson(["alarm", "state", "get", aodhId])).toEqual({ state: "alarm" });
    aodhJson(["alarm", "state", "set", "--state", "insufficient data", aodhId]);
    const history = aodhJson(["alarm-history", "show", aodhId]);
    expect(history.map((h: any) => h.type)).toEqual([
      "state transition",
      "state transition",
      "rule change",
      "creation",
    ]);
    expect(JSON.parse(history[2].detail).rule.threshold).toBe(72);
    // An event alarm: the CLI exits non-zero and prints the faultstring.
    const event = aodh(["alarm", "create", "--type", "event", "--name", "ev", "--event-type", "compute.instance.*"]);
    expect(event.code).not.toBe(0);
    expect(event.out).toContain("event alarms are not supported");
  });

  it("python-ceilometerclient 2.9.1's alarm commands, replayed", () => {
    const r = spawnSync(
      PYTHON,
      ["test/e2e/ceilometer_alarm_replay.py", base(), token, project, `${hookUrl}/ceilometer`],
      {
        encoding: "utf8",
      },
    );
    if (r.error || /No module named 'requests'/.test(r.stderr))
      throw new Error(`the replay needs ${PYTHON} with requests: ${r.error ?? r.stderr}`);
    expect(r.status, r.stderr).toBe(0);
    const steps = Object.fromEntries(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
        .map((s) => [s.step, s]),
    );
    expect(steps["alarm-threshold-create"]).toMatchObject({
      status: 201,
      alarm: {
        name: "cpu-replay",
        time_constraints: [{ name: "always", start: "* * * * *", duration: 60, timezone: "UTC" }],
        threshold_rule: {
          threshold: 70,
          query: [
            { field: "resource_id", op: "eq", value: "vm-1" },
            { field: "project_id", value: project },
          ],
        },
      },
    });
    expect(steps["alarm-threshold-create-again"]).toEqual({
      step: "alarm-threshold-create-again",
      status: 409,
      message: "Alarm with name='cpu-replay' exists",
    });
    expect(steps["alarm-combination-create"].status).toBe(400);
    expect(steps["alarm-combination-create"].message).toContain("combination alarms are not supported");
    expect(steps["alarm-list"]).toMatchObject({ status: 200, names: ["cpu-replay"] });
    expect(steps["alarm-show"].alarm.alarm_id).toBe(steps["alarm-threshold-create"].alarm.alarm_id);
    expect(steps["alarm-update"]).toMatchObject({
      status: 200,
      alarm: { severity: "critical", threshold_rule: { threshold: 75 } },
    });
    expect(steps["alarm-state-set"].state).toBe("alarm");
    expect(steps["alarm-state-set-bad"]).toMatchObject({ status: 400, message: "state invalid" });
    expect(steps["alarm-state-get"].state).toBe("alarm");
    expect(steps["alarm-history"].types).toEqual(["state transition", "state transition", "rule change", "creation"]);
    expect(steps["alarm-history"].details[2]).toEqual({
      rule: expect.objectContaining({ threshold: 75 }),
      severity: "critical",
    });
    replayId = steps["alarm-id"].alarm_id;
  });

  it("a sample stream crossing the threshold fires exactly one notification per transition", async () => {
    const t = Math.floor(Date.now() / MINUTE) * MINUTE + 10 * MINUTE;
    await tick(t);
    expect(received).toEqual([]);
    await samples([
      [t, 50],
      [t + MINUTE, 55],
    ]);
    await tick(t + 2 * MINUTE);
    await samples([
      [t + 2 * MINUTE, 90],
      [t + 3 * MINUTE, 95],
    ]);
    await tick(t + 4 * MINUTE);
    // Still above: no transition, nothing sent.
    await tick(t + 5 * MINUTE);
    await samples([
      [t + 5 * MINUTE, 20],
      [t + 6 * MINUTE, 10],
    ]);
    await tick(t + 7 * MINUTE);
    const seen = (path: string) =>
      received.filter((r) => r.path === path).map((r) => [r.body.previous, r.body.current]);
    const crossings = [
      ["insufficient data", "ok"],
      ["ok", "alarm"],
      ["alarm", "ok"],
    ];
    expect(seen("/aodh")).toEqual(crossings);
    expect(seen("/ceilometer")).toEqual(crossings);
    const alarmed = received.find((r) => r.path === "/ceilometer" && r.body.current === "alarm");
    expect(alarmed?.body).toEqual({
      alarm_name: "cpu-replay",
      alarm_id: replayId,
      severity: "critical",
      previous: "ok",
      current: "alarm",
      reason: "Transition to alarm due to 2 samples outside threshold, most recent: 95.0",
      reason_data: { type: "threshold", disposition: "outside", count: 2, most_recent: 95 },
    });
    expect(alarmed?.headers["content-type"]).toBe("application/json");
    expect(String(alarmed?.headers["x-openstack-request-id"])).toMatch(/^req-/);
    // Each delivery is in the history, after the transition it follows.
    const history = aodhJson(["alarm-history", "show", aodhId]);
    const actions = history.filter((h: any) => h.type === "action").map((h: any) => JSON.parse(h.detail));
    expect(actions.map((a: any) => [a.current, a.outcome, a.status])).toEqual([
      ["ok", "delivered", 200],
      ["alarm", "delivered", 200],
      ["ok", "delivered", 200],
    ]);
    expect(aodhJson(["alarm", "show", aodhId]).state).toBe("ok");
  });

  it("deletes with both clients", async () => {
    expect(aodh(["alarm", "delete", aodhId]).code).toBe(0);
    expect((await api(`/v2/alarms/${replayId}`, { method: "DELETE" })).status).toBe(204);
    expect(aodhJson(["alarm", "list"])).toEqual([]);
    const gone = await api(`/v2/alarms/${aodhId}`);
    expect(gone).toEqual({
      status: 404,
      body: {
        error_message: {
          faultcode: "Client",
          faultstring: `Alarm ${aodhId} not found in project ${project}`,
          debuginfo: null,
        },
      },
    });
  });
});
