import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, type Target } from '../../src/lab/client/target.js';
import { readEvalFile, type EvalTask } from '../../src/lab/eval/eval-data.js';
import { EvalResultFolder, PAPER_COLUMN, summarizeEval } from '../../src/lab/eval/eval-results.js';
import { openEmbeddedEngine } from '../../src/lab/eval/embedded-engine.js';
import { chatEngine, completionsLoglikEngine, type EvalEngine } from '../../src/lab/eval/http-engines.js';
import { runEval, type EvalRecord } from '../../src/lab/eval/run-eval.js';
import { loadPaperTable4 } from '../../src/lab/data/paper.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { writeSyntheticEvalData } from '../helpers/eval-datasets.js';
import { writeTinyLlamaGguf } from '../helpers/gguf-writer.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/eval');
const TASKS: EvalTask[] = ['arc_challenge', 'hellaswag', 'mmlu', 'truthfulqa_mc2', 'winogrande', 'gsm8k'];
const N = 60;

let dir: string;
const servers: SimServer[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flexi-eval-'));
  for (const task of TASKS) writeSyntheticEvalData(dir, task, N);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function sim(options: { hangRate?: number } = {}): Promise<SimServer> {
  const server = await startSimServer({
    port: 0, speed: 1000, seed: 3, faults: { hangRate: options.hangRate ?? 0 },
    answerKeys: TASKS.map((task) => ({ task, path: join(dir, `${task}.jsonl`) })),
  });
  servers.push(server);
  return server;
}

function target(server: SimServer): Target {
  return { baseUrl: server.url, protocol: 'openai', dispatcher: createDispatcher() };
}

async function evaluate(engine: EvalEngine, model: string, task: EvalTask, done = new Set<string>()) {
  const items = readEvalFile(join(dir, `${task}.jsonl`), task);
  const result = await runEval({ model, task, items, shots: 2, engine, concurrency: 8, done });
  return { items, result, summary: summarizeEval(result.records, { model, task, method: engine.method, methodDescription: engine.description, items: items.length, shots: 2, data: task, comparePaper: true }) };
}

describe('flexi eval against the sim', { timeout: 120_000 }, () => {
  it('reproduces the paper\'s Table 4 scores within the 95 % intervals by generation', async () => {
    const server = await sim();
    for (const model of ['llama3', 'llava']) {
      for (const task of TASKS) {
        const engine = chatEngine({ target: target(server), model, timeoutMs: 10_000 });
        const { summary } = await evaluate(engine, model, task);
        const paper = loadPaperTable4().find((r) => r.model === model)![PAPER_COLUMN[task]!];
        expect(summary.n).toBe(N);
        expect(summary.unparsed).toBe(0);
        expect(summary.paper?.value).toBe(paper);
        expect(summary.ci95.low, `${model} ${task} ${summary.score}`).toBeLessThanOrEqual(paper);
        expect(summary.ci95.high, `${model} ${task} ${summary.score}`).toBeGreaterThanOrEqual(paper);
      }
    }
  });

  it('scores by log-likelihood through /v1/completions echo + logprobs, agreeing item by item with generation', async () => {
    const server = await sim();
    for (const task of ['arc_challenge', 'mmlu', 'winogrande', 'truthfulqa_mc2'] as const) {
      const loglik = await evaluate(completionsLoglikEngine({ target: target(server), model: 'mistral', timeoutMs: 10_000 }), 'mistral', task);
      const generated = await evaluate(chatEngine({ target: target(server), model: 'mistral', timeoutMs: 10_000 }), 'mistral', task);
      expect(loglik.summary.method).toBe('loglik');
      expect(loglik.summary.metric).toBe(task === 'truthfulqa_mc2' ? 'mc2' : task === 'arc_challenge' ? 'acc_norm' : 'acc');
      const byId = new Map(generated.result.records.map((r) => [r.id, r]));
      for (const record of loglik.result.records) {
        expect(record.predicted === byId.get(record.id)!.predicted || task === 'truthfulqa_mc2', `${task} ${record.id}`).toBe(true);
      }
      expect(Math.abs(loglik.summary.score - generated.summary.score)).toBeLessThan(0.02);
    }
  });

  it('counts an answer in an unexpected format as wrong and reports it', async () => {
    const server = await sim();
    // These items are not in the sim's answer keys, so it replies with lorem text: no letter.
    const items = readEvalFile(join(FIXTURES, 'mmlu.jsonl'), 'mmlu');
    const result = await runEval({ model: 'phi3', task: 'mmlu', items, shots: 0, engine: chatEngine({ target: target(server), model: 'phi3', timeoutMs: 10_000 }), concurrency: 2, done: new Set(), maxTokens: 6 });
    expect(result.records).toHaveLength(3);
    expect(result.records.every((r) => r.unparsed === true && r.score === 0 && typeof r.reply === 'string')).toBe(true);
  });

  it('resumes after a node that timed out mid-run: the rerun asks only for what is missing', async () => {
    const out = join(dir, 'resume');
    const hanging = await sim({ hangRate: 0.3 });
    const first = new EvalResultFolder(out, { model: 'gemma', task: 'mmlu', method: 'generate' });
    const items = readEvalFile(join(dir, 'mmlu.jsonl'), 'mmlu');
    const run1 = await runEval({
      model: 'gemma', task: 'mmlu', items, shots: 0, concurrency: 4, done: first.doneIds(), maxConsecutiveErrors: 1000,
      engine: chatEngine({ target: target(hanging), model: 'gemma', timeoutMs: 300 }),
    }, { onRecord: (r) => first.append(r) });
    const failed = run1.records.filter((r) => r.error !== undefined);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((r) => r.errorKind === 'timeout')).toBe(true);

    const healthy = await sim();
    const second = new EvalResultFolder(out, { model: 'gemma', task: 'mmlu', method: 'generate' });
    expect(second.doneIds().size).toBe(N - failed.length);
    const before = healthy.state.counters.requests;
    const run2 = await runEval({
      model: 'gemma', task: 'mmlu', items, shots: 0, concurrency: 4, done: second.doneIds(),
      engine: chatEngine({ target: target(healthy), model: 'gemma', timeoutMs: 10_000 }),
    }, { onRecord: (r) => second.append(r) });
    expect(run2.resumed).toBe(N - failed.length);
    expect(healthy.state.counters.requests - before).toBe(failed.length);
    const all = second.records(items.map((i) => i.id));
    expect(all.filter((r: EvalRecord) => r.error === undefined)).toHaveLength(N);
    const lines = readFileSync(join(out, 'items.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(N + failed.length);
  });
});

describe('flexi eval on the embedded engine', { timeout: 60_000 }, () => {
  it('uses log-likelihood and picks the answer a model is built to predict', async () => {
    const items = readEvalFile(join(FIXTURES, 'mmlu.jsonl'), 'mmlu');
    for (const [letter, index] of [['B', 1], ['C', 2]] as const) {
      const path = join(dir, `force-${letter}.gguf`);
      writeTinyLlamaGguf(path, { forceToken: letter, vocabSize: 512, contextLength: 512 });
      const engine = await openEmbeddedEngine({ modelPath: path, gpu: 'cpu', threads: 1, contextSize: 512 });
      try {
        const result = await runEval({ model: 'forced', task: 'mmlu', items, shots: 1, engine, concurrency: 2, done: new Set() });
        expect(engine.method).toBe('loglik');
        expect(result.records.map((r) => r.predicted)).toEqual([index, index, index]);
        // Exactly the items whose gold is the forced letter are right.
        expect(result.records.map((r) => r.score)).toEqual(items.map((i) => (i.gold[0] === index ? 1 : 0)));
        expect(result.records.every((r) => r.logliks!.length === 4 && r.logliks![index]! > Math.max(...r.logliks!.filter((_, i) => i !== index)) + 5)).toBe(true);
      } finally {
        await engine.close();
      }
    }
  });
});
