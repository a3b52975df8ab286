/**
 * Ceilometer's statistics request and answer (docs/api/telemetry.md, "Statistics"): the
 * arguments a client may send beside the query, and one bucket of aggregated samples in
 * the shape python-ceilometerclient prints. Where the numbers come from (rollups, raw
 * samples, cold days) is rollups.ts's and store.ts's business.
 */
import { badQuery, formatTimestamp } from "./query";
import type { StatRow } from "./rollups";
import { GROUPBY_FIELDS, type GroupField } from "./store";

export { computeStatistics, type StatisticsInput, type StatRow } from "./rollups";

const AGGREGATES = ["count", "min", "max", "sum", "avg", "stddev", "cardinality"] as const;
type Aggregate = (typeof AGGREGATES)[number];
/** Longest period in seconds whose microseconds stay an exact integer. */
const MAX_PERIOD_S = Math.floor(Number.MAX_SAFE_INTEGER / 1e6);

export interface StatisticsRequest {
  /** Seconds per bucket; 0: one bucket over the whole range. */
  period: number;
  groupby: GroupField[];
  aggregates: Array<{ func: Aggregate; field: GroupField }>;
}

function parsePeriod(raw: string | null): number {
  if (raw === null) return 0;
  if (!/^\s*[+-]?\d+\s*$/.test(raw) || Math.abs(Number(raw)) > MAX_PERIOD_S) throw badQuery(`Invalid period ${raw}`);
  const period = Number(raw);
  // As Ceilometer: 0 means no period (one bucket).
  if (period < 0) throw badQuery("Period must be positive.");
  return period;
}

/** `period`, `groupby` and `aggregate.func`/`aggregate.param`, refused with Ceilometer's messages. */
export function parseStatisticsRequest(params: URLSearchParams): StatisticsRequest {
  const period = parsePeriod(params.get("period"));
  const groupby = params.getAll("groupby");
  const unknown = groupby.filter((g) => !(GROUPBY_FIELDS as readonly string[]).includes(g));
  if (unknown.length) throw badQuery(`Unknown argument: "${unknown.join(", ")}": Invalid groupby fields`);
  const funcParams = params.getAll("aggregate.param");
  const aggregates = params.getAll("aggregate.func").map((func, i) => {
    if (!(AGGREGATES as readonly string[]).includes(func)) throw badQuery(`Invalid aggregation function: ${func}`);
    const field = funcParams[i] ?? "";
    if (func === "cardinality" && !(GROUPBY_FIELDS as readonly string[]).includes(field)) {
      throw badQuery(`Invalid aggregation parameter for cardinality: '${field}'. valid: ${GROUPBY_FIELDS.join(", ")}`);
    }
    return { func: func as Aggregate, field: field as GroupField };
  });
  return { period, groupby: groupby as GroupField[], aggregates };
}

type StatisticsRow = StatRow;

/** One bucket as Ceilometer answers it; `start`/`end` (µs) bound a request without a period. */
export function statisticsBody(row: StatisticsRow, req: StatisticsRequest & { start?: number; end?: number }) {
  const { period, groupby, aggregates } = req;
  const r = row as typeof row & Record<string, number | string>;
  const periodStart = period ? Number(row.origin) + row.bucket * period * 1e6 : (req.start ?? row.first);
  const periodEnd = period ? periodStart + period * 1e6 : (req.end ?? row.last);
  const stddev = row.squares === null ? 0 : Math.sqrt(Math.max(0, Number(row.squares) - row.avg * row.avg));
  const values: Record<string, number> = {
    count: row.count,
    min: row.min,
    max: row.max,
    sum: row.sum,
    avg: row.avg,
    stddev,
  };
  const aggregate = Object.fromEntries(
    aggregates.map((a) =>
      a.func === "cardinality" ? [`cardinality/${a.field}`, r[`cardinality/${a.field}`]] : [a.func, values[a.func]],
    ),
  );
  return {
    avg: row.avg,
    count: row.count,
    duration: (row.last - row.first) / 1e6,
    duration_start: formatTimestamp(row.first),
    duration_end: formatTimestamp(row.last),
    groupby: groupby.length ? Object.fromEntries([...new Set(groupby)].map((g) => [g, r[g]])) : null,
    max: row.max,
    min: row.min,
    period,
    period_start: formatTimestamp(periodStart),
    period_end: formatTimestamp(periodEnd),
    sum: row.sum,
    unit: row.unit,
    ...(aggregates.length ? { aggregate } : {}),
  };
}
