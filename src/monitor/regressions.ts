/**
 * The statistics behind `GET /api/v1/sessions/<h>/regressions` and `/compare/<b>`
 * (docs/api/monitor-regressions.md): robust baselines, verdicts and the leak test.
 * Pure functions over numbers; the queries live in regressions-store.ts.
 */

/** The resources judged, as the metric columns name them. */
export const JUDGED = ["total_time", "user_time", "kernel_time", "cpu_usage", "mem_usage"] as const;
export type Judged = (typeof JUDGED)[number];

export type Verdict = "regression" | "improvement" | "unchanged" | "insufficient_history";

/**
 * Changes smaller than these never count, whatever the baseline's spread: below them a
 * CI machine's timer and allocator noise is larger than the signal (seconds, CPU
 * fraction, MB). They matter most when the baseline is flat (MAD 0) or near zero.
 */
export const NOISE_FLOOR: Record<Judged, number> = {
  total_time: 0.005,
  user_time: 0.005,
  kernel_time: 0.005,
  cpu_usage: 0.05,
  mem_usage: 1,
};

export interface Thresholds {
  /** How many MADs from the baseline median a value must be. */
  k: number;
  /** The smallest relative change (0.1 = 10 %) that counts. */
  minChange: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { k: 3, minChange: 0.1 };
/** Fewer earlier runs than this: `insufficient_history` (a median of two is no baseline). */
export const MIN_HISTORY = 3;
/** Window of earlier sessions: default and bounds of `?window=`. */
export const DEFAULT_WINDOW = 10;
export const MAX_WINDOW = 50;
/** The leak test needs this many runs (earlier ones plus this one)... */
export const LEAK_MIN_RUNS = 5;
/** ...rising in this share of all pairs (Kendall's tau)... */
export const LEAK_MIN_TAU = 0.8;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median absolute deviation: the spread that a few wild runs do not inflate. */
export function mad(values: number[], m = median(values)): number {
  return median(values.map((v) => Math.abs(v - m)));
}

/** (b - a) / |a|, or null when a is 0 (no meaningful ratio). */
export function relativeChange(a: number, b: number): number | null {
  return a === 0 ? null : (b - a) / Math.abs(a);
}

export interface Judgement {
  value: number;
  median: number | null;
  mad: number | null;
  /** value - median */
  change: number | null;
  /** (value - median) / |median|, null when the median is 0 */
  relative_change: number | null;
  /** The baseline band: median ± the smallest change that counts. */
  lower: number | null;
  upper: number | null;
  history: number;
  verdict: Verdict;
}

/**
 * Judges one value against its history (earlier runs, any order). A change counts only
 * when it is larger than all of k × MAD, min_change × |median| and the resource's
 * noise floor: the MAD keeps noisy tests quiet, the relative minimum keeps very stable
 * tests (MAD near 0) from crying wolf over tiny shifts. Higher is worse for every resource.
 */
export function judge(resource: Judged, value: number, history: number[], t: Thresholds): Judgement {
  if (history.length < MIN_HISTORY) {
    return {
      value,
      median: null,
      mad: null,
      change: null,
      relative_change: null,
      lower: null,
      upper: null,
      history: history.length,
      verdict: "insufficient_history",
    };
  }
  const m = median(history);
  const spread = mad(history, m);
  const margin = Math.max(t.k * spread, t.minChange * Math.abs(m), NOISE_FLOOR[resource]);
  const change = value - m;
  const verdict: Verdict = change > margin ? "regression" : change < -margin ? "improvement" : "unchanged";
  return {
    value,
    median: m,
    mad: spread,
    change,
    relative_change: relativeChange(m, value),
    lower: m - margin,
    upper: m + margin,
    history: history.length,
    verdict,
  };
}

/**
 * A leak suspect: memory that rises run after run, oldest to newest, even when each step
 * is too small for a verdict. Needs LEAK_MIN_RUNS runs, a Kendall tau of at least
 * LEAK_MIN_TAU (nearly every later run above every earlier one) and a total rise over
 * the window (Theil–Sen slope × runs) above the memory noise floor.
 */
export function leakSuspect(series: number[]): boolean {
  const n = series.length;
  if (n < LEAK_MIN_RUNS) return false;
  let s = 0;
  const slopes: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      s += Math.sign(series[j] - series[i]);
      slopes.push((series[j] - series[i]) / (j - i));
    }
  }
  const tau = s / ((n * (n - 1)) / 2);
  return tau >= LEAK_MIN_TAU && median(slopes) * (n - 1) > NOISE_FLOOR.mem_usage;
}

/** The verdict of a test: the worst of its resources' (a regression anywhere wins). */
export function overall(verdicts: Verdict[]): Verdict {
  for (const v of ["regression", "improvement", "unchanged"] as const) if (verdicts.includes(v)) return v;
  return "insufficient_history";
}
