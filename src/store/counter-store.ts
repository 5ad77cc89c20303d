/**
 * Shared counters for rate limits, token budgets, concurrency and login throttling. One
 * process keeps them in memory (`MemoryCounterStore`); several replicas share them in Redis
 * (`RedisCounterStore`). Every check-and-update is one atomic step, so two replicas (or two
 * requests in one) never both take the last unit of a limit.
 */

/** A sliding-window rate limit (requests or tokens per window). */
export interface WindowLimit {
  key: string;
  windowMs: number;
  limit: number;
  /** Added to the window when the reservation is admitted. */
  cost: number;
}

/**
 * A token budget of one period: a request is admitted only when its own reservation fits in
 * what is left (`limit` − used − reserved by requests in flight), so requests running at the
 * same time can never jointly spend more than the limit.
 */
export interface BudgetLimit {
  /** Names the period (`…:day:2026-01-01`), so a new period is a new key. */
  key: string;
  limit: number;
  /** How long the counter lives (until the period ends, plus slack). */
  ttlMs: number;
}

export interface ReserveSpec {
  nowMs: number;
  /** The subject's set of in-flight reservations (concurrency and reserved tokens). */
  inflightKey: string;
  /** Unique id of this reservation. */
  id: string;
  /** Tokens held against every budget until settled. */
  tokens: number;
  /**
   * When set, a budget with less than `tokens` but at least this many left grants what is left
   * instead of refusing (a request that set no max_tokens gets a shorter answer, not a refusal).
   */
  minTokens?: number;
  /** The reservation is dropped after this long even if never settled (crashed replica). */
  leaseMs: number;
  /** Largest number of live reservations; null: unlimited. */
  maxInflight: number | null;
  windows: readonly WindowLimit[];
  budgets: readonly BudgetLimit[];
}

/** The state of a window after a decision, for `x-ratelimit-*` headers. */
export interface WindowState {
  /** Estimated use in the sliding window, including this request. */
  used: number;
  /** Milliseconds until the window is empty again. */
  resetMs: number;
}

export type ReserveOutcome =
  /** `tokens`: what the reservation holds, `spec.tokens` or less when `minTokens` allowed it. */
  | { ok: true; windows: WindowState[]; tokens: number }
  | { ok: false; reason: 'concurrency'; inflight: number }
  | { ok: false; reason: 'window'; index: number; retryAfterMs: number; windows: WindowState[] }
  | { ok: false; reason: 'budget'; index: number; used: number; reserved: number }
  /** A budget counter does not exist yet: seed it (`seed`) and reserve again. */
  | { ok: false; reason: 'unseeded'; keys: string[] };

export interface SettleSpec {
  nowMs: number;
  inflightKey: string;
  id: string;
  /** Tokens really used, added to every budget counter that exists. */
  tokens: number;
  budgetKeys: readonly string[];
  /** Corrections to windows (real minus reserved tokens), applied to the current bucket. */
  windows: readonly { key: string; windowMs: number; delta: number }[];
}

/** Failures counted for login throttling. */
export interface Strikes {
  count: number;
  lastAtMs: number;
}

export interface CounterStore {
  /** Checks concurrency, budgets and windows, and if all pass records the reservation; atomic. */
  reserve(spec: ReserveSpec): Promise<ReserveOutcome>;
  /** Ends a reservation: removes it from the in-flight set and books the real tokens. */
  settle(spec: SettleSpec): Promise<void>;
  /** Sets a budget counter if it does not exist yet (another replica may have seeded it first). */
  seed(key: string, value: number, nowMs: number, ttlMs: number): Promise<void>;
  /** Counts one failure; the record is forgotten `ttlMs` after the last one. */
  addStrike(key: string, nowMs: number, ttlMs: number): Promise<Strikes>;
  getStrikes(key: string, nowMs: number): Promise<Strikes | undefined>;
  clearStrikes(key: string): Promise<void>;
  /** One round trip to the shared store (`/readyz`); throws `store_unavailable` when it cannot answer. */
  ping(): Promise<void>;
  /** Tells every process that shares this store that the API key `keyId` was revoked. */
  publishKeyRevoked(keyId: string): Promise<void>;
  /**
   * Calls `listener` with the id of every key revoked by any process sharing this store, and
   * with `undefined` when revocations may have been missed (a reconnect): forget every key then.
   * Resolves once the listener hears revocations from other processes.
   */
  onKeyRevoked(listener: (keyId: string | undefined) => void): Promise<void>;
  close(): Promise<void>;
}

export type KeyRevokedListener = (keyId: string | undefined) => void;

export function bucketStartMs(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs) * windowMs;
}

export function bucketKey(key: string, startMs: number): string {
  return `${key}:${startMs}`;
}

/**
 * Sliding-window counter (two fixed buckets, the previous one weighted by how much of it still
 * overlaps the window): O(1) memory per subject, within a few percent of an exact log.
 */
export function windowEstimate(prev: number, curr: number, nowMs: number, windowMs: number): number {
  const elapsed = (nowMs - bucketStartMs(nowMs, windowMs)) / windowMs;
  return Math.max(0, prev) * (1 - elapsed) + Math.max(0, curr);
}

/** Milliseconds until the estimate drops below `limit` (the Lua script computes the same). */
export function windowRetryAfterMs(prev: number, curr: number, limit: number, nowMs: number, windowMs: number): number {
  const start = bucketStartMs(nowMs, windowMs);
  prev = Math.max(0, prev);
  curr = Math.max(0, curr);
  if (curr >= limit) {
    // Wait for the next bucket, then for this bucket's weight to fall far enough.
    return start + windowMs - nowMs + Math.ceil(windowMs * (1 - limit / curr)) + 1;
  }
  if (prev <= 0) return 1;
  const fraction = 1 - (limit - curr) / prev;
  return Math.max(1, Math.ceil(start + windowMs * fraction - nowMs) + 1);
}

export function windowResetMs(curr: number, nowMs: number, windowMs: number): number {
  const start = bucketStartMs(nowMs, windowMs);
  return curr > 0 ? start + 2 * windowMs - nowMs : start + windowMs - nowMs;
}

interface Entry {
  value: number;
  expiresAtMs: number;
}

/** Counters in this process's memory: exact and fast, but each process has its own. */
export class MemoryCounterStore implements CounterStore {
  private readonly values = new Map<string, Entry>();
  private readonly inflight = new Map<string, Map<string, Entry>>();
  private readonly strikes = new Map<string, Strikes & { expiresAtMs: number }>();
  private readonly revokedListeners: KeyRevokedListener[] = [];
  private operations = 0;

  // One process: the listeners are this process's own key caches.
  async publishKeyRevoked(keyId: string): Promise<void> {
    for (const listener of this.revokedListeners) listener(keyId);
  }

  async onKeyRevoked(listener: KeyRevokedListener): Promise<void> {
    this.revokedListeners.push(listener);
  }

  async reserve(spec: ReserveSpec): Promise<ReserveOutcome> {
    this.sweepSometimes(spec.nowMs);
    const missing = spec.budgets.filter((b) => this.get(b.key, spec.nowMs) === undefined).map((b) => b.key);
    if (missing.length > 0) return { ok: false, reason: 'unseeded', keys: missing };
    const live = this.liveReservations(spec.inflightKey, spec.nowMs);
    let reserved = 0;
    for (const entry of live.values()) reserved += entry.value;
    if (spec.maxInflight !== null && live.size >= spec.maxInflight) return { ok: false, reason: 'concurrency', inflight: live.size };
    let granted = spec.tokens;
    for (const [index, budget] of spec.budgets.entries()) {
      const used = this.get(budget.key, spec.nowMs)!;
      const left = budget.limit - used - reserved;
      if (left < granted) {
        if (left <= 0 || spec.minTokens === undefined || left < spec.minTokens) return { ok: false, reason: 'budget', index, used, reserved };
        granted = left;
      }
    }
    const states: WindowState[] = [];
    for (const [index, window] of spec.windows.entries()) {
      const { prev, curr } = this.buckets(window.key, window.windowMs, spec.nowMs);
      const estimate = windowEstimate(prev, curr, spec.nowMs, window.windowMs);
      if (estimate >= window.limit) {
        return {
          ok: false, reason: 'window', index,
          retryAfterMs: windowRetryAfterMs(prev, curr, window.limit, spec.nowMs, window.windowMs),
          windows: this.states(spec),
        };
      }
      states.push({ used: estimate + window.cost, resetMs: windowResetMs(curr + window.cost, spec.nowMs, window.windowMs) });
    }
    for (const window of spec.windows) this.addToBucket(window.key, window.windowMs, window.cost, spec.nowMs);
    live.set(spec.id, { value: granted, expiresAtMs: spec.nowMs + spec.leaseMs });
    this.inflight.set(spec.inflightKey, live);
    return { ok: true, windows: states, tokens: granted };
  }

  async settle(spec: SettleSpec): Promise<void> {
    this.inflight.get(spec.inflightKey)?.delete(spec.id);
    for (const key of spec.budgetKeys) {
      const entry = this.values.get(key);
      if (entry && entry.expiresAtMs > spec.nowMs) entry.value += spec.tokens;
    }
    for (const window of spec.windows) {
      if (window.delta !== 0) this.addToBucket(window.key, window.windowMs, window.delta, spec.nowMs);
    }
  }

  async seed(key: string, value: number, nowMs: number, ttlMs: number): Promise<void> {
    if (this.get(key, nowMs) === undefined) this.values.set(key, { value, expiresAtMs: nowMs + ttlMs });
  }

  async addStrike(key: string, nowMs: number, ttlMs: number): Promise<Strikes> {
    const current = this.strikes.get(key);
    const count = (current && current.expiresAtMs > nowMs ? current.count : 0) + 1;
    const next = { count, lastAtMs: nowMs, expiresAtMs: nowMs + ttlMs };
    this.strikes.set(key, next);
    return { count, lastAtMs: nowMs };
  }

  async getStrikes(key: string, nowMs: number): Promise<Strikes | undefined> {
    const current = this.strikes.get(key);
    if (!current || current.expiresAtMs <= nowMs) return undefined;
    return { count: current.count, lastAtMs: current.lastAtMs };
  }

  async clearStrikes(key: string): Promise<void> {
    this.strikes.delete(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  private get(key: string, nowMs: number): number | undefined {
    const entry = this.values.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.values.delete(key);
      return undefined;
    }
    return entry.value;
  }

  private buckets(key: string, windowMs: number, nowMs: number): { prev: number; curr: number } {
    const start = bucketStartMs(nowMs, windowMs);
    return { prev: this.get(bucketKey(key, start - windowMs), nowMs) ?? 0, curr: this.get(bucketKey(key, start), nowMs) ?? 0 };
  }

  private addToBucket(key: string, windowMs: number, amount: number, nowMs: number): void {
    const start = bucketStartMs(nowMs, windowMs);
    const name = bucketKey(key, start);
    const current = this.get(name, nowMs) ?? 0;
    this.values.set(name, { value: current + amount, expiresAtMs: start + 2 * windowMs });
  }

  private states(spec: ReserveSpec): WindowState[] {
    return spec.windows.map((window) => {
      const { prev, curr } = this.buckets(window.key, window.windowMs, spec.nowMs);
      return { used: windowEstimate(prev, curr, spec.nowMs, window.windowMs), resetMs: windowResetMs(curr, spec.nowMs, window.windowMs) };
    });
  }

  private liveReservations(key: string, nowMs: number): Map<string, Entry> {
    const live = this.inflight.get(key) ?? new Map<string, Entry>();
    for (const [id, entry] of live) if (entry.expiresAtMs <= nowMs) live.delete(id);
    return live;
  }

  /** Expired entries are dropped lazily on read, and in a full pass every few thousand operations. */
  private sweepSometimes(nowMs: number): void {
    if (++this.operations % 4096 !== 0) return;
    for (const [key, entry] of this.values) if (entry.expiresAtMs <= nowMs) this.values.delete(key);
    for (const [key, set] of this.inflight) {
      for (const [id, entry] of set) if (entry.expiresAtMs <= nowMs) set.delete(id);
      if (set.size === 0) this.inflight.delete(key);
    }
    for (const [key, entry] of this.strikes) if (entry.expiresAtMs <= nowMs) this.strikes.delete(key);
  }
}
