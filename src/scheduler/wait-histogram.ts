/** Upper bounds (ms) of the wait-time buckets; the last bucket is +Inf. */
export const WAIT_BUCKETS_MS: readonly number[] = [
  10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000,
];

/** Cumulative wait-time histogram of one model and class, shaped like a Prometheus histogram. */
export interface WaitHistogramData {
  model: string;
  priorityClass: string;
  /** Upper bounds in ms; `counts` has one more entry, for +Inf. Counts are per bucket, not cumulative. */
  bucketsMs: readonly number[];
  counts: number[];
  sumMs: number;
  count: number;
}

export class WaitHistograms {
  private readonly byKey = new Map<string, WaitHistogramData>();

  observe(model: string, priorityClass: string, waitMs: number): void {
    const key = `${priorityClass}\u0000${model}`;
    let histogram = this.byKey.get(key);
    if (!histogram) {
      histogram = { model, priorityClass, bucketsMs: WAIT_BUCKETS_MS, counts: new Array<number>(WAIT_BUCKETS_MS.length + 1).fill(0), sumMs: 0, count: 0 };
      this.byKey.set(key, histogram);
    }
    let bucket = 0;
    while (bucket < WAIT_BUCKETS_MS.length && waitMs > WAIT_BUCKETS_MS[bucket]!) bucket++;
    histogram.counts[bucket]!++;
    histogram.sumMs += waitMs;
    histogram.count++;
  }

  /** Copies, so a snapshot does not change under its reader. */
  data(): WaitHistogramData[] {
    return [...this.byKey.values()].map((h) => ({ ...h, counts: [...h.counts] }));
  }
}
