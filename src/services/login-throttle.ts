import { createHash } from 'node:crypto';
import { FlexiError } from '../core/errors.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { CounterStore } from '../store/counter-store.js';

export interface LoginThrottleOptions {
  counters: CounterStore;
  /** Failures allowed before waits begin (`auth.login_free_attempts`). */
  freeAttempts: number;
  /** First wait, doubled per further failure (`auth.login_backoff_ms`). */
  backoffMs: number;
  /** Failures are forgotten this long after the last one; also the longest wait (`auth.login_window_ms`). */
  windowMs: number;
  clock?: Clock;
}

/**
 * Slows down password guessing per account and client address: after the free attempts each
 * failure doubles the wait before the next try. Counted in the CounterStore, so the limit
 * holds across replicas. The e-mail is hashed: the counter keys name nobody.
 */
export class LoginThrottle {
  private readonly clock: Clock;

  constructor(private readonly options: LoginThrottleOptions) {
    this.clock = options.clock ?? systemClock;
  }

  private key(email: string, ip: string): string {
    return `login:${createHash('sha256').update(`${email.trim().toLowerCase()}\n${ip}`).digest('hex').slice(0, 32)}`;
  }

  private waitMs(count: number): number {
    if (count < this.options.freeAttempts) return 0;
    const exponent = Math.min(30, count - this.options.freeAttempts);
    return Math.min(this.options.windowMs, this.options.backoffMs * 2 ** exponent);
  }

  /** Throws rate_limit_exceeded with Retry-After while this account+address must wait. */
  async check(email: string, ip: string): Promise<void> {
    const strikes = await this.options.counters.getStrikes(this.key(email, ip), this.clock.now());
    if (!strikes) return;
    const remainingMs = strikes.lastAtMs + this.waitMs(strikes.count) - this.clock.now();
    if (remainingMs > 0) {
      throw new FlexiError('rate_limit_exceeded', `Too many failed logins; try again in ${Math.ceil(remainingMs / 1000)} s.`, { retryAfterSeconds: remainingMs / 1000 });
    }
  }

  async failed(email: string, ip: string): Promise<void> {
    await this.options.counters.addStrike(this.key(email, ip), this.clock.now(), this.options.windowMs);
  }

  async succeeded(email: string, ip: string): Promise<void> {
    await this.options.counters.clearStrikes(this.key(email, ip));
  }
}
