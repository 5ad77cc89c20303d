import type { Dispatcher } from 'undici';
import { streamChat, type StreamMeasurement } from '../client/stream-chat.js';
import { checkModels, createDispatcher, probeTarget, TargetError, type Protocol } from '../client/target.js';
import { PAPER_PROMPTS } from '../data/paper-appendix-a.js';
import { findPaperTokensPerS } from '../loadtest/paper-compare.js';
import { describe, type Stats } from '../loadtest/stats.js';

export interface BenchOptions {
  url: string;
  apiKey?: string;
  protocol?: Protocol | 'auto';
  models: string[];
  /** Default: the paper's five load-test prompts. */
  prompts?: string[];
  /** Runs per prompt (default 1). */
  runs?: number;
  maxTokens?: number;
  /** Client time-out per request in reported seconds (default 300). */
  timeoutS?: number;
  /** Multiply stream-measured times by this; default the target's x-sim-speed header, else 1. */
  timeScale?: number;
  compare?: 'paper';
  dispatcher?: Dispatcher;
  flexiVersion?: string;
}

/** Where a rate came from: the server's own counters, or the client's clock on the stream. */
export type RateSource = 'server' | 'stream';

/** One measured request of the bench. */
export interface BenchRun {
  promptIndex: number;
  run: number;
  ok: boolean;
  error?: string;
  /** Output tokens per second of decoding. */
  decodeTokensPerS?: number;
  /** Prompt tokens per second of prefill. */
  promptTokensPerS?: number;
  source: RateSource;
  outputTokens?: number;
  promptTokens?: number;
  /** Ollama load_duration in seconds (server time); 0 when the model was already loaded. */
  loadS?: number;
  ttftS?: number;
  e2eS: number;
}

export interface BenchModelResult {
  model: string;
  /** `server` when every run had eval_count/eval_duration, `stream` when none had, `mixed` otherwise. */
  source: RateSource | 'mixed';
  /** Over successful runs: per-run decode rates (the mean is what ollama-benchmark reports). */
  decodeTokensPerS: Stats | null;
  promptTokensPerS: Stats | null;
  /** Model load time of the first request (Ollama load_duration); null when the server does not report it. */
  loadTimeS: number | null;
  ttftS: Stats | null;
  runs: BenchRun[];
  errors: number;
  /** Table 4 of the paper, when compared and known. */
  paperTokensPerS?: number;
}

/** The stable, saved form (`flexi bench --save FILE`); a model catalog reads `models[].decodeTokensPerS.mean`. */
export interface BenchResult {
  schema: 'flexi.bench/1';
  target: string;
  protocol: Protocol;
  serverVersion?: string;
  timeScale: number;
  prompts: string[];
  runsPerPrompt: number;
  maxTokens?: number;
  startedAt: string;
  finishedAt: string;
  flexiVersion: string;
  definitions: Record<string, string>;
  missingModels: string[];
  models: BenchModelResult[];
}

export interface BenchProgress {
  done: number;
  total: number;
  model: string;
}

export const BENCH_DEFINITIONS: Record<string, string> = {
  decodeTokensPerS: 'server: eval_count / eval_duration per request (as ollama-benchmark and `ollama run --verbose`), in server time; '
    + 'stream: (output tokens − 1) / (end − first token) on the client clock × timeScale. Summarised as mean ± sd over runs.',
  promptTokensPerS: 'server: prompt_eval_count / prompt_eval_duration; stream: prompt tokens / TTFT (includes network and queueing: a lower bound)',
  loadTimeS: 'Ollama load_duration of the first request to the model (0 when it was already loaded)',
};

function rates(m: StreamMeasurement, timeScale: number): Pick<BenchRun, 'decodeTokensPerS' | 'promptTokensPerS' | 'source'> {
  const s = m.server;
  if (s?.evalCount !== undefined && s.evalDurationMs !== undefined && s.evalDurationMs > 0) {
    const promptRate = s.promptEvalCount !== undefined && s.promptEvalDurationMs ? (s.promptEvalCount / s.promptEvalDurationMs) * 1000 : undefined;
    return { decodeTokensPerS: (s.evalCount / s.evalDurationMs) * 1000, promptTokensPerS: promptRate, source: 'server' };
  }
  const tokens = m.outputTokens;
  const decodeMs = m.ttftMs !== undefined ? (m.e2eMs - m.ttftMs) * timeScale : undefined;
  return {
    decodeTokensPerS: tokens !== undefined && tokens >= 2 && decodeMs && decodeMs > 0 ? ((tokens - 1) / decodeMs) * 1000 : undefined,
    promptTokensPerS: m.promptTokens !== undefined && m.ttftMs ? (m.promptTokens / (m.ttftMs * timeScale)) * 1000 : undefined,
    source: 'stream',
  };
}

function defined(values: (number | undefined)[]): number[] {
  return values.filter((v): v is number => v !== undefined && Number.isFinite(v));
}

/**
 * Throughput bench, one request at a time: decode and prompt-processing rates and load time per
 * model over several prompts. Throws TargetError when the target cannot be used at all.
 */
export async function runBench(options: BenchOptions, hooks: { onProgress?: (p: BenchProgress) => void; signal?: AbortSignal } = {}): Promise<BenchResult> {
  const runsPerPrompt = options.runs ?? 1;
  if (!Number.isInteger(runsPerPrompt) || runsPerPrompt < 1) throw new RangeError(`runs must be a whole number ≥ 1, got ${runsPerPrompt}`);
  if (options.models.length === 0) throw new RangeError('models must name at least one model');
  const dispatcher = options.dispatcher ?? createDispatcher();
  const startedAt = new Date().toISOString();
  const info = await probeTarget({ url: options.url, apiKey: options.apiKey, protocol: options.protocol ?? 'auto', dispatcher });
  const { found, missing } = checkModels(options.models, info.models);
  if (found.length === 0) throw new TargetError(`model ${missing.join(', ')} not found on ${info.baseUrl}; it lists: ${info.models?.join(', ') || 'none'}`, 'unsupported');
  const timeScale = options.timeScale ?? info.simSpeed ?? 1;
  const prompts = options.prompts ?? [...PAPER_PROMPTS];
  const target = { baseUrl: info.baseUrl, apiKey: options.apiKey, protocol: info.protocol, dispatcher };
  const total = found.length * prompts.length * runsPerPrompt;
  let done = 0;
  const models: BenchModelResult[] = [];
  for (const model of found) {
    const runs: BenchRun[] = [];
    for (let p = 0; p < prompts.length && !hooks.signal?.aborted; p++) {
      for (let run = 0; run < runsPerPrompt && !hooks.signal?.aborted; run++) {
        const m = await streamChat(target, {
          model, prompt: prompts[p]!, maxTokens: options.maxTokens, timeoutMs: ((options.timeoutS ?? 300) * 1000) / timeScale, signal: hooks.signal,
        });
        runs.push({
          promptIndex: p, run, ok: m.ok, error: m.ok ? undefined : `${m.errorKind}: ${m.errorMessage}`, ...rates(m, timeScale),
          outputTokens: m.outputTokens, promptTokens: m.promptTokens,
          loadS: m.server?.loadDurationMs !== undefined ? m.server.loadDurationMs / 1000 : undefined,
          ttftS: m.ttftMs !== undefined ? (m.ttftMs * timeScale) / 1000 : undefined, e2eS: (m.e2eMs * timeScale) / 1000,
        });
        hooks.onProgress?.({ done: ++done, total, model });
      }
    }
    models.push(summarizeModel(model, runs, options.compare));
  }
  if (options.dispatcher === undefined) await dispatcher.close();
  return {
    schema: 'flexi.bench/1', target: info.baseUrl, protocol: info.protocol, serverVersion: info.serverVersion, timeScale, prompts, runsPerPrompt,
    maxTokens: options.maxTokens, startedAt, finishedAt: new Date().toISOString(), flexiVersion: options.flexiVersion ?? 'unknown',
    definitions: BENCH_DEFINITIONS, missingModels: missing, models,
  };
}

function summarizeModel(model: string, runs: BenchRun[], compare: 'paper' | undefined): BenchModelResult {
  const ok = runs.filter((r) => r.ok);
  const sources = new Set(ok.map((r) => r.source));
  const result: BenchModelResult = {
    model,
    source: sources.size === 1 ? [...sources][0]! : sources.size === 0 ? 'stream' : 'mixed',
    decodeTokensPerS: describe(defined(ok.map((r) => r.decodeTokensPerS))),
    promptTokensPerS: describe(defined(ok.map((r) => r.promptTokensPerS))),
    loadTimeS: runs[0]?.loadS ?? null,
    ttftS: describe(defined(ok.map((r) => r.ttftS))),
    runs,
    errors: runs.length - ok.length,
  };
  const paper = compare === 'paper' ? findPaperTokensPerS(model) : undefined;
  if (paper !== undefined) result.paperTokensPerS = paper;
  return result;
}

/** The console table: one row per model. */
export function renderBenchTable(result: BenchResult): string {
  const compare = result.models.some((m) => m.paperTokensPerS !== undefined);
  const fmt = (v: number | null | undefined, d = 1) => (v === null || v === undefined ? '–' : v.toFixed(d));
  const rows = [['Model', 'Decode tokens/s', 'source', 'Prompt tokens/s', 'Load s', 'TTFT s (median)', 'Runs', 'Errors', ...(compare ? ['Paper tokens/s'] : [])]];
  for (const m of result.models) {
    rows.push([m.model, m.decodeTokensPerS ? `${fmt(m.decodeTokensPerS.mean)} ± ${fmt(m.decodeTokensPerS.sd)}` : '–', m.source,
      fmt(m.promptTokensPerS?.mean), fmt(m.loadTimeS, 2), fmt(m.ttftS?.p50, 2), String(m.runs.length), String(m.errors),
      ...(compare ? [m.paperTokensPerS === undefined ? '–' : String(m.paperTokensPerS)] : [])]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  const lines = rows.map((r) => r.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join('  ').trimEnd());
  const notes = ['source: server = eval_count / eval_duration as the server reports it; stream = measured on the client (see docs/loadtest.md)'];
  if (result.timeScale !== 1) notes.push(`time scale ×${result.timeScale}: stream-measured rates are in simulated time`);
  if (result.missingModels.length) notes.push(`skipped, not on the target: ${result.missingModels.join(', ')}`);
  for (const m of result.models) {
    const firstError = m.runs.find((r) => !r.ok)?.error;
    if (firstError) notes.push(`${m.model}: ${m.errors} failed run(s), first: ${firstError}`);
  }
  return `${lines.join('\n')}\n\n${notes.join('\n')}\n`;
}
