/**
 * The one place alarms read the telemetry store: an alarm's statistics per period over
 * a window, computed by the code that answers GET /v2/meters/{meter}/statistics
 * (rollups.ts where the period and window align with its buckets, store.ts otherwise).
 * The evaluator asks windows aligned to whole minutes, and to the period, so an alarm
 * whose period is a whole number of minutes reads rollup rows, O(periods × series),
 * never the raw samples of its window.
 */
import { database } from "../../db/client";
import { parseSampleQuery, STRING_FIELDS } from "../query";
import { tieredStatistics } from "../rollups";
import { sampleWhere, statisticsQuery } from "../store";
import { tiersOf } from "../tiers";

/** One condition of a threshold rule's query (Ceilometer's simple query: eq only). */
export interface RuleCondition {
  field: string;
  op: string;
  value: string;
  type?: string;
}

/** The statistics of one period of the window, oldest first. */
export interface PeriodStatistic {
  periodStartMs: number;
  count: number;
  min: number;
  max: number;
  sum: number;
  avg: number;
}

export interface AlarmStatisticsRequest {
  /** The alarm's project: the statistics never reach past it. */
  projectId: string;
  meter: string;
  query: RuleCondition[];
  periodS: number;
  /** [startMs, endMs): the window, its start where the first period begins. */
  startMs: number;
  endMs: number;
  nowMs: number;
}

function sampleQueryOf(query: RuleCondition[]) {
  const params = new URLSearchParams();
  for (const q of query) {
    params.append("q.field", q.field);
    params.append("q.op", q.op);
    params.append("q.value", q.value);
    params.append("q.type", q.type ?? "");
  }
  // No timestamp in a rule: the evaluator bounds the window (Aodh refuses one too).
  return parseSampleQuery(params, STRING_FIELDS);
}

/** Refuses a rule query the statistics could not run, in Ceilometer's words (400). */
export function checkRuleQuery(query: RuleCondition[]): void {
  sampleQueryOf(query);
}

/**
 * The window's statistics per period, oldest first. The last period may be partial (the
 * window ends at the last whole minute, as Aodh's ends at now): with a period of whole
 * minutes it is read in minute buckets and merged here, so an hourly alarm's current hour
 * comes from minute rollups rather than from raw samples.
 */
export async function alarmStatistics(env: Env, r: AlarmStatisticsRequest): Promise<PeriodStatistic[]> {
  const periodMs = r.periodS * 1000;
  const lastStart = r.startMs + Math.floor((r.endMs - r.startMs) / periodMs) * periodMs;
  if (r.periodS <= 60 || r.periodS % 60 !== 0 || lastStart >= r.endMs || (r.endMs - lastStart) % 60_000 !== 0) {
    return windowStatistics(env, r);
  }
  const [whole, minutes] = await Promise.all([
    lastStart > r.startMs ? windowStatistics(env, { ...r, endMs: lastStart }) : [],
    windowStatistics(env, { ...r, startMs: lastStart, periodS: 60 }),
  ]);
  if (!minutes.length) return whole;
  const partial = minutes.reduce((a, b) => ({
    periodStartMs: lastStart,
    count: a.count + b.count,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    sum: a.sum + b.sum,
    avg: 0,
  }));
  return [...whole, { ...partial, periodStartMs: lastStart, avg: partial.sum / partial.count }];
}

async function windowStatistics(env: Env, r: AlarmStatisticsRequest): Promise<PeriodStatistic[]> {
  const q = sampleQueryOf(r.query);
  q.equals = q.equals.filter((e) => e.field !== "meter");
  q.equals.push({ field: "meter", value: r.meter });
  q.start = { us: r.startMs * 1000, inclusive: true };
  q.end = { us: r.endMs * 1000, inclusive: false };
  const scope = [r.projectId];
  const request = {
    where: sampleWhere(q, scope),
    periodUs: r.periodS * 1e6,
    startUs: q.start.us,
    groupby: [],
    stddev: false,
    cardinality: [],
  };
  const db = database(env);
  const tiered = await tieredStatistics(db, env.TELEMETRY_ARCHIVE, { ...request, q, scope, tiers: tiersOf(env), nowMs: r.nowMs });
  const rows = (tiered as Awaited<ReturnType<typeof statisticsQuery>> | null) ?? (await statisticsQuery(db, request));
  return rows
    .map((row) => ({
      periodStartMs: r.startMs + row.bucket * r.periodS * 1000,
      count: row.count,
      min: row.min,
      max: row.max,
      sum: row.sum,
      avg: row.avg,
    }))
    .sort((a, b) => a.periodStartMs - b.periodStartMs);
}
