import { describe, expect, it } from 'vitest';
import type { FlexiError } from '../../core/errors.js';
import { ManualClock } from '../../lib/clock.js';
import { MemoryCounterStore } from '../../store/counter-store.js';
import { PolicyService } from './policy.service.js';
import { periodBounds, QuotaService } from './quota.service.js';
import { loadConfig } from '../../config/load.js';

const roles = loadConfig({ fileText: `
roles:
  daily: { models: ['*'], tokens_per_day: 100, tokens_per_term: 150 }
  rate: { models: ['*'], tokens_per_minute: 50 }
` }).roles;
const policies = new PolicyService(roles);

function setup(usedBefore = 0) {
  const clock = new ManualClock(Date.UTC(2026, 4, 13, 23, 0)); // Wednesday
  const counters = new MemoryCounterStore();
  const seeds: string[] = [];
  const quota = new QuotaService({
    counters, clock, termStarts: ['04-01', '10-01'], reservationTtlMs: 60_000,
    usedSince: async (_subject, since) => {
      seeds.push(since);
      return usedBefore;
    },
  });
  return { clock, quota, seeds };
}

async function refusal(promise: Promise<unknown>): Promise<FlexiError> {
  try {
    await promise;
  } catch (error) {
    return error as FlexiError;
  }
  throw new Error('expected a refusal');
}

describe('periodBounds', () => {
  it('finds UTC day, ISO week and term', () => {
    const now = Date.UTC(2026, 0, 7, 12); // Wednesday 7 Jan 2026
    expect(periodBounds('day', now, ['04-01', '10-01'])).toMatchObject({ id: '2026-01-07' });
    expect(periodBounds('week', now, ['04-01', '10-01'])).toMatchObject({ id: '2026-01-05', endMs: Date.UTC(2026, 0, 12) });
    expect(periodBounds('term', now, ['04-01', '10-01'])).toMatchObject({ id: '2025-10-01', endMs: Date.UTC(2026, 3, 1) });
  });
});

describe('QuotaService', () => {
  it('seeds budgets from usage records since the period start, once', async () => {
    const { quota, seeds } = setup(30);
    const reservation = await quota.reserve('s1', policies.effective(['daily']), 10);
    reservation.settle(10);
    await quota.reserve('s1', policies.effective(['daily']), 10);
    expect(seeds.sort()).toEqual(['2026-04-01T00:00:00.000Z', '2026-05-13T00:00:00.000Z']);
  });

  it('refuses a spent budget with insufficient_quota saying when it resets, and resets with the period', async () => {
    const { quota, clock } = setup(95);
    const policy = policies.effective(['daily']);
    (await quota.reserve('s1', policy, 5)).settle(20);
    const error = await refusal(quota.reserve('s1', policy, 1));
    expect(error.code).toBe('insufficient_quota');
    expect(error.message).toBe('Your daily token budget of 100 tokens is spent; it resets at 2026-05-14T00:00:00.000Z.');
    expect(error.retryAfterSeconds).toBe(3600);
    clock.advance(3_600_000);
    // A new day: its counter is seeded again (the stub reports 95 used); the term counter holds 115 of 150.
    expect((await quota.reserve('s1', policy, 1)).headers).toEqual({});
  });

  it('refuses a request that needs more than is left with the numbers, or grants the rest when less will do', async () => {
    const { quota } = setup(60);
    const policy = policies.effective(['daily']);
    const error = await refusal(quota.reserve('s1', policy, 50));
    expect(error.code).toBe('insufficient_quota');
    expect(error.status).toBe(429);
    expect(error.message).toBe('This request needs up to 50 tokens (input bound + max_tokens), but your daily token budget of 100 tokens has 40 left; '
      + 'it resets at 2026-05-14T00:00:00.000Z. Ask for fewer tokens (max_tokens) or send a shorter input.');
    expect(error.headers).toMatchObject({ 'x-flexi-budget-needed': '50', 'x-flexi-budget-left': '40' });
    const granted = await quota.reserve('s1', policy, 50, 30);
    expect(granted.tokens).toBe(40);
    expect((await refusal(quota.reserve('s1', policy, 1))).message).toMatch(/has 0 left \(40 more are held by your requests still running\)/);
  });

  it('releases a cancelled reservation without booking it', async () => {
    const { quota } = setup(0);
    const policy = policies.effective(['daily']);
    const held = await quota.reserve('s1', policy, 100);
    expect((await refusal(quota.reserve('s1', policy, 1))).code).toBe('insufficient_quota');
    held.cancel();
    held.settle(100); // a second end is ignored
    await new Promise((resolve) => setImmediate(resolve));
    expect(await quota.reserve('s1', policy, 1)).toBeDefined();
  });

  it('limits tokens per minute with x-ratelimit headers and corrects to the real count', async () => {
    const { quota, clock } = setup();
    const policy = policies.effective(['rate']);
    const first = await quota.reserve('s2', policy, 40);
    expect(first.headers).toEqual({ 'x-ratelimit-limit-tokens': '50', 'x-ratelimit-remaining-tokens': '10', 'x-ratelimit-reset-tokens': expect.stringMatching(/^\d+s$/) });
    await quota.reserve('s2', policy, 40);
    const limited = await refusal(quota.reserve('s2', policy, 1));
    expect(limited.code).toBe('rate_limit_exceeded');
    expect(limited.headers?.['x-ratelimit-remaining-tokens']).toBe('0');
    expect(limited.retryAfterSeconds).toBeGreaterThan(0);
    clock.advance(limited.retryAfterSeconds! * 1000);
    expect(await quota.reserve('s2', policy, 1)).toBeDefined();
  });
});
