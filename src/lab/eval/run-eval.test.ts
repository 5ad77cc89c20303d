import { describe, expect, it } from 'vitest';
import { parseEvalLines } from './eval-data.js';
import type { EvalEngine } from './http-engines.js';
import { runEval } from './run-eval.js';

const mmlu = (q: string, answer: number) => JSON.stringify({ question: q, subject: 's', choices: ['w', 'x', 'y', 'z'], answer });
const items = parseEvalLines([mmlu('test one?', 0), mmlu('test two?', 1), mmlu('test three?', 2)].join('\n'), 'mmlu');
const dev = parseEvalLines([mmlu('dev one?', 3), mmlu('dev two?', 0)].join('\n'), 'mmlu');

function recordingEngine(replies: string[]): { engine: EvalEngine; prompts: string[] } {
  const prompts: string[] = [];
  return {
    prompts,
    engine: {
      method: 'generate', description: 'test',
      generate: async (prompt) => {
        prompts.push(prompt);
        return replies[prompts.length - 1] ?? '';
      },
      close: async () => undefined,
    },
  };
}

describe('runEval', () => {
  it('takes few-shot examples from the shot pool, never from the items under test', async () => {
    const { engine, prompts } = recordingEngine(['A', 'B', 'C']);
    await runEval({ model: 'm', task: 'mmlu', items, shots: 2, shotPool: dev, engine, concurrency: 1, done: new Set() });
    for (const prompt of prompts) {
      expect(prompt).toContain('Question: dev one?');
      expect(prompt).toContain('Question: dev two?');
      expect(prompt.match(/Question: test/g)).toHaveLength(1);
    }
  });

  it('uses other items of the file without a pool, never the item itself', async () => {
    const { engine, prompts } = recordingEngine(['A', 'B', 'C']);
    await runEval({ model: 'm', task: 'mmlu', items, shots: 1, engine, concurrency: 1, done: new Set() });
    expect(prompts[0]).toContain('Question: test two?');
    expect(prompts[1]).toContain('Question: test one?');
  });

  it('counts replies in unexpected formats as wrong, reports them, and skips items already done', async () => {
    const { engine, prompts } = recordingEngine(['Probably B?', 'C']);
    const result = await runEval({ model: 'm', task: 'mmlu', items, shots: 0, engine, concurrency: 1, done: new Set([items[0]!.id]) });
    expect(result.resumed).toBe(1);
    expect(prompts).toHaveLength(2);
    expect(result.records.map((r) => [r.score, r.unparsed ?? false])).toEqual([[0, true], [1, false]]);
  });
});
