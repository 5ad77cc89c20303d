import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPaperTable4, type PaperQualityRow } from '../data/paper.js';
import type { EvalTask } from './eval-data.js';
import { headlineMetric, meanInterval, type EvalMethod, type Interval } from './eval-score.js';
import type { EvalRecord } from './run-eval.js';

/** The paper's Table 4 column a task reports under (the Leaderboard used ARC-Challenge and TruthfulQA mc2). */
export const PAPER_COLUMN: Partial<Record<EvalTask, keyof Omit<PaperQualityRow, 'model' | 'tokensPerSecond' | 'average'>>> = {
  arc_challenge: 'arc', hellaswag: 'hellaswag', mmlu: 'mmlu', truthfulqa_mc2: 'truthfulqa', winogrande: 'winogrande', gsm8k: 'gsm8k',
};

/** summary.json of one `flexi eval` run (one model × task); the model catalog reads these. */
export interface EvalSummary {
  schema: 'flexi.eval/1';
  model: string;
  task: EvalTask;
  method: EvalMethod;
  methodDescription: string;
  /** Log-likelihood scores are comparable with the Leaderboard's; generated ones are not. */
  leaderboardComparable: boolean;
  metric: string;
  /** Items scored (failed requests excluded). */
  n: number;
  items: number;
  score: number;
  ci95: Interval;
  /** Mean of every metric the items carry (acc, acc_norm, mc2, exact_match_flexible, …). */
  metrics: Record<string, number>;
  /** Replies that were not an answer in the expected format (counted wrong). */
  unparsed: number;
  /** Items whose request failed and that are not scored; rerun to retry them. */
  failed: number;
  shots: number;
  data: string;
  finishedAt: string;
  paper?: { model: string; column: string; value: number; withinCi: boolean };
}

/** Paper row for a served model name: `llama3:8b-instruct` and `llama3:latest` are the paper's `llama3`. */
export function findPaperRow(model: string): PaperQualityRow | undefined {
  const base = model.toLowerCase().replace(/^.*\//, '').split(':')[0]!;
  return loadPaperTable4().find((row) => row.model === base);
}

export function summarizeEval(records: readonly EvalRecord[], setup: {
  model: string; task: EvalTask; method: EvalMethod; methodDescription: string; items: number; shots: number; data: string; comparePaper: boolean;
}): EvalSummary {
  const scored = records.filter((r) => r.error === undefined);
  const values = scored.map((r) => r.score);
  const score = values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
  const metricNames = new Set(scored.flatMap((r) => Object.keys(r.metrics)));
  const metrics = Object.fromEntries([...metricNames].map((name) => {
    const with_ = scored.filter((r) => r.metrics[name] !== undefined);
    return [name, round(with_.reduce((a, r) => a + r.metrics[name]!, 0) / Math.max(1, with_.length))];
  }));
  const ci95 = meanInterval(values);
  const summary: EvalSummary = {
    schema: 'flexi.eval/1', model: setup.model, task: setup.task, method: setup.method, methodDescription: setup.methodDescription,
    leaderboardComparable: setup.method === 'loglik' || setup.task === 'gsm8k',
    metric: headlineMetric(setup.task, setup.method), n: scored.length, items: setup.items, score: round(score),
    ci95: { low: round(ci95.low), high: round(ci95.high) }, metrics,
    unparsed: scored.filter((r) => r.unparsed).length, failed: setup.items - scored.length, shots: setup.shots,
    data: setup.data, finishedAt: new Date().toISOString(),
  };
  const column = PAPER_COLUMN[setup.task];
  const row = setup.comparePaper && column ? findPaperRow(setup.model) : undefined;
  if (row && column) summary.paper = { model: row.model, column, value: row[column], withinCi: row[column] >= ci95.low && row[column] <= ci95.high };
  return summary;
}

function round(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}

/**
 * A run's folder: items.jsonl (appended as items finish, so a killed run keeps them) and
 * summary.json. Opening an existing folder resumes: items scored there are skipped.
 */
export class EvalResultFolder {
  readonly itemsFile: string;
  readonly summaryFile: string;
  /** Records from earlier runs, last one per item wins. */
  readonly previous = new Map<string, EvalRecord>();
  /** Lines of items.jsonl that could not be read (a run killed mid-write). */
  readonly unreadableLines: number[] = [];

  constructor(readonly dir: string, expect: { model: string; task: EvalTask; method: EvalMethod }) {
    mkdirSync(dir, { recursive: true });
    this.itemsFile = join(dir, 'items.jsonl');
    this.summaryFile = join(dir, 'summary.json');
    if (!existsSync(this.itemsFile)) return;
    readFileSync(this.itemsFile, 'utf8').split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      let record: EvalRecord;
      try {
        record = JSON.parse(line) as EvalRecord;
      } catch {
        this.unreadableLines.push(i + 1);
        return;
      }
      if (record.model !== expect.model || record.task !== expect.task || record.method !== expect.method) {
        throw new Error(`${this.itemsFile} holds results of ${record.model} / ${record.task} / ${record.method}, not ${expect.model} / ${expect.task} / ${expect.method}; choose another --out`);
      }
      this.previous.set(record.id, record);
    });
  }

  /** Ids scored by earlier runs (failed ones are retried). */
  doneIds(): Set<string> {
    return new Set([...this.previous.values()].filter((r) => r.error === undefined).map((r) => r.id));
  }

  append(record: EvalRecord): void {
    appendFileSync(this.itemsFile, `${JSON.stringify(record)}\n`);
    this.previous.set(record.id, record);
  }

  /** Every item's latest record, in file order of the data. */
  records(order: readonly string[]): EvalRecord[] {
    return order.map((id) => this.previous.get(id)).filter((r): r is EvalRecord => r !== undefined);
  }

  writeSummary(summary: EvalSummary): void {
    writeFileSync(this.summaryFile, `${JSON.stringify(summary, null, 2)}\n`);
  }
}

function pct(value: number): string {
  return (value * 100).toFixed(1);
}

/** The console table: score with interval, the paper's value beside it when asked. */
export function renderEvalSummary(summary: EvalSummary): string {
  const lines = [
    `${summary.model} · ${summary.task} · ${summary.metric} · ${summary.methodDescription}${summary.leaderboardComparable ? '' : ' (not comparable with Leaderboard log-likelihood scores)'}`,
    `  score ${pct(summary.score)} %  (95 % CI ${pct(summary.ci95.low)}–${pct(summary.ci95.high)} %, n = ${summary.n}, ${summary.shots}-shot)`,
  ];
  const others = Object.entries(summary.metrics).filter(([name]) => name !== summary.metric);
  if (others.length) lines.push(`  also: ${others.map(([name, v]) => `${name} ${pct(v)} %`).join(', ')}`);
  if (summary.unparsed) lines.push(`  ${summary.unparsed} replies were not an answer in the expected format (counted wrong; see "unparsed" in items.jsonl)`);
  if (summary.failed) lines.push(`  ${summary.failed} items not scored (requests failed); run the same command again to retry them`);
  if (summary.paper) {
    lines.push(`  paper (Table 4, ${summary.paper.model} ${summary.paper.column}): ${pct(summary.paper.value)} % — ${summary.paper.withinCi ? 'within' : 'outside'} the interval`);
  }
  return `${lines.join('\n')}\n`;
}
