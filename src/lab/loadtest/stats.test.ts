import { describe, expect, it } from 'vitest';
import { describe as describeStats, percentile, sampleSd } from './stats.js';
import { seededRandom } from '../../lib/random.js';
import { poissonArrivalsMs } from './arrivals.js';
import { findPaperCell, findPaperModelLevel, paperModelName } from './paper-compare.js';

describe('stats', () => {
  it('uses linear interpolation between closest ranks (numpy default)', () => {
    const sorted = [1, 2, 3, 4];
    expect(percentile(sorted, 0.5)).toBe(2.5);
    expect(percentile(sorted, 0.9)).toBeCloseTo(3.7, 12);
    expect(percentile([7], 0.99)).toBe(7);
  });

  it('uses the sample standard deviation and 0 for a single value', () => {
    expect(sampleSd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138089935, 8);
    expect(describeStats([3])).toMatchObject({ n: 1, mean: 3, sd: 0, p50: 3 });
    expect(describeStats([])).toBeNull();
  });
});

describe('poissonArrivalsMs', () => {
  it('is reproducible from the seed and has the requested mean rate', () => {
    const a = poissonArrivalsMs(2000, 10, 0, seededRandom(42));
    expect(poissonArrivalsMs(2000, 10, 0, seededRandom(42))).toEqual(a);
    expect(a.every((t, i) => i === 0 || t >= a[i - 1]!)).toBe(true);
    // 2000 arrivals at 10/s take about 200 s.
    expect(a[a.length - 1]! / 1000).toBeGreaterThan(180);
    expect(a[a.length - 1]! / 1000).toBeLessThan(220);
  });

  it('sends fewer requests during a linear ramp than after it', () => {
    const a = poissonArrivalsMs(3000, 10, 100_000, seededRandom(1));
    const inFirstHalf = a.filter((t) => t < 50_000).length;
    const inSecondHalf = a.filter((t) => t >= 50_000 && t < 100_000).length;
    // Λ over [0, 50 s] is 125 and over [50 s, 100 s] is 375.
    expect(inFirstHalf).toBeLessThan(inSecondHalf / 2);
  });
});

describe('paper comparison', () => {
  it('finds Appendix A cells whatever the tag or apostrophe', () => {
    expect(paperModelName('library/Llama3:8b')).toBe('llama3');
    expect(findPaperCell('phi3:latest', 'Write a step-by-step guide on how to bake a chocolate cake from scratch.', 1)).toEqual({ meanS: 4, sdS: 3 });
    expect(findPaperCell('mixtral', "I'd like to book a flight for 4 to Seattle in U.S.", 10)).toEqual({ meanS: 43, sdS: 6 });
    expect(findPaperCell('phi3', 'another prompt', 1)).toBeUndefined();
  });

  it('pools the five prompts by the law of total variance', () => {
    // mixtral @ 30: every prompt 300 ± 0.
    expect(findPaperModelLevel('mixtral', 30)).toEqual({ meanS: 300, sdS: 0 });
    const phi3 = findPaperModelLevel('phi3', 1)!;
    expect(phi3.meanS).toBeCloseTo((4 + 5 + 3 + 4 + 4) / 5, 12);
    const within = (9 + 9 + 1 + 1 + 4) / 5;
    const between = ((0 + 1 + 1 + 0 + 0) / 5);
    expect(phi3.sdS).toBeCloseTo(Math.sqrt(within + between), 12);
  });
});
