import { afterEach, describe, expect, it } from 'vitest';
import { runBench, renderBenchTable } from '../../src/lab/bench/run-bench.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { startFakeLlmServer, type FakeServer } from '../helpers/fake-llm-server.js';

let sim: SimServer | undefined;
let fake: FakeServer | undefined;
afterEach(async () => {
  await sim?.close();
  await fake?.close();
  sim = undefined;
  fake = undefined;
});

describe('runBench', () => {
  it('reports eval_count / eval_duration from the server and the paper\'s Table 4 beside it', async () => {
    sim = await startSimServer({ port: 0, speed: 200 });
    const result = await runBench({ url: sim.url, models: ['phi3', 'gemma', 'ghost'], prompts: ['a', 'b'], maxTokens: 30, compare: 'paper' });
    expect(result.schema).toBe('flexi.bench/1');
    expect(result.missingModels).toEqual(['ghost']);
    const phi3 = result.models.find((m) => m.model === 'phi3')!;
    expect(phi3.source).toBe('server');
    expect(phi3.runs).toHaveLength(2);
    expect(phi3.paperTokensPerS).toBe(127);
    // Recomputed from the runs: the mean of per-run rates.
    const rates = phi3.runs.map((r) => r.decodeTokensPerS!);
    expect(phi3.decodeTokensPerS!.mean).toBeCloseTo(rates.reduce((a, b) => a + b, 0) / rates.length, 9);
    expect(phi3.loadTimeS).not.toBeNull();
    expect(renderBenchTable(result)).toMatch(/phi3\s+\S+ ± \S+\s+server/);
  });

  it('measures decode rate from the stream when the server reports no counters', async () => {
    fake = await startFakeLlmServer({ protocols: ['openai'], models: { m: { tokens: 8 } } });
    const result = await runBench({ url: fake.url, models: ['m'], prompts: ['a'], runs: 3 });
    const m = result.models[0]!;
    expect(m.source).toBe('stream');
    expect(m.runs).toHaveLength(3);
    expect(m.runs.every((r) => r.ok && r.outputTokens === 8 && r.decodeTokensPerS! > 0)).toBe(true);
    expect(m.loadTimeS).toBeNull();
  });
});
