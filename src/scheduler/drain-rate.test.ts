import { describe, expect, it } from 'vitest';
import { DrainRate } from './drain-rate.js';

const near = (value: number | undefined, target: number) => {
  expect(value).toBeDefined();
  expect(Math.abs(value! - target) / target).toBeLessThan(0.05);
};

describe('DrainRate', () => {
  it('measures completions per second while backlogged and ignores idle time', () => {
    const rate = new DrainRate(10_000);
    rate.setBacklogged(0, true);
    for (let t = 500; t <= 20_000; t += 500) rate.recordCompletion(t, 2000);
    near(rate.measuredPerSecond(20_000), 2);
    rate.setBacklogged(20_000, false);
    // An hour idle: the rate is what the nodes can do, not what was asked.
    near(rate.measuredPerSecond(3_620_000), 2);
    rate.recordCompletion(3_620_000, 2000);
    near(rate.measuredPerSecond(3_620_000), 2);
  });

  it('is usable after a few completions (bias-corrected) and falls back to slots ÷ service time before', () => {
    const rate = new DrainRate(60_000);
    expect(rate.perSecond(0, 4)).toBeUndefined();
    rate.recordCompletion(0, 1000);
    expect(rate.perSecond(0, 4)).toBeCloseTo(4);
    rate.setBacklogged(0, true);
    for (let t = 1000; t <= 3000; t += 1000) rate.recordCompletion(t, 1000);
    const measured = rate.measuredPerSecond(3000)!;
    expect(measured).toBeGreaterThan(0.8);
    expect(measured).toBeLessThan(1.2);
  });

  it('tolerates completions at the same instant', () => {
    const rate = new DrainRate(60_000);
    rate.setBacklogged(0, true);
    for (let i = 0; i < 5; i++) rate.recordCompletion(0, 1);
    expect(rate.measuredPerSecond(0)).toBeUndefined();
    expect(Number.isFinite(rate.perSecond(0, 1)!)).toBe(true);
  });
});
