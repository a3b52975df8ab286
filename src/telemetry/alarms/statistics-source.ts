/**
 * The one place alarms read the telemetry store: an alarm's statistics per period over
 * a window, computed by the code that answers GET /v2/meters/{meter}/statistics
 * (computeStatistics, from chunk summaries and hour rollups), on the shard of the alarm's project.
 */
import { shardForRead } from "../../db/shards";
import { onShard } from "../fan-out";
import { parseSampleQuery, STRING_FIELDS } from "../query";
import { computeStatistics } from "../statistics";
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
 * The window's statistics per period, oldest first, from the chunks' summaries (a chunk
 * inside one period answers from its count, sum, min and max; one that straddles a period
 * edge, or the window's end, is read sample by sample) and, for moved days, the hour
 * rollups or the day's objects: O(periods × series) rows, never the raw samples of the
 * window (docs/telemetry-storage.md). The last period may be partial: the window ends at
 * the last whole minute, as Aodh's ends at now.
 */
export async function alarmStatistics(env: Env, r: AlarmStatisticsRequest): Promise<PeriodStatistic[]> {
  const q = sampleQueryOf(r.query);
  q.equals = q.equals.filter((e) => e.field !== "meter");
  q.equals.push({ field: "meter", value: r.meter });
  q.start = { us: r.startMs * 1000, inclusive: true };
  q.end = { us: r.endMs * 1000, inclusive: false };
  // The alarm's project's shard (alarms stay in the main DB); no shard yet: no samples.
  const shard = await shardForRead(env, r.projectId);
  if (!shard) return [];
  const rows = await computeStatistics(onShard(env, shard.shard).db, env.TELEMETRY_ARCHIVE, {
    q,
    scope: [r.projectId],
    periodUs: r.periodS * 1e6,
    groupby: [],
    stddev: false,
    cardinality: [],
    tiers: tiersOf(env),
    nowMs: r.nowMs,
  });
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
