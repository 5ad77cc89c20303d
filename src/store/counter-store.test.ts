import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomId } from '../lib/ids.js';
import { MemoryCounterStore, windowEstimate, windowRetryAfterMs, type CounterStore, type ReserveSpec } from './counter-store.js';
import { RedisCounterStore } from './redis-counter-store.js';

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

const implementations: [string, (() => CounterStore) | undefined][] = [
  ['memory', () => new MemoryCounterStore()],
  ['redis', redisUrl ? () => new RedisCounterStore(redisUrl, { keyPrefix: `flexi-test:${randomId(8)}:` }) : undefined],
];

describe('sliding window arithmetic', () => {
  it('weights the previous bucket by its remaining overlap', () => {
    expect(windowEstimate(10, 0, 60_000, 60_000)).toBe(10);
    expect(windowEstimate(10, 2, 90_000, 60_000)).toBe(7);
  });

  it('says how long until the estimate drops below the limit', () => {
    // 10 in the previous bucket, 0 now, limit 5: half the window must pass.
    const wait = windowRetryAfterMs(10, 0, 5, 60_000, 60_000);
    expect(wait).toBeGreaterThanOrEqual(30_000);
    expect(windowEstimate(10, 0, 60_000 + wait, 60_000)).toBeLessThan(5);
    // The current bucket alone is full: wait into the next one.
    const full = windowRetryAfterMs(0, 5, 5, 70_000, 60_000);
    expect(windowEstimate(5, 0, 70_000 + full, 60_000)).toBeLessThan(5);
  });
});

for (const [name, create] of implementations) {
  describe.skipIf(!create)(`CounterStore [${name}]`, () => {
    let store: CounterStore;
    let subject: string;
    beforeEach(() => {
      store = create!();
      subject = `s-${randomId(6)}`;
    });
    afterEach(() => store.close());

    const spec = (overrides: Partial<ReserveSpec> = {}): ReserveSpec => ({
      nowMs: T0, inflightKey: `${subject}:inflight`, id: randomId(8), tokens: 10, leaseMs: 60_000, maxInflight: null,
      windows: [], budgets: [], ...overrides,
    });

    it('asks for a seed before using a budget, and a seed does not overwrite', async () => {
      const budget = { key: `${subject}:day`, limit: 100, ttlMs: 86_400_000 };
      const first = await store.reserve(spec({ budgets: [budget] }));
      expect(first).toEqual({ ok: false, reason: 'unseeded', keys: [budget.key] });
      await store.seed(budget.key, 40, T0, budget.ttlMs);
      await store.seed(budget.key, 0, T0, budget.ttlMs);
      const second = await store.reserve(spec({ budgets: [budget], tokens: 50 }));
      expect(second).toMatchObject({ ok: true, tokens: 50 });
      // 40 used + 50 reserved leaves 10: a request that needs 11 no longer fits, one of 10 does.
      const third = await store.reserve(spec({ budgets: [budget], tokens: 11 }));
      expect(third).toMatchObject({ ok: false, reason: 'budget', index: 0, used: 40, reserved: 50 });
      expect((await store.reserve(spec({ budgets: [budget], tokens: 10 }))).ok).toBe(true);
      expect(await store.reserve(spec({ budgets: [budget], tokens: 1 }))).toMatchObject({ ok: false, reason: 'budget', reserved: 60 });
    });

    it('never admits a reservation larger than what is left, and grants the rest down to minTokens', async () => {
      const day = { key: `${subject}:day`, limit: 100, ttlMs: 86_400_000 };
      const week = { key: `${subject}:week`, limit: 1000, ttlMs: 86_400_000 };
      await store.seed(day.key, 60, T0, day.ttlMs);
      await store.seed(week.key, 975, T0, week.ttlMs);
      // The week has 25 left, the day 40: a request that needs 30 is refused by the week…
      expect(await store.reserve(spec({ budgets: [day, week], tokens: 30 }))).toMatchObject({ ok: false, reason: 'budget', index: 1 });
      // …unless it can do with less: it gets the 25 the tighter budget has left.
      expect(await store.reserve(spec({ budgets: [day, week], tokens: 30, minTokens: 20 }))).toMatchObject({ ok: true, tokens: 25 });
      expect(await store.reserve(spec({ budgets: [day, week], tokens: 30, minTokens: 1 }))).toMatchObject({ ok: false, reason: 'budget', reserved: 25 });
    });

    it('settles with the real count and frees the reservation', async () => {
      const budget = { key: `${subject}:day`, limit: 100, ttlMs: 86_400_000 };
      await store.seed(budget.key, 0, T0, budget.ttlMs);
      const id = 'r1';
      expect((await store.reserve(spec({ id, budgets: [budget], tokens: 100 }))).ok).toBe(true);
      expect((await store.reserve(spec({ budgets: [budget], tokens: 1 }))).ok).toBe(false);
      await store.settle({ nowMs: T0, inflightKey: `${subject}:inflight`, id, tokens: 30, budgetKeys: [budget.key], windows: [] });
      expect((await store.reserve(spec({ budgets: [budget], tokens: 5 }))).ok).toBe(true);
      expect(await store.reserve(spec({ budgets: [budget], tokens: 66 }))).toMatchObject({ ok: false, reason: 'budget', used: 30, reserved: 5 });
      expect(await store.reserve(spec({ budgets: [budget], tokens: 65 }))).toMatchObject({ ok: true });
      expect(await store.reserve(spec({ budgets: [budget], tokens: 1 }))).toMatchObject({ ok: false, reason: 'budget', used: 30, reserved: 70 });
    });

    it('limits concurrency and drops reservations whose lease ran out', async () => {
      expect((await store.reserve(spec({ maxInflight: 2 }))).ok).toBe(true);
      expect((await store.reserve(spec({ maxInflight: 2 }))).ok).toBe(true);
      expect(await store.reserve(spec({ maxInflight: 2 }))).toEqual({ ok: false, reason: 'concurrency', inflight: 2 });
      expect((await store.reserve(spec({ maxInflight: 2, nowMs: T0 + 60_001 }))).ok).toBe(true);
    });

    it('counts requests in a sliding window and says when to retry', async () => {
      const window = { key: `${subject}:rpm`, windowMs: 60_000, limit: 3, cost: 1 };
      for (let i = 0; i < 3; i++) {
        const outcome = await store.reserve(spec({ windows: [window] }));
        expect(outcome).toMatchObject({ ok: true, windows: [{ used: i + 1 }] });
      }
      const blocked = await store.reserve(spec({ windows: [window] }));
      expect(blocked).toMatchObject({ ok: false, reason: 'window', index: 0 });
      const retryAfterMs = (blocked as { retryAfterMs: number }).retryAfterMs;
      expect(retryAfterMs).toBeGreaterThan(0);
      expect(retryAfterMs).toBeLessThanOrEqual(120_000);
      expect((await store.reserve(spec({ windows: [window], nowMs: T0 + retryAfterMs }))).ok).toBe(true);
    });

    it('does not count a refused request against any limit', async () => {
      const budget = { key: `${subject}:day`, limit: 10, ttlMs: 86_400_000 };
      await store.seed(budget.key, 10, T0, budget.ttlMs);
      const window = { key: `${subject}:rpm`, windowMs: 60_000, limit: 1, cost: 1 };
      expect((await store.reserve(spec({ windows: [window], budgets: [budget] }))).ok).toBe(false);
      expect((await store.reserve(spec({ windows: [window] }))).ok).toBe(true);
    });

    it('applies window corrections at settle time', async () => {
      const window = { key: `${subject}:tpm`, windowMs: 60_000, limit: 100, cost: 90 };
      expect((await store.reserve(spec({ id: 'a', windows: [window] }))).ok).toBe(true);
      expect((await store.reserve(spec({ windows: [window] }))).ok).toBe(true);
      expect((await store.reserve(spec({ windows: [window] }))).ok).toBe(false);
      await store.settle({ nowMs: T0, inflightKey: `${subject}:inflight`, id: 'a', tokens: 5, budgetKeys: [], windows: [{ key: window.key, windowMs: 60_000, delta: -170 }] });
      expect((await store.reserve(spec({ windows: [window] }))).ok).toBe(true);
    });

    it('counts strikes until cleared or expired', async () => {
      const key = `${subject}:login`;
      expect(await store.getStrikes(key, T0)).toBeUndefined();
      expect((await store.addStrike(key, T0, 60_000)).count).toBe(1);
      expect(await store.addStrike(key, T0 + 1, 60_000)).toEqual({ count: 2, lastAtMs: T0 + 1 });
      expect(await store.getStrikes(key, T0 + 2)).toEqual({ count: 2, lastAtMs: T0 + 1 });
      await store.clearStrikes(key);
      expect(await store.getStrikes(key, T0 + 3)).toBeUndefined();
    });

    it('admits exactly the capacity under 100 concurrent reservations', async () => {
      const budget = { key: `${subject}:day`, limit: 1000, ttlMs: 86_400_000 };
      await store.seed(budget.key, 0, T0, budget.ttlMs);
      const outcomes = await Promise.all(Array.from({ length: 100 }, () => store.reserve(spec({ budgets: [budget], tokens: 100 }))));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(10);
    });
  });
}
