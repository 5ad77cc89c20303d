/**
 * Re-renders the tables of a saved run from its requests.jsonl and summary.json (the
 * statistics are recomputed from the records, so a changed definition applies to old runs).
 * Usage: tsx bench/scheduler/render-saved.ts bench/out/scheduler-<time>
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchRecord } from './driver.js';
import { DEFAULT_SLO } from './metrics.js';
import { renderGridTable, renderScenarioTable, summarizeRun, type RunResult, type RunSummary } from './report.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: render-saved.ts <run folder>');
const saved = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { summaries: RunSummary[] };
const lines = readFileSync(join(dir, 'requests.jsonl'), 'utf8').split('\n').filter(Boolean);
const records = lines.map((line) => JSON.parse(line) as BenchRecord & Pick<RunResult, 'scenario' | 'system'>);
const runs: RunResult[] = saved.summaries.map((s) => ({
  scenario: s.scenario, system: s.system, speed: s.speed, pacingLagMs: s.pacingLagMs, wallS: s.wallS, gatewayQueue: s.gatewayQueue,
  records: records.filter((r) => r.scenario === s.scenario && r.system === s.system),
}));
for (const scenario of ['grid', 'rush', 'kill'] as const) {
  const mine = runs.filter((r) => r.scenario === scenario);
  if (mine.length === 0) continue;
  process.stdout.write(`### ${scenario}\n\n${renderScenarioTable(mine.map((r) => summarizeRun(r, DEFAULT_SLO)))}\n\n`);
  if (scenario === 'grid') process.stdout.write(`${renderGridTable(mine)}\n\n`);
}
