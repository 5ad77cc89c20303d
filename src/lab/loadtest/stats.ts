/** Distribution of one metric. `sd` is the sample standard deviation (n − 1); 0 when n = 1. */
export interface Stats {
  n: number;
  mean: number;
  sd: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function sampleSd(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((acc, v) => acc + (v - m) ** 2, 0) / (values.length - 1));
}

/**
 * Percentile by linear interpolation between closest ranks (Hyndman–Fan type 7, the default
 * of numpy, R and Excel's PERCENTILE.INC): position (n − 1) × p in the sorted values.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * p;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const weight = position - lower;
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * weight;
}

/** Stats of the values, or null when there are none. */
export function describe(values: readonly number[]): Stats | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length, mean: mean(sorted), sd: sampleSd(sorted), min: sorted[0]!,
    p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1]!,
  };
}
