import { describe, expect, it } from "vitest";
import { callJson, mintToken } from "./helpers/http";

/** A user token of its own project, and a threshold alarm body as `ceilometer alarm-threshold-create` sends it. */
async function tenant(tag: string) {
  const project = `alarms-${tag}-${crypto.randomUUID().slice(0, 8)}`;
  const { token } = await mintToken({ user: `${tag}-user`, role: "user", projects: [project] });
  return { project, token };
}

const thresholdBody = (name: string, over: Record<string, unknown> = {}) => ({
  name,
  type: "threshold",
  threshold_rule: {
    meter_name: "cpu_util",
    threshold: 70.0,
    comparison_operator: "gt",
    statistic: "avg",
    period: 60,
    evaluation_periods: 3,
    query: [{ field: "resource_id", op: "eq", value: "vm-1", type: "" }],
  },
  alarm_actions: ["https://hooks.example.com/alarm"],
  ...over,
});

const fault = (body: any) => body.error_message.faultstring as string;

describe("the v2 alarm API", () => {
  it("creates a threshold alarm with Aodh's defaults, the owner's project in its query, and a Location", async () => {
    const t = await tenant("create");
    const { status, body, res } = await callJson("/v2/alarms", {
      method: "POST",
      json: thresholdBody("cpu high"),
      token: t.token,
    });
    expect(status, JSON.stringify(body)).toBe(201);
    expect(res.headers.get("location")).toBe(`/v2/alarms/${body.alarm_id}`);
    expect(body).toMatchObject({
      name: "cpu high",
      description: "Alarm when cpu_util is gt a avg of 70.0 over 60 seconds",
      type: "threshold",
      enabled: true,
      state: "insufficient data",
      severity: "low",
      repeat_actions: false,
      project_id: t.project,
      user_id: "create-user",
      alarm_actions: ["https://hooks.example.com/alarm"],
      ok_actions: [],
      insufficient_data_actions: [],
      time_constraints: [],
      threshold_rule: {
        meter_name: "cpu_util",
        threshold: 70,
        comparison_operator: "gt",
        statistic: "avg",
        period: 60,
        evaluation_periods: 3,
        exclude_outliers: false,
        query: [
          { field: "resource_id", op: "eq", value: "vm-1" },
          { field: "project_id", op: "eq", value: t.project },
        ],
      },
    });
    expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    const got = await callJson(`/v2/alarms/${body.alarm_id}`, { token: t.token });
    expect(got.body).toEqual(body);
    const history = await callJson(`/v2/alarms/${body.alarm_id}/history`, { token: t.token });
    expect(history.body).toHaveLength(1);
    expect(history.body[0]).toMatchObject({
      type: "creation",
      alarm_id: body.alarm_id,
      on_behalf_of: t.project,
      user_id: "create-user",
    });
    expect(JSON.parse(history.body[0].detail)).toMatchObject({
      name: "cpu high",
      type: "threshold",
      rule: { meter_name: "cpu_util" },
    });
  });

  it("refuses what Aodh refuses, in its faultstring shape", async () => {
    const t = await tenant("refuse");
    const post = (json: unknown) => callJson("/v2/alarms", { method: "POST", json, token: t.token });
    for (const type of ["combination", "event", "gnocchi_resources_threshold"]) {
      const r = await post({ ...thresholdBody(`x-${type}`), type, threshold_rule: undefined, [`${type}_rule`]: {} });
      expect(r.status).toBe(400);
      expect(fault(r.body)).toContain(`${type} alarms are not supported`);
    }
    const missing = await post({ name: "m", type: "threshold", threshold_rule: { meter_name: "cpu_util" } });
    expect(missing.status).toBe(400);
    expect(fault(missing.body)).toBe(
      "Invalid input for field/attribute threshold. Value: 'None'. Mandatory field missing.",
    );
    const stray = await post({ ...thresholdBody("s"), colour: "red" });
    expect(fault(stray.body)).toBe("Unknown attribute for argument data: colour");
    const op = await post(
      thresholdBody("o", { threshold_rule: { meter_name: "m", threshold: 1, comparison_operator: "gte" } }),
    );
    expect(fault(op.body)).toContain(
      "comparison_operator. Value: 'gte'. Value should be one of: lt, le, eq, ne, ge, gt",
    );
    const log = await post(thresholdBody("l", { alarm_actions: ["log://"] }));
    expect(log.status).toBe(401);
    expect(fault(log.body)).toBe("You are not authorized to create action: log://");
    const loopback = await post(thresholdBody("p", { ok_actions: ["http://127.0.0.1:8080/hook"] }));
    expect(loopback.status).toBe(400);
    expect(fault(loopback.body)).toContain("ALARM_ALLOW_PRIVATE_TARGETS");
    const ftp = await post(thresholdBody("f", { ok_actions: ["ftp://example.com/x"] }));
    expect(fault(ftp.body)).toBe("Unsupported action ftp://example.com/x");
    const ts = await post(
      thresholdBody("t", {
        threshold_rule: {
          meter_name: "m",
          threshold: 1,
          query: [{ field: "timestamp", op: "gt", value: "2020-01-01" }],
        },
      }),
    );
    expect(fault(ts.body)).toBe('Unknown argument: "timestamp": not valid for this resource');
    const other = await post(
      thresholdBody("q", {
        threshold_rule: { meter_name: "m", threshold: 1, query: [{ field: "project_id", value: "nope" }] },
      }),
    );
    expect(other.status).toBe(401);
    expect(fault(other.body)).toBe("Not Authorized to access project nope");
    const otherProject = await post(thresholdBody("r", { project_id: "nope" }));
    expect(otherProject.status).toBe(401);
    await post(thresholdBody("dup"));
    const dup = await post(thresholdBody("dup"));
    expect(dup.status).toBe(409);
    expect(fault(dup.body)).toBe("Alarm with name='dup' exists");
    // Nothing half-written: the refused ones left no alarm behind.
    const list = await callJson("/v2/alarms", { token: t.token });
    expect(list.body.map((a: any) => a.name)).toEqual(["dup"]);
  });

  it("lists with q queries inside the token's projects only", async () => {
    const a = await tenant("list-a");
    const b = await tenant("list-b");
    for (const [name, severity] of [
      ["one", "low"],
      ["two", "critical"],
    ]) {
      expect(
        (await callJson("/v2/alarms", { method: "POST", json: thresholdBody(name, { severity }), token: a.token }))
          .status,
      ).toBe(201);
    }
    await callJson("/v2/alarms", { method: "POST", json: thresholdBody("theirs"), token: b.token });
    const all = await callJson("/v2/alarms", { token: a.token });
    expect(all.body.map((x: any) => x.name)).toEqual(["one", "two"]);
    const q = (field: string, value: string, op = "eq") =>
      `q.field=${field}&q.op=${op}&q.type=&q.value=${encodeURIComponent(value)}`;
    expect(
      (await callJson(`/v2/alarms?${q("severity", "critical")}`, { token: a.token })).body.map((x: any) => x.name),
    ).toEqual(["two"]);
    expect(
      (await callJson(`/v2/alarms?${q("name", "one")}&${q("enabled", "True")}`, { token: a.token })).body,
    ).toHaveLength(1);
    expect(
      (await callJson(`/v2/alarms?${q("meter", "cpu_util")}&${q("type", "event")}`, { token: a.token })).body,
    ).toEqual([]);
    const foreign = await callJson(`/v2/alarms?${q("project_id", b.project)}`, { token: a.token });
    expect(foreign.status).toBe(401);
    expect(fault(foreign.body)).toBe(`Not Authorized to access project ${b.project}`);
    const bad = await callJson(`/v2/alarms?${q("name", "x", "gt")}`, { token: a.token });
    expect(fault(bad.body)).toBe("Invalid input for field/attribute op. Value: 'gt'. unimplemented operator for name");
    const ts = await callJson(`/v2/alarms?${q("timestamp", "2020-01-01", "gt")}`, { token: a.token });
    expect(fault(ts.body)).toBe('Unknown argument: "timestamp": not valid for this resource');
    // aodhclient's complex query (alarm show --name, alarm list --query): "=" and "and".
    const byName = await callJson("/v2/query/alarms", {
      method: "POST",
      json: { filter: JSON.stringify({ "=": { name: "two" } }) },
      token: a.token,
    });
    expect(byName.body.map((x: any) => x.name)).toEqual(["two"]);
    const both = await callJson("/v2/query/alarms", {
      method: "POST",
      json: {
        filter: JSON.stringify({ and: [{ "=": { severity: "low" } }, { "=": { state: "insufficient data" } }] }),
      },
      token: a.token,
    });
    expect(both.body.map((x: any) => x.name)).toEqual(["one"]);
    const or = await callJson("/v2/query/alarms", { method: "POST", json: { filter: '{"or": []}' }, token: a.token });
    expect([or.status, fault(or.body)]).toEqual([
      400,
      'Operator or is not supported: this service\'s alarm queries take "=" and "and" (docs/api/alarms.md).',
    ]);
    const page = await callJson(`/v2/alarms?limit=1`, { token: a.token });
    const next = await callJson(`/v2/alarms?limit=1&marker=${page.body[0].alarm_id}`, { token: a.token });
    expect([page.body[0].name, next.body[0].name]).toEqual(["one", "two"]);
    // Another project's alarm is not found, worded as Aodh words it.
    const theirs = (await callJson("/v2/alarms", { token: b.token })).body[0];
    const hidden = await callJson(`/v2/alarms/${theirs.alarm_id}`, { token: a.token });
    expect(hidden.status).toBe(404);
    expect(fault(hidden.body)).toBe(`Alarm ${theirs.alarm_id} not found in project ${a.project}`);
  });

  it("updates, sets and reads the state, deletes, and keeps the history newest first", async () => {
    const t = await tenant("life");
    const created = (await callJson("/v2/alarms", { method: "POST", json: thresholdBody("life"), token: t.token }))
      .body;
    const id = created.alarm_id;
    // What ceilometerclient's alarm-update sends: the alarm as read, merged with the change.
    const put = await callJson(`/v2/alarms/${id}`, {
      method: "PUT",
      json: { ...created, threshold_rule: { ...created.threshold_rule, threshold: 80 }, severity: "critical" },
      token: t.token,
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({
      severity: "critical",
      threshold_rule: { threshold: 80 },
      state: "insufficient data",
    });
    const setState = await callJson(`/v2/alarms/${id}/state`, { method: "PUT", json: "alarm", token: t.token });
    expect(setState.body).toBe("alarm");
    expect((await callJson(`/v2/alarms/${id}/state`, { token: t.token })).body).toBe("alarm");
    const bad = await callJson(`/v2/alarms/${id}/state`, { method: "PUT", json: "broken", token: t.token });
    expect([bad.status, fault(bad.body)]).toEqual([400, "state invalid"]);
    const shown = (await callJson(`/v2/alarms/${id}`, { token: t.token })).body;
    expect(shown).toMatchObject({ state: "alarm", state_reason: "Manually set via API" });
    expect((await callJson(`/v2/alarms/${id}`, { method: "DELETE", token: t.token })).status).toBe(204);
    const gone = await callJson(`/v2/alarms/${id}`, { token: t.token });
    expect(gone.status).toBe(404);
    const history = (await callJson(`/v2/alarms/${id}/history`, { token: t.token })).body;
    expect(history.map((h: any) => h.type)).toEqual(["deletion", "state transition", "rule change", "creation"]);
    expect(JSON.parse(history[1].detail)).toEqual({ state: "alarm" });
    const change = JSON.parse(history[2].detail);
    expect(change.severity).toBe("critical");
    expect(change.rule.threshold).toBe(80);
    expect(change).not.toHaveProperty("name");
    const filtered = (
      await callJson(`/v2/alarms/${id}/history?q.field=type&q.op=eq&q.type=&q.value=creation`, { token: t.token })
    ).body;
    expect(filtered.map((h: any) => h.type)).toEqual(["creation"]);
    const other = await tenant("life-other");
    expect((await callJson(`/v2/alarms/${id}/history`, { token: other.token })).body).toEqual([]);
  });

  it("shows the token's alarms on the dashboard with state, condition and last transitions", async () => {
    const t = await tenant("dash");
    const other = await tenant("dash-other");
    const id = (await callJson("/v2/alarms", { method: "POST", json: thresholdBody("dash"), token: t.token })).body
      .alarm_id;
    await callJson("/v2/alarms", { method: "POST", json: thresholdBody("not mine"), token: other.token });
    for (const state of ["alarm", "ok", "alarm", "ok"])
      await callJson(`/v2/alarms/${id}/state`, { method: "PUT", json: state, token: t.token });
    const { status, body } = await callJson("/dashboard/api/alarms", { token: t.token });
    expect(status).toBe(200);
    expect(body.alarms).toHaveLength(1);
    expect(body.alarms[0]).toMatchObject({
      alarm_id: id,
      name: "dash",
      state: "ok",
      condition: "avg(cpu_util) > 70 during 3 x 60s",
      transitions: [
        { state: "ok", reason: null },
        { state: "alarm", reason: null },
        { state: "ok", reason: null },
      ],
    });
  });
});
