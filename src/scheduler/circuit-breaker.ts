export type BreakerState = 'closed' | 'open' | 'half_open';

/**
 * Per-node circuit breaker fed by request outcomes (health probes are a separate input).
 * closed → open after `failureThreshold` consecutive failures; open → half-open once
 * `cooldownMs` has passed, which lets exactly one probe request through; the probe's success
 * closes it, its failure opens it again for another cool-down.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openedAtMs = 0;
  private probeInFlight = false;

  constructor(
    private readonly failureThreshold: number,
    private readonly cooldownMs: number,
  ) {}

  /** The state as a snapshot shows it: an open breaker whose cool-down ended reads half-open. */
  state(nowMs: number): BreakerState {
    if (this.current === 'open' && nowMs - this.openedAtMs >= this.cooldownMs) return 'half_open';
    return this.current;
  }

  canAdmit(nowMs: number): boolean {
    const state = this.state(nowMs);
    if (state === 'closed') return true;
    return state === 'half_open' && !this.probeInFlight;
  }

  /** Records a placement; returns true when it is the half-open probe. */
  onPlaced(nowMs: number): boolean {
    if (this.state(nowMs) !== 'half_open') return false;
    this.current = 'half_open';
    this.probeInFlight = true;
    return true;
  }

  onSuccess(): void {
    this.current = 'closed';
    this.consecutiveFailures = 0;
    this.probeInFlight = false;
  }

  onFailure(nowMs: number, wasProbe: boolean): void {
    this.consecutiveFailures++;
    // Failures of requests placed before the breaker opened must not restart the cool-down.
    if (this.current === 'open') return;
    if (wasProbe || this.current === 'half_open' || this.consecutiveFailures >= this.failureThreshold) {
      this.current = 'open';
      this.openedAtMs = nowMs;
      this.probeInFlight = false;
    }
  }

  /** A probe that ended without telling anything (client went away) frees the probe turn. */
  onNeutral(wasProbe: boolean): void {
    if (wasProbe) this.probeInFlight = false;
  }

  /** When an open breaker turns half-open; undefined unless open. */
  reopensAtMs(): number | undefined {
    return this.current === 'open' ? this.openedAtMs + this.cooldownMs : undefined;
  }
}
