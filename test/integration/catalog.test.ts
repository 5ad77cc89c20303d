import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/lab/bench/run-bench.js';
import { buildCatalog, recommend } from '../../src/lab/catalog/build-catalog.js';
import { renderCatalog, renderPaperComparison } from '../../src/lab/catalog/render-catalog.js';
import { readStoredResults } from '../../src/lab/catalog/stored-results.js';
import { createDispatcher } from '../../src/lab/client/target.js';
import { readEvalFile } from '../../src/lab/eval/eval-data.js';
import { EvalResultFolder, summarizeEval } from '../../src/lab/eval/eval-results.js';
import { completionsLoglikEngine } from '../../src/lab/eval/http-engines.js';
import { runEval } from '../../src/lab/eval/run-eval.js';
import { findProbeSets } from '../../src/lab/probe/probe-sets.js';
import { summarizeProbes } from '../../src/lab/probe/probe-report.js';
import { runProbes } from '../../src/lab/probe/run-probe.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { writeSyntheticEvalData } from '../helpers/eval-datasets.js';

const WEIGHTS = { quality: 0, speed: 1, safety: 0, german: 0, openness: 0, minTokensPerS: 0 };

describe('the model catalog from stored evidence', { timeout: 120_000 }, () => {
  let dir: string;
  let sim: SimServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flexi-catalog-'));
    const data = writeSyntheticEvalData(dir, 'arc_challenge', 40);
    sim = await startSimServer({ port: 0, speed: 500, seed: 2, answerKeys: [{ task: 'arc_challenge', path: data }] });
    const results = join(dir, 'evidence');
    // bench --save
    const bench = await runBench({ url: sim.url, models: ['phi3', 'llama3', 'gemma'], prompts: ['Say hello.'], maxTokens: 40 });
    mkdirSync(join(results, 'bench'), { recursive: true });
    writeFileSync(join(results, 'bench', 'b.json'), JSON.stringify(bench));
    // eval
    const items = readEvalFile(data, 'arc_challenge');
    const engine = completionsLoglikEngine({ target: { baseUrl: sim.url, protocol: 'openai', dispatcher: createDispatcher() }, model: 'llama3', timeoutMs: 10_000 });
    const folder = new EvalResultFolder(join(results, 'eval', 'llama3', 'arc'), { model: 'llama3', task: 'arc_challenge', method: 'loglik' });
    const run = await runEval({ model: 'llama3', task: 'arc_challenge', items, shots: 0, engine, concurrency: 4, done: new Set() }, { onRecord: (r) => folder.append(r) });
    folder.writeSummary(summarizeEval(run.records, { model: 'llama3', task: 'arc_challenge', method: 'loglik', methodDescription: engine.description, items: items.length, shots: 0, data, comparePaper: false }));
    // probe (a model that always refuses)
    const sets = findProbeSets(['dan']);
    const probes = await runProbes({ sets, generations: 1, concurrency: 2, generate: async () => 'I cannot help with that.' });
    mkdirSync(join(results, 'probe'), { recursive: true });
    writeFileSync(join(results, 'probe', 'summary.json'), JSON.stringify(summarizeProbes(probes, { model: 'phi3', target: sim.url, sets, generations: 1 })));
    writeFileSync(join(results, 'probe', 'broken.json'), '{"schema": "flexi.probe/1", ');
  });
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('joins deployment, measured and published values, each with its source', () => {
    const results = readStoredResults(join(dir, 'evidence'));
    expect(results.unreadable).toHaveLength(1);
    const catalog = buildCatalog({
      deployed: [{ name: 'llama3', node: 'gpu1', parameterSize: '8.0B', quantization: 'Q4_0', contextLength: 8192, sizeBytes: 4.7e9 }, { name: 'phi3', node: 'gpu1' }],
      results, useCases: { chat: WEIGHTS }, includePaperModels: true,
    });
    const llama3 = catalog.models.find((m) => m.model === 'llama3')!;
    expect(llama3).toMatchObject({ deployed: true, nodes: ['gpu1'], parameters: { value: '8.0B', source: 'node' }, openness: 'restricted_licence' });
    expect(llama3.quality.arc!.source).toMatch(/^flexi eval/);
    expect(llama3.quality.arc!.ci95!.low).toBeLessThanOrEqual(0.73);
    expect(llama3.quality.mmlu).toEqual({ value: 0.8, source: "paper's Table 4 (Open LLM Leaderboard v1)" });
    expect(llama3.throughput).toMatchObject({ measured: true });
    expect(llama3.throughput!.source).toMatch(/^flexi bench/);
    const phi3 = catalog.models.find((m) => m.model === 'phi3')!;
    expect(phi3.safety).toMatchObject({ value: 1, probes: 1 });
    expect(phi3.openness).toBe('osi_licence');
    // Paper models not served here are listed with published values only.
    const dbrx = catalog.models.find((m) => m.model === 'dbrx')!;
    expect(dbrx).toMatchObject({ deployed: false, throughput: { value: 11, measured: false } });
    expect(catalog.models.find((m) => m.model === 'mixtral')!.languages!.value).toContain('de');
  });

  it('ranks by the use case\'s weights and leaves out models below its minimum rate', () => {
    const catalog = buildCatalog({ deployed: [], results: readStoredResults(join(dir, 'evidence')), useCases: {}, includePaperModels: true });
    const bySpeed = recommend(catalog.models, 'fast', WEIGHTS).ranking.map((r) => r.model);
    const rates = new Map(catalog.models.map((m) => [m.model, m.throughput!.value]));
    expect(bySpeed.map((m) => rates.get(m))).toEqual([...rates.values()].sort((a, b) => b - a));
    const german = recommend(catalog.models, 'de', { ...WEIGHTS, speed: 0, german: 1, minTokensPerS: 8 });
    expect(german.ranking[0]!.score).toBe(1);
    expect(['command-r-plus', 'mixtral']).toContain(german.ranking[0]!.model);
    expect(german.ranking.find((r) => r.model === 'command-r-plus')!.excluded).toMatch(/5 tokens\/s is below the use case's 8/);
    const safety = recommend(catalog.models, 's', { ...WEIGHTS, speed: 0, safety: 1 });
    expect(safety.ranking[0]!.model).toBe('phi3');
    expect(safety.ranking[1]!.missing).toEqual(['safety']);
  });

  it('prints Table 4 beside this deployment\'s measured throughput', () => {
    const catalog = buildCatalog({ deployed: [], results: readStoredResults(join(dir, 'evidence')), useCases: { chat: WEIGHTS }, includePaperModels: true });
    const text = renderPaperComparison(catalog);
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(/^MODEL\s+ARC\s+HS\s+MMLU\s+TQA\s+WG\s+GSM8K\s+AVG\s+PAPER TOK\/S\s+HERE TOK\/S\s+HERE AS\s+HERE QUALITY/);
    expect(lines.find((l) => l.startsWith('phi3'))).toMatch(/^phi3\s+\.67\s+\.86\s+\.78\s+\.58\s+\.73\s+\.80\s+\.74\s+127\s+\d+\.\d\s+phi3/);
    expect(lines.find((l) => l.startsWith('dbrx'))).toMatch(/\s11\s+–\s+–\s+–$/);
    expect(lines.find((l) => l.startsWith('llama3'))).toMatch(/\(1\)$/);
    expect(renderCatalog(catalog)).toMatch(/chat \(quality 0, speed 1/);
  });
});
