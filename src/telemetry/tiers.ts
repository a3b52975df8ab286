/**
 * The telemetry storage tiers' settings and calendar (docs/telemetry-storage.md):
 * samples are hot (D1) for TELEMETRY_HOT_DAYS whole UTC days, then cold (R2); raw
 * samples and cold objects go after TELEMETRY_RETAIN_DAYS, hour rollups after
 * TELEMETRY_ROLLUP_RETAIN_DAYS (both unset: kept forever).
 */
import { badQuery } from "./query";

export const DAY_US = 86_400_000_000;
export const MINUTE_US = 60_000_000;
export const HOUR_US = 3_600_000_000;
/** Samples stay in D1 for a week by default: the window alarms and dashboards query most. */
export const DEFAULT_HOT_DAYS = 7;

export interface Tiers {
  hotDays: number;
  retainDays: number | null;
  rollupRetainDays: number | null;
}

type Vars = Partial<Record<"TELEMETRY_HOT_DAYS" | "TELEMETRY_RETAIN_DAYS" | "TELEMETRY_ROLLUP_RETAIN_DAYS", string>>;

function days(raw: string | undefined, name: string): number | null {
  if (raw === undefined || raw.trim() === "") return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number of days, not '${raw}'`);
  return n;
}

export function tiersOf(env: Env): Tiers {
  const vars = env as unknown as Vars;
  const hotDays = days(vars.TELEMETRY_HOT_DAYS, "TELEMETRY_HOT_DAYS") ?? DEFAULT_HOT_DAYS;
  const retainDays = days(vars.TELEMETRY_RETAIN_DAYS, "TELEMETRY_RETAIN_DAYS");
  const rollupRetainDays = days(vars.TELEMETRY_ROLLUP_RETAIN_DAYS, "TELEMETRY_ROLLUP_RETAIN_DAYS");
  return { hotDays, retainDays, rollupRetainDays };
}

export const dayOf = (us: number) => Math.floor(us / DAY_US) * DAY_US;
export const dayName = (dayUs: number) => new Date(dayUs / 1000).toISOString().slice(0, 10);

/** Whole days before this are cold: raw samples there move to R2, minute rollups go. */
export function hotFrom(nowMs: number, tiers: Tiers): number {
  return dayOf(nowMs * 1000) - tiers.hotDays * DAY_US;
}

/** Raw samples (hot or cold) before this are gone; -Infinity when kept forever. */
export function retainFrom(nowMs: number, tiers: Tiers): number {
  return tiers.retainDays === null ? -Infinity : dayOf(nowMs * 1000) - tiers.retainDays * DAY_US;
}

/** Hour rollups before this are gone; -Infinity when kept forever. */
export function rollupFrom(nowMs: number, tiers: Tiers): number {
  return tiers.rollupRetainDays === null ? -Infinity : dayOf(nowMs * 1000) - tiers.rollupRetainDays * DAY_US;
}

/** Most cold objects one request reads (each is one R2 read). */
export const COLD_OBJECTS_MAX = 500;

/**
 * Most cold samples one request decompresses and parses (the sum of its objects' `n`):
 * bounds the Worker's CPU however the objects are sized.
 */
export const COLD_ROWS_MAX = 500_000;

export const tooManyColdRows = (n: number) =>
  badQuery(
    `This query would read ${n} cold samples (more than ${COLD_ROWS_MAX}): narrow it with project_id, meter, resource_id or timestamp bounds, or use a period of whole hours from a whole-hour start.`,
  );

export const tooManyObjects = (n: number) =>
  badQuery(
    `This query would read ${n} cold objects (more than ${COLD_OBJECTS_MAX}): narrow it with project_id, meter or timestamp bounds.`,
  );

/**
 * Most entries (buckets × groups) one statistics answer holds: `period=1&groupby=...`
 * would otherwise answer one entry per sample (docs/api/telemetry.md).
 */
export const MAX_STATISTICS = 10_000;

export const tooManyStatistics = (n: number | string) =>
  badQuery(
    `This query would answer ${n} statistics (buckets × groups), more than ${MAX_STATISTICS}: use a longer period, fewer groupby fields or a narrower timestamp range.`,
  );
