import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResult } from '../bench/run-bench.js';
import type { EvalSummary } from '../eval/eval-results.js';
import type { LoadTestSummary } from '../loadtest/summarize.js';
import type { ProbeSummary } from '../probe/probe-report.js';

/**
 * The evidence the other tools stored: every `summary.json` / saved JSON under the results
 * folder is recognised by its `schema` (flexi.eval/1, flexi.probe/1, flexi.bench/1,
 * flexi.loadtest.summary/1). Newest wins per model and task. Unreadable files are listed, not fatal.
 */
export interface StoredResults {
  evals: EvalSummary[];
  probes: ProbeSummary[];
  benches: Array<{ file: string; result: BenchResult; mtimeMs: number }>;
  loadtests: Array<{ file: string; summary: LoadTestSummary; mtimeMs: number }>;
  unreadable: string[];
}

const MAX_DEPTH = 6;

export function readStoredResults(dir: string): StoredResults {
  const out: StoredResults = { evals: [], probes: [], benches: [], loadtests: [], unreadable: [] };
  const walk = (path: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = join(path, entry.name);
      if (entry.isDirectory() && depth < MAX_DEPTH) walk(full, depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.json')) read(full);
    }
  };
  const read = (file: string): void => {
    let data: { schema?: unknown };
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as { schema?: unknown };
    } catch {
      out.unreadable.push(file);
      return;
    }
    const mtimeMs = statSync(file).mtimeMs;
    switch (data?.schema) {
      case 'flexi.eval/1': out.evals.push(data as EvalSummary); break;
      case 'flexi.probe/1': out.probes.push(data as ProbeSummary); break;
      case 'flexi.bench/1': out.benches.push({ file, result: data as BenchResult, mtimeMs }); break;
      case 'flexi.loadtest.summary/1': out.loadtests.push({ file, summary: data as LoadTestSummary, mtimeMs }); break;
      default: break;
    }
  };
  walk(dir, 0);
  return out;
}
