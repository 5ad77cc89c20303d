import { describe, expect, it } from 'vitest';
import { calibrationRows, meanBurstSeconds, simulateBurst } from './calibration.js';
import { outputLength, prefillMs, slowdown, tokenDelayMs } from './performance.js';
import { PAPER_PROMPTS, PAPER_SERVER_B, TINY } from './profiles.js';

const llama3 = PAPER_SERVER_B.models.find((m) => m.name === 'llama3:latest')!;

describe('performance model', () => {
  it('slows each stream by g(k) = (1 + α(k−1))^β and leaves one stream at the profile rate', () => {
    const model = { contention: { alpha: 0.5, exponent: 1 } };
    expect(slowdown(model, 1)).toBe(1);
    expect(slowdown(model, 3)).toBe(2);
    expect(slowdown({ contention: { alpha: 1, exponent: 0.5 } }, 5)).toBeCloseTo(Math.sqrt(5));
    expect(tokenDelayMs(llama3, 1)).toBeCloseTo(1000 / 82);
    expect(prefillMs(llama3, 10, 1)).toBe(llama3.ttftMs);
    expect(prefillMs(llama3, 32 + 3000, 1)).toBeCloseTo(llama3.ttftMs + 1000);
  });

  it('gives a calibrated prompt its exact length and other prompts a seeded length in range', () => {
    const tokens = llama3.outputTokens.byPrompt[0]!.tokens;
    expect(outputLength(llama3, 0, `  ${PAPER_PROMPTS[0]}\n`)).toBe(tokens);
    const other = outputLength(llama3, 1, 'something else');
    expect(other).toBe(outputLength(llama3, 1, 'something else'));
    const { mean, spread } = llama3.outputTokens;
    expect(other).toBeGreaterThanOrEqual(Math.floor(mean * (1 - spread)));
    expect(other).toBeLessThanOrEqual(Math.ceil(mean * (1 + spread)));
    expect(outputLength(llama3, 0, PAPER_PROMPTS[0], 42)).not.toBe(outputLength(llama3, 0, PAPER_PROMPTS[0], 43));
  });

  it('queues a burst beyond the slots: one slot serves requests back to back', () => {
    const oneSlot = { ...TINY.models[0]!, slots: 1 };
    expect(simulateBurst(oneSlot, [100], 3)).toEqual([100, 200, 300]);
    const twoSlots = { ...oneSlot, slots: 2, contention: { alpha: 0, exponent: 1 } };
    expect(simulateBurst(twoSlots, [100], 3)).toEqual([100, 100, 200]);
  });

  it('reproduces the paper at 1 CQ within a second for every cell', () => {
    const rows = calibrationRows(PAPER_SERVER_B).filter((row) => row.concurrency === 1);
    expect(rows).toHaveLength(40);
    for (const row of rows) expect(Math.abs(row.simSeconds - row.paperSeconds), `${row.model} ${row.prompt}`).toBeLessThan(1);
  });

  it('caps burst means at the paper\'s 300 s client time-out', () => {
    const mixtral = PAPER_SERVER_B.models.find((m) => m.name === 'mixtral:latest')!;
    expect(meanBurstSeconds(mixtral, PAPER_PROMPTS[1], 30)).toBe(300);
  });
});
