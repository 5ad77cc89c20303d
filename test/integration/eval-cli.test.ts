import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { builtCli, runBuiltCli } from '../helpers/built-cli.js';
import { writeTinyLlamaGguf } from '../helpers/gguf-writer.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/eval');

/** `flexi eval` and `flexi probe` as an operator runs them: the built CLI (dist/) against a sim. */
describe('flexi eval and flexi probe (built CLI)', { timeout: 180_000 }, () => {
  let dir: string;
  let sim: SimServer;
  const flexi = (args: string[]) => runBuiltCli(args, { cwd: dir, env: { FLEXI_LOG_LEVEL: 'warn' } });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flexi-eval-cli-'));
    builtCli();
    sim = await startSimServer({
      port: 0, speed: 1000, seed: 1,
      answerKeys: [{ task: 'arc_challenge', path: join(FIXTURES, 'arc_challenge.jsonl') }, { task: 'gsm8k', path: join(FIXTURES, 'gsm8k.jsonl') }],
    });
  }, 180_000);
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('scores a task with its interval, writes items.jsonl, and a rerun resumes instead of asking again', async () => {
    const args = ['eval', '--url', sim.url, '--model', 'llama3', '--task', 'arc_challenge', '--data', join(FIXTURES, 'arc_challenge.jsonl'), '--shots', '1', '--compare', 'paper', '--json', '--out', 'arc'];
    const first = await flexi(args);
    expect(first.code, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout) as { schema: string; method: string; n: number; metric: string; ci95: { low: number; high: number }; paper: { value: number }; resumed: number };
    expect(summary).toMatchObject({ schema: 'flexi.eval/1', method: 'loglik', metric: 'acc_norm', n: 4, resumed: 0, paper: { value: 0.73 } });
    expect(summary.ci95.low).toBeLessThan(summary.ci95.high);
    expect(readFileSync(join(dir, 'arc', 'items.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
    const before = sim.state.counters.requests;
    const again = await flexi(args);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { resumed: number }).resumed).toBe(4);
    // One request checks that the node returns prompt logprobs (--method auto); no item is asked twice.
    expect(sim.state.counters.requests - before).toBe(1);
  });

  it('scores GSM8K by generation with the strict and flexible match', async () => {
    const result = await flexi(['eval', '--url', sim.url, '--model', 'mistral', '--task', 'gsm8k', '--data', join(FIXTURES, 'gsm8k.jsonl'), '--shots', '1', '--out', 'gsm']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/mistral · gsm8k · exact_match_strict · generation through \/v1\/chat\/completions/);
    expect(result.stdout).toMatch(/also: exact_match_flexible/);
  });

  it('stops on a truncated data file with its line number, in one line', async () => {
    const result = await flexi(['eval', '--url', sim.url, '--model', 'llama3', '--task', 'arc_challenge', '--data', join(FIXTURES, 'arc_truncated.jsonl')]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^flexi: --data: .*arc_truncated\.jsonl line 2: not valid JSON \(the file looks truncated\)/);
  });

  it('refuses an unknown task and a model the server does not list', async () => {
    const task = await flexi(['eval', '--url', sim.url, '--model', 'llama3', '--task', 'arc', '--data', 'x']);
    expect(task.stderr).toMatch(/--task must be one of arc_easy, arc_challenge/);
    const model = await flexi(['eval', '--url', sim.url, '--model', 'ghost', '--task', 'mmlu', '--data', join(FIXTURES, 'mmlu.jsonl')]);
    expect(model.code).toBe(1);
    expect(model.stderr).toMatch(/does not list model "ghost"/);
  });

  it('uses log-likelihood on a GGUF file with --gguf', async () => {
    const path = join(dir, 'forced-b.gguf');
    writeTinyLlamaGguf(path, { forceToken: 'B', vocabSize: 512, contextLength: 512 });
    const result = await flexi(['eval', '--gguf', path, '--task', 'mmlu', '--data', join(FIXTURES, 'mmlu.jsonl'), '--shots', '0', '--json', '--out', 'gguf']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { method: string; model: string; score: number; methodDescription: string };
    expect(summary).toMatchObject({ method: 'loglik', model: 'forced-b' });
    // Only the one item whose answer is B is right.
    expect(summary.score).toBeCloseTo(1 / 3, 4);
    expect(summary.methodDescription).toMatch(/embedded engine/);
  });

  it('writes garak JSONL, a hit log, an HTML report and a summary for flexi probe', async () => {
    const result = await flexi(['probe', '--url', sim.url, '--model', 'phi3', '--probes', 'dan,promptinject', '--json', '--out', 'probe']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { schema: string; overall: { evaluated: number }; probes: { name: string }[] };
    expect(summary.schema).toBe('flexi.probe/1');
    expect(summary.probes.map((p) => p.name)).toEqual(['dan.FlexiDan', 'promptinject.HijackRogueString']);
    const files = readdirSync(join(dir, 'probe'));
    expect(files).toEqual(expect.arrayContaining(['report.html', 'summary.json']));
    const report = files.find((f) => /^garak\.[0-9a-f-]+\.report\.jsonl$/.test(f))!;
    const rows = readFileSync(join(dir, 'probe', report), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { entry_type: string });
    expect(rows.filter((r) => r.entry_type === 'attempt')).toHaveLength(8);
    expect(rows.filter((r) => r.entry_type === 'eval')).toHaveLength(3);
    expect(files.some((f) => f.endsWith('.hitlog.jsonl'))).toBe(true);
  });

  it('writes into the config\'s catalog.results_dir without --out, where flexi models catalog reads', async () => {
    writeFileSync(join(dir, 'evidence.yaml'), 'catalog: { results_dir: ./site-evidence }\n');
    const evaluated = await flexi(['eval', '-c', 'evidence.yaml', '--url', sim.url, '--model', 'llama3', '--task', 'arc_challenge',
      '--data', join(FIXTURES, 'arc_challenge.jsonl'), '--shots', '0', '--limit', '2', '--json']);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(readdirSync(join(dir, 'site-evidence', 'eval', 'llama3'))).toHaveLength(1);
    const probed = await flexi(['probe', '-c', 'evidence.yaml', '--url', sim.url, '--model', 'phi3', '--probes', 'dan', '--json']);
    expect(probed.code, probed.stderr).toBe(0);
    const [run] = readdirSync(join(dir, 'site-evidence', 'probe', 'phi3'));
    expect(readdirSync(join(dir, 'site-evidence', 'probe', 'phi3', run!))).toContain('summary.json');
    // A config file that is named but missing is an error, not a silent default.
    const missing = await flexi(['probe', '-c', 'nowhere.yaml', '--url', sim.url, '--model', 'phi3', '--probes', 'dan']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('nowhere.yaml');
  });

  it('prints the catalog with Table 4 beside this deployment\'s measured throughput', async () => {
    const bench = await flexi(['bench', '--url', sim.url, '--models', 'phi3,gemma', '--max-tokens', '30', '--save', 'evidence/bench/b.json', '--json']);
    expect(bench.code, bench.stderr).toBe(0);
    writeFileSync(join(dir, 'flexi.yaml'), `nodes:\n  - { name: simnode, type: sim, url: "${sim.url}" }\ncatalog:\n  results_dir: evidence\n`);
    const text = await flexi(['models', 'catalog', '-c', 'flexi.yaml', '--compare', 'paper']);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^MODEL\s+ARC\s+HS\s+MMLU\s+TQA\s+WG\s+GSM8K\s+AVG\s+PAPER TOK\/S\s+HERE TOK\/S/);
    expect(lines.find((l) => l.startsWith('phi3 '))).toMatch(/\s127\s+\d+\.\d\s+phi3/);
    expect(text.stdout).toMatch(/interactive_chat \(quality 0.4, speed 0.4/);
    const json = await flexi(['models', 'catalog', '-c', 'flexi.yaml', '--json']);
    const catalog = JSON.parse(json.stdout) as { schema: string; models: { model: string; deployed: boolean; nodes: string[]; throughput: { measured: boolean } | null }[] };
    expect(catalog.schema).toBe('flexi.catalog/1');
    expect(catalog.models.find((m) => m.model === 'phi3')).toMatchObject({ deployed: true, nodes: ['simnode'], throughput: { measured: true } });
    expect(JSON.parse(readFileSync(join(dir, 'evidence', 'catalog.json'), 'utf8'))).toMatchObject({ schema: 'flexi.catalog/1' });
  });

  it('lists the probe sets', async () => {
    const result = await flexi(['probe', '--list', '--json']);
    const sets = JSON.parse(result.stdout) as { name: string; licence: string }[];
    expect(sets.length).toBeGreaterThanOrEqual(7);
    expect(sets.every((s) => s.licence.length > 0)).toBe(true);
  });
});
