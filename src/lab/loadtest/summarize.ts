import { ERROR_KINDS, type ErrorKind } from '../client/stream-chat.js';
import type { LoadMode, LoadTestRecord, LoadTestSetup, Slo } from './load-test.types.js';
import { findPaperCell, findPaperModelLevel, type PaperValue } from './paper-compare.js';
import { describe, type Stats } from './stats.js';

/** Statistics of one group of measured (non-warm-up) requests. Times in reported units. */
export interface GroupSummary {
  model: string;
  mode: LoadMode;
  level: number;
  /** Present on per-prompt cells; absent on per-model rows (all prompts pooled). */
  promptIndex?: number;
  prompt?: string;
  requests: number;
  ok: number;
  errors: Record<ErrorKind, number>;
  /**
   * The paper's measure: end-to-end seconds of requests that finished or timed out, a time-out
   * counting as the time waited (≈ the time-out). Refused and failed requests are left out.
   */
  latencyS: Stats | null;
  /** End-to-end seconds of successful requests only. */
  e2eS: Stats | null;
  ttftS: Stats | null;
  itlMs: Stats | null;
  tpotMs: Stats | null;
  outputTokens: Stats | null;
  /** Output tokens of successful requests. */
  outputTokensTotal: number;
  /** First send → last finish (cells); the sum of its cells (per-model rows). */
  wallS: number;
  /** Aggregate decode throughput: outputTokensTotal / wallS. */
  throughputTokensPerS: number | null;
  /** Successful requests / wallS. */
  requestsPerS: number | null;
  goodput?: { good: number; fraction: number; perS: number | null };
  /** The paper's Appendix A value for this group, when compared and known. */
  paper?: PaperValue;
}

export interface LoadTestSummary {
  schema: 'flexi.loadtest.summary/1';
  setup?: LoadTestSetup;
  aborted: boolean;
  fatalError?: string;
  warnings: string[];
  compare?: 'paper';
  definitions: Record<string, string>;
  /** One per model × prompt × level, in run order. */
  cells: GroupSummary[];
  /** One per model × level, prompts pooled. */
  models: GroupSummary[];
}

export interface SummarizeContext {
  setup?: LoadTestSetup;
  aborted?: boolean;
  fatalError?: string;
  warnings?: string[];
  /** Default: setup.slo. */
  slo?: Slo;
  compare?: 'paper';
}

export const DEFINITIONS: Record<string, string> = {
  latencyS: 'end-to-end seconds per request as in the paper: successful and timed-out requests, a time-out counting as the time waited',
  ttftS: 'request sent → first non-empty content chunk',
  itlMs: 'inter-token latency: mean gap between consecutive content chunks of one request',
  tpotMs: 'time per output token: (e2e − ttft) / (output tokens − 1), successful requests with ≥ 2 tokens',
  outputTokens: 'server usage count (OpenAI usage.completion_tokens, Ollama eval_count) when sent, else the number of content chunks',
  throughputTokensPerS: 'output tokens of successful requests / wall time of the group (first send → last finish)',
  sd: 'sample standard deviation (n − 1)',
  percentiles: 'linear interpolation between closest ranks (type 7, as numpy and R default)',
  timeScale: 'every time is measured wall-clock × timeScale (a simulator running X times faster reports simulated seconds)',
};

function emptyErrors(): Record<ErrorKind, number> {
  return Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as Record<ErrorKind, number>;
}

function isGood(r: LoadTestRecord, slo: Slo): boolean {
  if (!r.ok) return false;
  if (slo.ttftMs !== undefined && (r.ttftMs === undefined || r.ttftMs > slo.ttftMs)) return false;
  if (slo.e2eMs !== undefined && r.e2eMs > slo.e2eMs) return false;
  return true;
}

function defined(values: (number | undefined)[]): number[] {
  return values.filter((v): v is number => v !== undefined && Number.isFinite(v));
}

function wallSOf(records: LoadTestRecord[]): number {
  if (records.length === 0) return 0;
  // reduce, not Math.min(...): a spread of many thousand records overflows the stack.
  const first = records.reduce((a, r) => Math.min(a, r.startedAtMs), Infinity);
  const last = records.reduce((a, r) => Math.max(a, r.startedAtMs + r.e2eMs), -Infinity);
  return (last - first) / 1000;
}

function summarizeGroup(records: LoadTestRecord[], wallS: number, slo: Slo | undefined): Omit<GroupSummary, 'model' | 'mode' | 'level'> {
  const errors = emptyErrors();
  for (const r of records) if (!r.ok && r.errorKind) errors[r.errorKind]++;
  const ok = records.filter((r) => r.ok);
  const outputTokensTotal = ok.reduce((a, r) => a + (r.outputTokens ?? 0), 0);
  const perS = (count: number) => (wallS > 0 ? count / wallS : null);
  const summary: Omit<GroupSummary, 'model' | 'mode' | 'level'> = {
    requests: records.length,
    ok: ok.length,
    errors,
    latencyS: describe(records.filter((r) => r.ok || r.errorKind === 'timeout').map((r) => r.e2eMs / 1000)),
    e2eS: describe(ok.map((r) => r.e2eMs / 1000)),
    ttftS: describe(defined(ok.map((r) => r.ttftMs)).map((ms) => ms / 1000)),
    itlMs: describe(defined(ok.map((r) => r.itlMs))),
    tpotMs: describe(defined(ok.map((r) => r.tpotMs))),
    outputTokens: describe(defined(ok.map((r) => r.outputTokens))),
    outputTokensTotal,
    wallS,
    throughputTokensPerS: perS(outputTokensTotal),
    requestsPerS: perS(ok.length),
  };
  if (slo && (slo.ttftMs !== undefined || slo.e2eMs !== undefined)) {
    const good = records.filter((r) => isGood(r, slo)).length;
    summary.goodput = { good, fraction: records.length > 0 ? good / records.length : 0, perS: perS(good) };
  }
  return summary;
}

/** Groups records by a key, keeping the order in which keys first appear. */
function groupBy(records: LoadTestRecord[], key: (r: LoadTestRecord) => string): LoadTestRecord[][] {
  const groups = new Map<string, LoadTestRecord[]>();
  for (const r of records) {
    const k = key(r);
    const group = groups.get(k);
    if (group) group.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.values()];
}

/**
 * Statistics per cell (model × prompt × level) and per model × level from raw records. Warm-up
 * and aborted requests are left out. Pure: the same records always give the same summary.
 */
export function summarize(records: readonly LoadTestRecord[], context: SummarizeContext = {}): LoadTestSummary {
  const measured = records.filter((r) => !r.warmup && r.errorKind !== 'aborted');
  const slo = context.slo ?? context.setup?.slo;
  const paper = context.compare === 'paper';
  const cellGroups = groupBy(measured, (r) => JSON.stringify([r.model, r.promptIndex, r.level]));
  const cells: GroupSummary[] = cellGroups.map((group) => {
    const r = group[0]!;
    const cell: GroupSummary = {
      model: r.model, mode: r.mode, level: r.level, promptIndex: r.promptIndex, prompt: r.prompt,
      ...summarizeGroup(group, wallSOf(group), slo),
    };
    const value = paper && r.mode === 'closed' ? findPaperCell(r.model, r.prompt, r.level) : undefined;
    if (value) cell.paper = value;
    return cell;
  });
  const models = groupBy(measured, (r) => JSON.stringify([r.model, r.level])).map((group) => {
    const r = group[0]!;
    const wallS = cells.filter((c) => c.model === r.model && c.level === r.level).reduce((a, c) => a + c.wallS, 0);
    const row: GroupSummary = { model: r.model, mode: r.mode, level: r.level, ...summarizeGroup(group, wallS, slo) };
    const value = paper && r.mode === 'closed' ? findPaperModelLevel(r.model, r.level) : undefined;
    if (value) row.paper = value;
    return row;
  });
  return {
    schema: 'flexi.loadtest.summary/1',
    setup: context.setup,
    aborted: context.aborted ?? false,
    fatalError: context.fatalError,
    warnings: context.warnings ?? [],
    compare: context.compare,
    definitions: DEFINITIONS,
    cells,
    models,
  };
}
