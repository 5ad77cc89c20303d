import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import type { BudgetLimit, CounterStore, WindowLimit, WindowState } from '../../store/counter-store.js';
import type { EffectivePolicy } from './policy.service.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export type BudgetPeriod = 'day' | 'week' | 'term';

export interface PeriodBounds {
  /** e.g. `2026-01-05` (the start day, UTC). */
  id: string;
  startMs: number;
  endMs: number;
}

export interface QuotaServiceOptions {
  counters: CounterStore;
  /** Tokens a subject used since an ISO time (usage records): seeds budget counters. */
  usedSince: (subject: string, sinceIso: string) => Promise<number>;
  /** `quota.term_starts` (MM-DD, UTC). */
  termStarts: readonly string[];
  /** `quota.reservation_ttl_ms`. */
  reservationTtlMs: number;
  clock?: Clock;
  warn?: (message: string, details?: Record<string, unknown>) => void;
}

/** A reservation held for one request; settled (or cancelled) exactly once. */
export interface Reservation {
  /** Tokens held: what was asked, or less when `minTokens` let a smaller budget remainder do. */
  tokens: number;
  /** `x-ratelimit-*` headers describing the windows after this request. */
  headers: Record<string, string>;
  settle(tokens: number): void;
  cancel(): void;
}

export interface BudgetStatus {
  period: BudgetPeriod;
  limit: number;
  used: number;
  resetsAt: string;
}

const PERIOD_WORDS: Record<BudgetPeriod, string> = { day: 'daily', week: 'weekly', term: 'term' };

/** The UTC period that contains `nowMs`. */
export function periodBounds(period: BudgetPeriod, nowMs: number, termStarts: readonly string[]): PeriodBounds {
  const dayStart = Math.floor(nowMs / DAY_MS) * DAY_MS;
  if (period === 'day') return { id: new Date(dayStart).toISOString().slice(0, 10), startMs: dayStart, endMs: dayStart + DAY_MS };
  if (period === 'week') {
    const weekday = (new Date(dayStart).getUTCDay() + 6) % 7; // Monday = 0
    const start = dayStart - weekday * DAY_MS;
    return { id: new Date(start).toISOString().slice(0, 10), startMs: start, endMs: start + 7 * DAY_MS };
  }
  const year = new Date(nowMs).getUTCFullYear();
  const starts = [year - 1, year, year + 1]
    .flatMap((y) => termStarts.map((mmdd) => Date.UTC(y, Number(mmdd.slice(0, 2)) - 1, Number(mmdd.slice(3, 5)))))
    .sort((a, b) => a - b);
  const index = starts.findLastIndex((start) => start <= nowMs);
  const start = starts[index]!;
  return { id: new Date(start).toISOString().slice(0, 10), startMs: start, endMs: starts[index + 1]! };
}

function budgetsOf(policy: EffectivePolicy): { period: BudgetPeriod; limit: number }[] {
  const budgets: { period: BudgetPeriod; limit: number }[] = [];
  if (policy.tokensPerDay !== null) budgets.push({ period: 'day', limit: policy.tokensPerDay });
  if (policy.tokensPerWeek !== null) budgets.push({ period: 'week', limit: policy.tokensPerWeek });
  if (policy.tokensPerTerm !== null) budgets.push({ period: 'term', limit: policy.tokensPerTerm });
  return budgets;
}

/**
 * 429 for a budget that cannot hold the request: spent, or with less left than this request
 * alone may use — with the numbers, so the client can ask for fewer tokens instead of waiting.
 */
function budgetRefusal(
  { period, bounds, budget }: { period: BudgetPeriod; bounds: PeriodBounds; budget: BudgetLimit },
  { used, reserved }: { used: number; reserved: number }, neededTokens: number, nowMs: number,
): FlexiError {
  const resetsAt = new Date(bounds.endMs).toISOString();
  const left = Math.max(0, budget.limit - used - reserved);
  const window = `${PERIOD_WORDS[period]} token budget of ${budget.limit} tokens`;
  const message = used >= budget.limit
    ? `Your ${window} is spent; it resets at ${resetsAt}.`
    : `This request needs up to ${neededTokens} tokens (input bound + max_tokens), but your ${window} has ${left} left`
      + `${reserved > 0 ? ` (${reserved} more are held by your requests still running)` : ''}; it resets at ${resetsAt}. `
      + 'Ask for fewer tokens (max_tokens) or send a shorter input.';
  return new FlexiError('insufficient_quota', message, {
    retryAfterSeconds: (bounds.endMs - nowMs) / 1000,
    headers: { 'x-flexi-budget-reset': resetsAt, 'x-flexi-budget-needed': String(neededTokens), 'x-flexi-budget-left': String(left) },
  });
}

function resetText(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/**
 * Rate limits, concurrency and token budgets of one subject, enforced through a CounterStore.
 * A request reserves its worst case (max tokens + an input bound that never under-counts)
 * atomically with all checks; the real count replaces the reservation when it ends. A budget
 * admits a request only when its whole reservation fits in what is left, so requests running at
 * the same time, on any number of replicas, cannot jointly spend more than the budget.
 */
export class QuotaService {
  private readonly clock: Clock;
  private readonly warn: (message: string, details?: Record<string, unknown>) => void;

  constructor(private readonly options: QuotaServiceOptions) {
    this.clock = options.clock ?? systemClock;
    this.warn = options.warn ?? (() => {});
  }

  private keyOf(subject: string, suffix: string): string {
    // The braces are a Redis Cluster hash tag: all keys of a subject live on one shard.
    return `q:{${subject}}:${suffix}`;
  }

  /** `minTokens`: the least the request can run with, when less than `tokens` will do (see ReserveSpec). */
  async reserve(subject: string, policy: EffectivePolicy, tokens: number, minTokens?: number): Promise<Reservation> {
    const nowMs = this.clock.now();
    const id = randomId(16);
    const windows: (WindowLimit & { unit: 'requests' | 'tokens' })[] = [];
    if (policy.requestsPerMinute !== null) windows.push({ key: this.keyOf(subject, 'rpm'), windowMs: MINUTE_MS, limit: policy.requestsPerMinute, cost: 1, unit: 'requests' });
    if (policy.tokensPerMinute !== null) windows.push({ key: this.keyOf(subject, 'tpm'), windowMs: MINUTE_MS, limit: policy.tokensPerMinute, cost: tokens, unit: 'tokens' });
    const periods = budgetsOf(policy).map(({ period, limit }) => {
      const bounds = periodBounds(period, nowMs, this.options.termStarts);
      const budget: BudgetLimit = { key: this.keyOf(subject, `${period}:${bounds.id}`), limit, ttlMs: bounds.endMs - nowMs + DAY_MS };
      return { period, bounds, budget };
    });
    const inflightKey = this.keyOf(subject, 'inflight');
    const spec = {
      nowMs, inflightKey, id, tokens, minTokens, leaseMs: this.options.reservationTtlMs, maxInflight: policy.maxConcurrent,
      windows, budgets: periods.map((p) => p.budget),
    };
    let outcome = await this.options.counters.reserve(spec);
    if (!outcome.ok && outcome.reason === 'unseeded') {
      await this.seed(subject, periods.filter((p) => (outcome as { keys: string[] }).keys.includes(p.budget.key)), nowMs);
      outcome = await this.options.counters.reserve(spec);
    }
    if (!outcome.ok) {
      switch (outcome.reason) {
        case 'unseeded':
          throw new Error('budget counters vanished right after seeding');
        case 'concurrency':
          throw new FlexiError('rate_limit_exceeded',
            `You already have ${outcome.inflight} requests running, the most your role allows; retry when one has finished.`,
            { retryAfterSeconds: 1 });
        case 'budget':
          throw budgetRefusal(periods[outcome.index]!, outcome, minTokens ?? tokens, nowMs);
        case 'window': {
          const window = windows[outcome.index]!;
          const seconds = Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
          throw new FlexiError('rate_limit_exceeded',
            `Rate limit of ${window.limit} ${window.unit} per minute reached; retry in ${seconds} s.`,
            { retryAfterSeconds: outcome.retryAfterMs / 1000, headers: this.headers(windows, outcome.windows) });
        }
      }
    }
    const headers = this.headers(windows, outcome.windows);
    let done = false;
    const finish = (actualTokens: number, booked: boolean) => {
      if (done) return;
      done = true;
      const settleAt = this.clock.now();
      void this.options.counters.settle({
        nowMs: settleAt, inflightKey, id,
        tokens: booked ? actualTokens : 0,
        budgetKeys: booked ? periods.map((p) => p.budget.key) : [],
        windows: windows.filter((w) => w.unit === 'tokens').map((w) => ({ key: w.key, windowMs: w.windowMs, delta: (booked ? actualTokens : 0) - tokens })),
      }).catch((error: unknown) => this.warn('settling a quota reservation failed; it expires by itself', { error: String(error) }));
    };
    return { tokens: outcome.tokens, headers, settle: (actual) => finish(Math.max(0, actual), true), cancel: () => finish(0, false) };
  }

  /** Used and remaining budget per period, for `GET /auth/me`. */
  async status(subject: string, policy: EffectivePolicy): Promise<BudgetStatus[]> {
    const nowMs = this.clock.now();
    return Promise.all(budgetsOf(policy).map(async ({ period, limit }) => {
      const bounds = periodBounds(period, nowMs, this.options.termStarts);
      const used = await this.options.usedSince(subject, new Date(bounds.startMs).toISOString());
      return { period, limit, used, resetsAt: new Date(bounds.endMs).toISOString() };
    }));
  }

  private async seed(subject: string, periods: { bounds: PeriodBounds; budget: BudgetLimit }[], nowMs: number): Promise<void> {
    await Promise.all(periods.map(async ({ bounds, budget }) => {
      const used = await this.options.usedSince(subject, new Date(bounds.startMs).toISOString());
      await this.options.counters.seed(budget.key, used, nowMs, budget.ttlMs);
    }));
  }

  private headers(windows: readonly (WindowLimit & { unit: 'requests' | 'tokens' })[], states: readonly WindowState[]): Record<string, string> {
    const headers: Record<string, string> = {};
    windows.forEach((window, index) => {
      const state = states[index];
      if (!state) return;
      headers[`x-ratelimit-limit-${window.unit}`] = String(window.limit);
      headers[`x-ratelimit-remaining-${window.unit}`] = String(Math.max(0, Math.floor(window.limit - state.used)));
      headers[`x-ratelimit-reset-${window.unit}`] = resetText(state.resetMs);
    });
    return headers;
  }
}
