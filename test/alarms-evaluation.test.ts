import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/index";
import {
  decide,
  evaluateAlarm,
  evaluateDue,
  expireHistory,
  runAlarmCron,
  windowOf,
} from "../src/telemetry/alarms/evaluator";
import { backoffMs, drainDeliveries } from "../src/telemetry/alarms/notifier";
import type { AlarmRow } from "../src/telemetry/alarms/store";
import { ADMIN_TOKEN, callJson } from "./helpers/http";
import { projectsOnShards, shardBindings, shardOf } from "./helpers/shards";

const MINUTE = 60_000;
/** A clock ten minutes ahead, on a minute: the alarms created now are due at its first tick. */
const clock = () => Math.floor(Date.now() / MINUTE) * MINUTE + 10 * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();

async function createAlarm(project: string, over: Record<string, unknown> = {}, e: Env = env) {
  const req = new Request("http://opshub.test/v2/alarms", {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: `cpu-${project}`,
      type: "threshold",
      project_id: project,
      threshold_rule: {
        meter_name: "cpu_util",
        threshold: 70,
        comparison_operator: "gt",
        statistic: "avg",
        period: 60,
        evaluation_periods: 2,
      },
      alarm_actions: ["log://"],
      ok_actions: ["log://"],
      ...over,
    }),
  });
  const res = await app.fetch(req, e);
  const body = (await res.json()) as any;
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.alarm_id as string;
}

async function samples(project: string, points: Array<[number, number]>, meter = "cpu_util") {
  const { status, body } = await callJson("/v2/samples", {
    method: "POST",
    json: points.map(([ms, volume]) => ({
      meter,
      type: "gauge",
      unit: "%",
      volume,
      resource_id: "vm-1",
      project_id: project,
      timestamp: iso(ms),
    })),
  });
  expect(status, JSON.stringify(body)).toBe(201);
}

const row = (id: string) => env.DB.prepare("select * from telemetry_alarms where id = ?").bind(id).first<AlarmRow>();
const historyOf = async (id: string) => (await callJson(`/v2/alarms/${id}/history?limit=1000`)).body as any[];

describe("alarm evaluation", () => {
  it("follows a sample stream across the threshold: one transition and one notification per crossing", async () => {
    const project = `eval-${crypto.randomUUID().slice(0, 8)}`;
    const id = await createAlarm(project);
    const t = clock();
    // No samples yet: still insufficient data, nothing written.
    await runAlarmCron(env, t);
    expect((await row(id))?.state).toBe("insufficient data");
    await samples(project, [
      [t, 50],
      [t + MINUTE, 40],
      [t + 2 * MINUTE, 60],
    ]);
    // Not due before its next period.
    expect((await evaluateDue(env, t + 30_000)).evaluated).toBe(0);
    const toOk = await runAlarmCron(env, t + 3 * MINUTE);
    expect(toOk).toMatchObject({ transitions: 1, notifications: 1, deliveries: { delivered: 1 } });
    expect(await row(id)).toMatchObject({
      state: "ok",
      state_reason: "Transition to ok due to 2 samples inside threshold, most recent: 60.0",
    });
    await samples(project, [
      [t + 3 * MINUTE, 90],
      [t + 4 * MINUTE, 95.5],
    ]);
    const toAlarm = await runAlarmCron(env, t + 5 * MINUTE);
    expect(toAlarm).toMatchObject({ transitions: 1, notifications: 1 });
    // Staying in alarm: no transition, no notification.
    const stay = await runAlarmCron(env, t + 6 * MINUTE);
    expect(stay).toMatchObject({ evaluated: 1, transitions: 0, notifications: 0 });
    const h = await historyOf(id);
    const transitions = h.filter((e) => e.type === "state transition").map((e) => JSON.parse(e.detail));
    expect(transitions).toEqual([
      {
        state: "alarm",
        transition_reason: "Transition to alarm due to 2 samples outside threshold, most recent: 95.5",
      },
      { state: "ok", transition_reason: "Transition to ok due to 2 samples inside threshold, most recent: 60.0" },
    ]);
    const actions = h.filter((e) => e.type === "action").map((e) => JSON.parse(e.detail));
    expect(actions.map((a) => [a.previous, a.current, a.outcome])).toEqual([
      ["ok", "alarm", "delivered"],
      ["insufficient data", "ok", "delivered"],
    ]);
    // Rows read by one evaluation: the minute rollups of its window ((N + 1) periods × 1 series) and
    // the index probes around them, not the samples: 200 more samples in the window change nothing.
    const FIXED = 4;
    expect(stay.rowsRead[0]).toBeLessThanOrEqual(3 * 1 + FIXED);
    await samples(
      project,
      Array.from({ length: 200 }, (_, i) => [t + 5 * MINUTE + i * 250, 80] as [number, number]),
    );
    const dense = await runAlarmCron(env, t + 7 * MINUTE);
    expect(dense).toMatchObject({ evaluated: 1, transitions: 0 });
    expect(dense.rowsRead[0]).toBeLessThanOrEqual(3 * 1 + FIXED);
  });

  it("reads an hourly alarm's current, partial hour from minute rollups", async () => {
    const project = `hourly-${crypto.randomUUID().slice(0, 8)}`;
    const id = await createAlarm(project, {
      threshold_rule: {
        meter_name: "cpu_hourly",
        threshold: 70,
        comparison_operator: "gt",
        statistic: "avg",
        period: 3600,
        evaluation_periods: 1,
      },
    });
    const hour = Math.ceil((Date.now() + 10 * MINUTE) / 3_600_000) * 3_600_000;
    // 120 samples in the first half hour: the raw samples would be 120 rows, the minute rollups 30.
    await samples(
      project,
      Array.from({ length: 120 }, (_, i) => [hour + i * 15_000, 80 + (i % 2) * 20] as [number, number]),
      // A meter of its own: the rollup ranges it reads hold no other test's series.
      "cpu_hourly",
    );
    // Evaluated alone: other tests' alarms in this file may be due at the same time.
    const run = await evaluateAlarm(env, (await row(id)) as AlarmRow, hour + 30 * MINUTE);
    expect(run).toMatchObject({ transition: true, notifications: 1 });
    // 30 minute rollups and the index probes of two statistics reads (the whole periods and the
    // partial one): well under the 120 raw samples.
    expect(run.rowsRead).toBeLessThanOrEqual(30 + 10);
    expect((await row(id))?.state_reason).toBe(
      "Transition to alarm due to 1 samples outside threshold, most recent: 90.0",
    );
  });

  it("writes a transition once when two evaluations race", async () => {
    const project = `race-${crypto.randomUUID().slice(0, 8)}`;
    const id = await createAlarm(project);
    const t = clock();
    await samples(project, [
      [t, 80],
      [t + MINUTE, 85],
    ]);
    const claimed = (await row(id)) as AlarmRow;
    const [a, b] = await Promise.all([
      evaluateAlarm(env, claimed, t + 2 * MINUTE),
      evaluateAlarm(env, claimed, t + 2 * MINUTE),
    ]);
    expect([a.transition, b.transition].sort()).toEqual([false, true]);
    expect(a.notifications + b.notifications).toBe(1);
    const h = await historyOf(id);
    expect(h.filter((e) => e.type === "state transition")).toHaveLength(1);
    const { n } = (await env.DB.prepare("select count(*) as n from telemetry_alarm_deliveries where alarm_id = ?")
      .bind(id)
      .first<{ n: number }>()) ?? {
      n: -1,
    };
    expect(n).toBe(1);
  });

  it("retries a failing hook with backoff, records every attempt, and gives up on a target no longer allowed", async () => {
    const project = `hook-${crypto.randomUUID().slice(0, 8)}`;
    const open = { ...env, ALARM_ALLOW_PRIVATE_TARGETS: "true" } as Env;
    // Port 9 on loopback: nothing listens, the connection is refused at once.
    const id = await createAlarm(project, { alarm_actions: ["http://127.0.0.1:9/hook"], ok_actions: [] }, open);
    const t = clock();
    await samples(project, [
      [t, 99],
      [t + MINUTE, 99],
    ]);
    const first = await runAlarmCron(open, t + 2 * MINUTE);
    // (Other tests' alarms in this file may be due too: theirs are log:// actions, delivered.)
    expect(first.deliveries.failed).toBe(1);
    expect((await row(id))?.state).toBe("alarm");
    // Not due again before its backoff.
    expect(await drainDeliveries(open, t + 2 * MINUTE + backoffMs(1) - 1)).toEqual({
      delivered: 0,
      failed: 0,
      givenUp: 0,
    });
    expect(await drainDeliveries(open, t + 2 * MINUTE + backoffMs(1))).toEqual({ delivered: 0, failed: 1, givenUp: 0 });
    // The deployment now refuses private targets: the queued notification is given up, not sent.
    expect(await drainDeliveries(env, t + 2 * MINUTE + backoffMs(1) + backoffMs(2))).toEqual({
      delivered: 0,
      failed: 0,
      givenUp: 1,
    });
    const attempts = (await historyOf(id)).filter((e) => e.type === "action").map((e) => JSON.parse(e.detail));
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [3, "given up"],
      [2, "failed"],
      [1, "failed"],
    ]);
    expect(attempts[1].next_attempt).toBe(
      new Date(t + 2 * MINUTE + backoffMs(1) + backoffMs(2)).toISOString().replace("Z", "000"),
    );
    expect(attempts[2].error).toBeTruthy();
  });

  it("expires history older than ALARM_HISTORY_RETAIN_DAYS, and keeps it all when unset", async () => {
    const project = `ttl-${crypto.randomUUID().slice(0, 8)}`;
    const id = await createAlarm(project);
    const created = (await historyOf(id)).find((e) => e.type === "creation");
    const createdMs = Date.parse(`${created.timestamp}Z`);
    expect(await expireHistory(env, createdMs + 40 * 86_400_000, true)).toBe(0);
    const ttl = { ...env, ALARM_HISTORY_RETAIN_DAYS: "30" } as Env;
    // Within the retention: nothing goes; past it, the creation entry does.
    expect(await expireHistory(ttl, createdMs + 29 * 86_400_000, true)).toBe(0);
    expect((await historyOf(id)).map((e) => e.type)).toContain("creation");
    expect(await expireHistory(ttl, createdMs + 31 * 86_400_000, true)).toBeGreaterThanOrEqual(1);
    expect((await historyOf(id)).map((e) => e.type)).not.toContain("creation");
  });

  it("decides as Aodh's threshold evaluator: trends, repeats and unknown data", () => {
    const rule = {
      meter_name: "m",
      period: 60,
      comparison_operator: "gt" as const,
      threshold: 10,
      statistic: "max" as const,
      evaluation_periods: 3,
      exclude_outliers: false,
      query: [],
    };
    expect(decide(rule, { state: "ok", repeat: false }, [1, 2])).toMatchObject({
      state: "insufficient data",
      reason: "3 datapoints are unknown",
      reasonData: { disposition: "unknown", count: 3, most_recent: 2 },
    });
    // Mixed values: an unknown alarm follows the trend; a known one stays unless it repeats.
    expect(decide(rule, { state: "insufficient data", repeat: false }, [20, 1, 30]).state).toBe("alarm");
    expect(decide(rule, { state: "ok", repeat: false }, [20, 1, 30]).state).toBeNull();
    expect(decide(rule, { state: "ok", repeat: true }, [20, 1, 30])).toMatchObject({
      state: "ok",
      reason: "Remaining as ok due to 1 samples inside threshold, most recent: 30.0",
    });
    expect(decide({ ...rule, statistic: "count" }, { state: "alarm", repeat: false }, [1, 2, 3]).reason).toBe(
      "Transition to ok due to 3 samples inside threshold, most recent: 3",
    );
    // The window is aligned to minutes and to the period: rollup buckets answer it whole.
    expect(windowOf({ ...rule, period: 300 }, Date.UTC(2030, 0, 1, 0, 7, 30))).toEqual({
      startMs: Date.UTC(2030, 0, 1, 0, 10) - 4 * 300_000,
      endMs: Date.UTC(2030, 0, 1, 0, 7),
    });
  });
  it("reads each alarm's statistics on its project's shard, counting the rows read there", async () => {
    const [pa, pb] = await projectsOnShards(`eval-shard-${crypto.randomUUID().slice(0, 6)}`, 2);
    const [a, b] = [await createAlarm(pa), await createAlarm(pb)];
    const t = clock();
    await samples(pa, [
      [t, 90],
      [t + MINUTE, 95],
    ]);
    await samples(pb, [
      [t, 10],
      [t + MINUTE, 20],
    ]);
    if (shardBindings().length > 1) expect(await shardOf(pa)).not.toBe(await shardOf(pb));
    await runAlarmCron(env, t + 2 * MINUTE);
    expect((await row(a))?.state).toBe("alarm");
    expect((await row(b))?.state).toBe("ok");
    for (const id of [a, b]) {
      const again = await evaluateAlarm(env, (await row(id))!, t + 2 * MINUTE);
      expect(again.transition).toBe(false);
      expect(again.rowsRead).toBeGreaterThan(0);
      // Gone, so later crons of this file do not evaluate them.
      expect((await callJson(`/v2/alarms/${id}`, { method: "DELETE" })).status).toBe(204);
    }
  });
});
