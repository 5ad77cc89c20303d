/** Completions needed in backlogged time before the measured rate is trusted. */
const MIN_SAMPLES = 3;
/** Weight of the newest lease duration in the service-time average. */
const SERVICE_ALPHA = 0.2;

/**
 * Completions per second of one model, as an exponentially weighted moving average over
 * *backlogged* time only: while nobody waits, completions say how much was asked, not how fast
 * the nodes drain a queue, so the clock of the average stops. The average is bias-corrected
 * (divided by 1 − e^(−T/τ) for T backlogged ms seen) so that it is usable after a few
 * completions instead of ramping up over τ. Before that, slots ÷ mean service time stands in.
 */
export class DrainRate {
  private backlogged = false;
  private lastMs: number | undefined;
  private busyMs = 0;
  /** Decayed events per ms, as of `rateAtBusyMs`. */
  private rawRate = 0;
  private rateAtBusyMs = 0;
  private samples = 0;
  private serviceMsAverage: number | undefined;

  constructor(private readonly windowMs: number) {}

  /** Call whenever the model's queue goes from empty to non-empty or back. */
  setBacklogged(nowMs: number, backlogged: boolean): void {
    this.advance(nowMs);
    this.backlogged = backlogged;
  }

  /** A slot was freed; `serviceMs` (lease duration) only for requests that ran to their end. */
  recordCompletion(nowMs: number, serviceMs?: number): void {
    this.advance(nowMs);
    if (serviceMs !== undefined) {
      this.serviceMsAverage = this.serviceMsAverage === undefined
        ? serviceMs
        : this.serviceMsAverage + SERVICE_ALPHA * (serviceMs - this.serviceMsAverage);
    }
    if (!this.backlogged) return;
    this.rawRate = this.decayed() + 1 / this.windowMs;
    this.rateAtBusyMs = this.busyMs;
    this.samples++;
  }

  get meanServiceMs(): number | undefined {
    return this.serviceMsAverage;
  }

  /** Measured completions per second, undefined until enough backlogged completions were seen. */
  measuredPerSecond(nowMs: number): number | undefined {
    this.advance(nowMs);
    if (this.samples < MIN_SAMPLES || this.busyMs <= 0) return undefined;
    const correction = 1 - Math.exp(-this.busyMs / this.windowMs);
    return (this.decayed() / correction) * 1000;
  }

  /** Best estimate: measured, else `slots` parallel requests each taking the mean service time. */
  perSecond(nowMs: number, slots: number): number | undefined {
    const measured = this.measuredPerSecond(nowMs);
    if (measured !== undefined && measured > 0) return measured;
    if (this.serviceMsAverage === undefined || slots <= 0) return undefined;
    return (slots * 1000) / Math.max(this.serviceMsAverage, 1);
  }

  private decayed(): number {
    return this.rawRate * Math.exp(-(this.busyMs - this.rateAtBusyMs) / this.windowMs);
  }

  private advance(nowMs: number): void {
    if (this.lastMs !== undefined && this.backlogged) this.busyMs += Math.max(0, nowMs - this.lastMs);
    this.lastMs = nowMs;
  }
}
