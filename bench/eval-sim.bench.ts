/**
 * `flexi eval` against `flexi sim` for the paper's whole Table 4: every model × benchmark, on
 * synthetic items in the datasets' formats whose answers the sim knows. Each cell is the score
 * with its 95 % interval beside the paper's value; the last column says whether it lies inside.
 * Multiple choice is scored by log-likelihood through /v1/completions echo (the Leaderboard's
 * method), GSM8K by generation with strict matching.
 *
 *   npm run bench:eval-sim [-- --items 400] [--seed 1] [--concurrency 16]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDispatcher, type Target } from '../src/lab/client/target.js';
import { loadPaperTable4 } from '../src/lab/data/paper.js';
import { readEvalFile, type EvalTask } from '../src/lab/eval/eval-data.js';
import { PAPER_COLUMN, summarizeEval } from '../src/lab/eval/eval-results.js';
import { chatEngine, completionsLoglikEngine } from '../src/lab/eval/http-engines.js';
import { runEval } from '../src/lab/eval/run-eval.js';
import { startSimServer } from '../src/lab/sim/sim-server.js';
import { writeSyntheticEvalData } from '../test/helpers/eval-datasets.js';

const { values } = parseArgs({ options: { items: { type: 'string', default: '400' }, seed: { type: 'string', default: '1' }, concurrency: { type: 'string', default: '16' } } });
const items = Number(values.items);
const TASKS: EvalTask[] = ['arc_challenge', 'hellaswag', 'mmlu', 'truthfulqa_mc2', 'winogrande', 'gsm8k'];
const dir = mkdtempSync(join(tmpdir(), 'flexi-eval-sim-'));
const started = performance.now();
try {
  for (const task of TASKS) writeSyntheticEvalData(dir, task, items, Number(values.seed));
  const sim = await startSimServer({ port: 0, speed: 1000, seed: Number(values.seed), answerKeys: TASKS.map((task) => ({ task, path: join(dir, `${task}.jsonl`) })) });
  const target: Target = { baseUrl: sim.url, protocol: 'openai', dispatcher: createDispatcher() };
  const lines = ['| model | benchmark | metric | paper | measured | 95 % interval | inside |', '| --- | --- | --- | --- | --- | --- | --- |'];
  let inside = 0;
  let cells = 0;
  for (const paper of loadPaperTable4()) {
    for (const task of TASKS) {
      const engine = task === 'gsm8k'
        ? chatEngine({ target, model: paper.model, timeoutMs: 30_000 })
        : completionsLoglikEngine({ target, model: paper.model, timeoutMs: 30_000 });
      const data = readEvalFile(join(dir, `${task}.jsonl`), task);
      const run = await runEval({ model: paper.model, task, items: data, shots: task === 'truthfulqa_mc2' ? 0 : 2, engine, concurrency: Number(values.concurrency), done: new Set() });
      const s = summarizeEval(run.records, { model: paper.model, task, method: engine.method, methodDescription: engine.description, items: data.length, shots: 2, data: task, comparePaper: true });
      const value = paper[PAPER_COLUMN[task]!];
      const ok = value >= s.ci95.low && value <= s.ci95.high;
      inside += ok ? 1 : 0;
      cells++;
      lines.push(`| ${paper.model} | ${PAPER_COLUMN[task]} | ${s.metric} | ${value.toFixed(2)} | ${s.score.toFixed(3)} | ${s.ci95.low.toFixed(3)}–${s.ci95.high.toFixed(3)} | ${ok ? 'yes' : '**no**'} |`);
    }
  }
  await sim.close();
  await target.dispatcher.close();
  process.stdout.write(`${lines.join('\n')}\n\n${inside} of ${cells} paper values inside the measured 95 % interval (${items} items per benchmark, seed ${values.seed}; about ${Math.round(cells * 0.05)} misses expected by chance); ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
