/**
 * Threshold evaluation at the edge (docs/api/alarms.md, "Evaluation"), run by the
 * every-minute Cron Trigger: claims the enabled alarms whose period is due, in batches,
 * reads each one's statistics through statistics-source.ts, decides as Aodh's threshold
 * evaluator decides (same states, reasons and reason_data), and writes a transition once:
 * the UPDATE is conditional on the version the claim read, and the history entry and the
 * queued notifications follow only that write.
 */
import { MAIN, shardDb, shardNames } from "../../db/shards";
import { countingD1, D1Cost } from "../../http/d1-cost";
import { cronMatches, parseCron, withinConstraint } from "./cron";
import { type DeliveryReport, drainDeliveries } from "./notifier";
import { type AlarmState, pyFloat, type ThresholdRule, type TimeConstraint } from "./schemas";
import { alarmStatistics, type PeriodStatistic } from "./statistics-source";
import {
  type AlarmRow,
  actionsOf,
  claimDue,
  constraintsOf,
  type DeliveryRow,
  historyAfterWrite,
  queueDeliveries,
  ruleOf,
  writeState,
} from "./store";

/** Alarms one claim takes, claims one run makes, and evaluations in flight at once. */
export const EVAL_BATCH = 50;
export const EVAL_BATCHES_MAX = 10;
const EVAL_CONCURRENCY = 10;
/** The cron string of this trigger in wrangler.toml. */
export const ALARM_CRON = "* * * * *";

const UNKNOWN: AlarmState = "insufficient data";

export interface ReasonData {
  type: "threshold";
  disposition: "inside" | "outside" | "unknown";
  count: number;
  most_recent: number | null;
}

export interface Decision {
  /** The state to refresh to; null: nothing to do. */
  state: AlarmState | null;
  reason: string;
  reasonData: ReasonData | null;
}

/** Aodh's evaluation window: `evaluation_periods` + look-back periods, aligned to whole minutes and to the period. */
export function windowOf(rule: ThresholdRule, nowMs: number) {
  const periodMs = rule.period * 1000;
  const endMs = Math.floor(nowMs / 60_000) * 60_000;
  const lookBack = rule.exclude_outliers ? rule.evaluation_periods : 1;
  const startMs = Math.ceil(endMs / periodMs) * periodMs - periodMs * (rule.evaluation_periods + lookBack);
  return { startMs, endMs };
}

/** Aodh's _sanitize: weak periods (sample count beyond 2σ of the mean) dropped when asked, then the last N values. */
export function sanitize(rule: ThresholdRule, stats: PeriodStatistic[]): number[] {
  let kept = stats;
  if (rule.exclude_outliers && stats.length) {
    const counts = stats.map((s) => s.count);
    const mean = counts.reduce((x, y) => x + y, 0) / counts.length;
    const sd = Math.sqrt(counts.reduce((x, y) => x + (y - mean) ** 2, 0) / counts.length);
    const inliers = stats.filter((s) => s.count >= mean - 2 * sd && s.count <= mean + 2 * sd);
    if (inliers.length < stats.length) kept = inliers;
  }
  return kept.slice(-rule.evaluation_periods).map((s) => s[rule.statistic]);
}

const COMPARE: Record<ThresholdRule["comparison_operator"], (a: number, b: number) => boolean> = {
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  ge: (a, b) => a >= b,
  gt: (a, b) => a > b,
};

/** A value as Python prints it in Aodh's reason: counts are integers, the other statistics floats. */
const printed = (rule: ThresholdRule, v: number | null) =>
  v === null ? "None" : rule.statistic === "count" ? String(v) : pyFloat(v);

/** Aodh's ThresholdEvaluator.evaluate_rule and _transition_alarm, on values already sanitized. */
export function decide(
  rule: ThresholdRule,
  current: { state: AlarmState; repeat: boolean },
  values: number[],
): Decision {
  const last = values.length ? values[values.length - 1] : null;
  const reasonFor = (state: AlarmState, outside: number) => {
    const disposition = state === "ok" ? "inside" : "outside";
    const count = state === "ok" ? values.length - outside : outside;
    const data: ReasonData = { type: "threshold", disposition, count, most_recent: last };
    const verb = current.state !== state ? "Transition to" : "Remaining as";
    return {
      state,
      reason: `${verb} ${state} due to ${count} samples ${disposition} threshold, most recent: ${printed(rule, last)}`,
      reasonData: data,
    };
  };
  const unknown = current.state === UNKNOWN;
  if (values.length < rule.evaluation_periods) {
    if (!unknown) {
      return {
        state: UNKNOWN,
        reason: `${rule.evaluation_periods} datapoints are unknown`,
        reasonData: { type: "threshold", disposition: "unknown", count: rule.evaluation_periods, most_recent: last },
      };
    }
    // Still unknown: Aodh repeats only when asked to.
    return current.repeat ? reasonFor(UNKNOWN, values.length) : { state: null, reason: "", reasonData: null };
  }
  const compared = values.map((v) => COMPARE[rule.comparison_operator](v, rule.threshold));
  const outside = compared.filter(Boolean).length;
  if (outside === compared.length || outside === 0) {
    const state: AlarmState = outside ? "alarm" : "ok";
    if (current.state !== state || current.repeat) return reasonFor(state, outside);
    return { state: null, reason: "", reasonData: null };
  }
  // Mixed: the trend (the last value) decides only for an unknown alarm; a repeating alarm stays and notifies.
  if (unknown || current.repeat)
    return reasonFor(unknown ? (compared[compared.length - 1] ? "alarm" : "ok") : current.state, outside);
  return { state: null, reason: "", reasonData: null };
}

/** Aodh's within_time_constraint: no constraints, or now within one of them. */
export function withinTimeConstraints(tcs: TimeConstraint[], nowMs: number): boolean {
  if (!tcs.length) return true;
  return tcs.some((tc) => {
    const cron = parseCron(tc.start);
    return cronMatches(cron, nowMs, tc.timezone) || withinConstraint(cron, tc.timezone, tc.duration, nowMs);
  });
}

export interface EvaluationReport {
  evaluated: number;
  skipped: number;
  transitions: number;
  notifications: number;
  /** D1 rows read by each evaluation's statistics (the bench reports these). */
  rowsRead: number[];
}

interface Evaluated {
  skipped: boolean;
  transition: boolean;
  notifications: number;
  rowsRead: number;
}

/** Evaluates one claimed alarm at `nowMs` and writes what Aodh would. */
export async function evaluateAlarm(env: Env, a: AlarmRow, nowMs: number): Promise<Evaluated> {
  const rule = ruleOf(a);
  if (!withinTimeConstraints(constraintsOf(a), nowMs))
    return { skipped: true, transition: false, notifications: 0, rowsRead: 0 };
  const cost = new D1Cost();
  // The main DB and every shard counted: the statistics read the alarm's project's shard.
  const counted = { ...env, DB: countingD1(env.DB, cost) } as Env;
  for (const shard of shardNames(env))
    if (shard !== MAIN)
      (counted as unknown as Record<string, D1Database>)[shard] = countingD1(shardDb(env, shard), cost);
  const { startMs, endMs } = windowOf(rule, nowMs);
  const stats = await alarmStatistics(counted, {
    projectId: a.project_id,
    meter: rule.meter_name,
    query: rule.query,
    periodS: rule.period,
    startMs,
    endMs,
    nowMs,
  });
  const decision = decide(rule, { state: a.state, repeat: !!a.repeat_actions }, sanitize(rule, stats));
  if (!decision.state) return { skipped: false, transition: false, notifications: 0, rowsRead: cost.rowsRead };
  const transition = decision.state !== a.state;
  const notification = JSON.stringify({
    alarm_name: a.name,
    alarm_id: a.id,
    severity: a.severity,
    previous: a.state,
    current: decision.state,
    reason: decision.reason,
    reason_data: decision.reasonData,
  });
  const deliveries: DeliveryRow[] = actionsOf(a)[decision.state].map((action) => ({
    id: crypto.randomUUID(),
    alarm_id: a.id,
    project_id: a.project_id,
    action,
    body: notification,
    attempts: 0,
    next_attempt_at: nowMs,
    created_at: nowMs,
  }));
  const db = env.DB;
  if (transition) {
    const writeId = crypto.randomUUID();
    const statements = [
      writeState(db, a, { state: decision.state, reason: decision.reason, nowMs, writeId }),
      historyAfterWrite(
        db,
        {
          alarmId: a.id,
          type: "state transition",
          detail: { state: decision.state, transition_reason: decision.reason },
          userId: null,
          projectId: null,
          onBehalfOf: a.project_id,
          severity: a.severity,
          timestamp: nowMs,
        },
        writeId,
      ),
    ];
    if (deliveries.length) statements.push(queueDeliveries(db, deliveries, { alarmId: a.id, writeId }));
    const [written] = await db.batch(statements);
    const won = written.meta.changes > 0;
    return { skipped: false, transition: won, notifications: won ? deliveries.length : 0, rowsRead: cost.rowsRead };
  }
  // repeat_actions: the same state notified again, while the alarm is as the claim read it.
  if (deliveries.length) await queueDeliveries(db, deliveries, { alarmId: a.id, version: a.version }).run();
  return { skipped: false, transition: false, notifications: deliveries.length, rowsRead: cost.rowsRead };
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Evaluates what is due at `nowMs`, in claims of EVAL_BATCH, at most EVAL_BATCHES_MAX of them. */
export async function evaluateDue(env: Env, nowMs: number): Promise<EvaluationReport> {
  const report: EvaluationReport = { evaluated: 0, skipped: 0, transitions: 0, notifications: 0, rowsRead: [] };
  for (let i = 0; i < EVAL_BATCHES_MAX; i++) {
    const { results: due } = await claimDue(env.DB, nowMs, EVAL_BATCH).all<AlarmRow>();
    const done = await pool(due, EVAL_CONCURRENCY, async (a) => {
      try {
        return await evaluateAlarm(env, a, nowMs);
      } catch (e) {
        // One alarm's failure (a statistics error) must not stop the others; it is due again next period.
        console.error(JSON.stringify({ alarmEvaluationFailed: a.id, error: String((e as Error)?.message ?? e) }));
        return { skipped: true, transition: false, notifications: 0, rowsRead: 0 };
      }
    });
    for (const d of done) {
      if (d.skipped) report.skipped++;
      else {
        report.evaluated++;
        report.rowsRead.push(d.rowsRead);
      }
      if (d.transition) report.transitions++;
      report.notifications += d.notifications;
    }
    if (due.length < EVAL_BATCH) break;
  }
  return report;
}

export interface AlarmCronReport extends EvaluationReport {
  deliveries: DeliveryReport;
  /** History entries removed by ALARM_HISTORY_RETAIN_DAYS. */
  expiredHistory: number;
}

/** Most history entries one run looks at (the oldest) and may remove. */
export const HISTORY_EXPIRY_CHUNK = 1000;

/**
 * ALARM_HISTORY_RETAIN_DAYS (Aodh's alarm_history_time_to_live; unset: kept forever):
 * once an hour, the oldest HISTORY_EXPIRY_CHUNK entries (by seq, the history's rowid, so
 * no scan) are removed if they are older than the retention.
 */
export async function expireHistory(env: Env, nowMs: number, force = false): Promise<number> {
  const raw = (env as unknown as { ALARM_HISTORY_RETAIN_DAYS?: string }).ALARM_HISTORY_RETAIN_DAYS?.trim();
  const days = raw ? Number(raw) : Number.NaN;
  if (!Number.isInteger(days) || days < 1) return 0;
  if (!force && nowMs % 3_600_000 >= 60_000) return 0;
  const r = await env.DB.prepare(
    "delete from telemetry_alarm_history where seq in (select seq from telemetry_alarm_history order by seq limit ?) and timestamp < ?",
  )
    .bind(HISTORY_EXPIRY_CHUNK, nowMs - days * 86_400_000)
    .run();
  return r.meta.changes;
}

/** One run of the alarm cron: evaluate what is due, then deliver what is queued (this run's notifications included). */
export async function runAlarmCron(env: Env, nowMs: number): Promise<AlarmCronReport> {
  const evaluation = await evaluateDue(env, nowMs);
  const deliveries = await drainDeliveries(env, nowMs);
  const expiredHistory = await expireHistory(env, nowMs);
  return { ...evaluation, deliveries, expiredHistory };
}

export const alarmScheduled: ExportedHandlerScheduledHandler<Env> = async (controller, env) => {
  const report = await runAlarmCron(env, controller.scheduledTime);
  const { rowsRead, ...rest } = report;
  console.log(JSON.stringify({ alarmCron: { ...rest, rowsReadMax: Math.max(0, ...rowsRead) } }));
};
