/**
 * Marks the runs that regressed: a value above `factor` × the median of the previous
 * `window` values. The first runs have too little history to judge (fewer than two
 * earlier values) and are never marked. Shared by the dashboard's browser code.
 */
export function medianRegressions(values: number[], window: number, factor: number): boolean[] {
  return values.map((v, i) => {
    const previous = values.slice(Math.max(0, i - window), i);
    if (previous.length < 2) return false;
    const m = median(previous);
    return m > 0 && v > m * factor;
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
