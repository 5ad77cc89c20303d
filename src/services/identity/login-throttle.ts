import { createHash } from 'node:crypto';
import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { CounterStore } from '../../store/counter-store.js';

export interface LoginThrottleOptions {
  counters: CounterStore;
  /** Failures allowed before waits begin (`auth.login_free_attempts`). */
  freeAttempts: number;
  /** First wait, doubled per further failure (`auth.login_backoff_ms`). */
  backoffMs: number;
  /** Failures are forgotten this long after the last one; also the longest wait (`auth.login_window_ms`). */
  windowMs: number;
  /** Failures from one address on any accounts before it waits out `windowMs` (`auth.login_failures_per_address`); 0: no limit. */
  failuresPerAddress: number;
  clock?: Clock;
}

/**
 * Slows down password guessing per account and client address: after the free attempts each
 * failure doubles the wait before the next try. A second counter per address alone stops
 * password spraying (one guess on each of many accounts, which never trips the per-account
 * one): after `failuresPerAddress` failures on any accounts the address waits until
 * `windowMs` after its last failure, whatever account it names. Counted in the CounterStore,
 * so both limits hold across replicas. E-mails and addresses are hashed: the keys name nobody.
 */
export class LoginThrottle {
  private readonly clock: Clock;

  constructor(private readonly options: LoginThrottleOptions) {
    this.clock = options.clock ?? systemClock;
  }

  private key(email: string, ip: string): string {
    return `login:${createHash('sha256').update(`${email.trim().toLowerCase()}\n${ip}`).digest('hex').slice(0, 32)}`;
  }

  private addressKey(ip: string): string {
    return `login-address:${createHash('sha256').update(ip).digest('hex').slice(0, 32)}`;
  }

  private waitMs(count: number): number {
    if (count < this.options.freeAttempts) return 0;
    const exponent = Math.min(30, count - this.options.freeAttempts);
    return Math.min(this.options.windowMs, this.options.backoffMs * 2 ** exponent);
  }

  /** Throws rate_limit_exceeded with Retry-After while this account+address, or this address, must wait. */
  async check(email: string, ip: string): Promise<void> {
    const now = this.clock.now();
    const [strikes, addressStrikes] = await Promise.all([
      this.options.counters.getStrikes(this.key(email, ip), now),
      this.options.failuresPerAddress > 0 ? this.options.counters.getStrikes(this.addressKey(ip), now) : undefined,
    ]);
    const accountWaitMs = strikes ? strikes.lastAtMs + this.waitMs(strikes.count) - now : 0;
    const addressWaitMs = addressStrikes && addressStrikes.count >= this.options.failuresPerAddress
      ? addressStrikes.lastAtMs + this.options.windowMs - now : 0;
    const remainingMs = Math.max(accountWaitMs, addressWaitMs);
    if (remainingMs > 0) {
      throw new FlexiError('rate_limit_exceeded', `Too many failed logins; try again in ${Math.ceil(remainingMs / 1000)} s.`, { retryAfterSeconds: remainingMs / 1000 });
    }
  }

  async failed(email: string, ip: string): Promise<void> {
    const now = this.clock.now();
    await Promise.all([
      this.options.counters.addStrike(this.key(email, ip), now, this.options.windowMs),
      this.options.failuresPerAddress > 0 ? this.options.counters.addStrike(this.addressKey(ip), now, this.options.windowMs) : undefined,
    ]);
  }

  /** Clears the account's failures only: one valid account must not reset a sprayer's address count. */
  async succeeded(email: string, ip: string): Promise<void> {
    await this.options.counters.clearStrikes(this.key(email, ip));
  }
}
