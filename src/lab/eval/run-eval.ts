import type { EvalItem, EvalTask } from './eval-data.js';
import { generationPrompt, GSM8K_STOP, loglikRequests } from './eval-prompts.js';
import { scoreGeneration, scoreLoglik, type EvalMethod } from './eval-score.js';
import { EvalRequestError, type EvalEngine } from './http-engines.js';

/** One evaluated item: a line of items.jsonl (schema flexi.eval-item/1). */
export interface EvalRecord {
  id: string;
  line: number;
  task: EvalTask;
  model: string;
  method: EvalMethod;
  /** The task's headline metric for this item (0/1, or the mc2 probability mass). */
  score: number;
  metrics: Record<string, number>;
  gold: number[] | string;
  predicted?: number | string;
  /** The reply was not an answer in the expected format: counted wrong. */
  unparsed?: boolean;
  /** The start of the generated reply (generation method). */
  reply?: string;
  logliks?: number[];
  /** The request failed (time-out, HTTP error): not scored; a rerun with the same --out retries it. */
  error?: string;
  errorKind?: string;
}

export interface EvalRunOptions {
  model: string;
  task: EvalTask;
  items: readonly EvalItem[];
  /** Few-shot examples per prompt, taken from the start of `shotPool` (never the item itself). */
  shots: number;
  /** Where few-shot examples come from (a dev or train split); default the evaluated items. */
  shotPool?: readonly EvalItem[];
  engine: EvalEngine;
  concurrency: number;
  /** Items already scored by an earlier run into the same folder: skipped. */
  done: ReadonlySet<string>;
  /** Output-token cap for generation (GSM8K needs room for the worked answer). */
  maxTokens?: number;
  /** Stop after this many failures in a row (the node is gone): the rest is left for a rerun. */
  maxConsecutiveErrors?: number;
}

export interface EvalProgress {
  done: number;
  total: number;
  errors: number;
  unparsed: number;
}

export interface EvalRunResult {
  records: EvalRecord[];
  /** Items skipped because an earlier run scored them. */
  resumed: number;
  aborted: boolean;
  stoppedEarly?: string;
}

function fewShots(items: readonly EvalItem[], item: EvalItem, shots: number): EvalItem[] {
  const out: EvalItem[] = [];
  for (const candidate of items) {
    if (out.length >= shots) break;
    if (candidate !== item && candidate.question !== item.question) out.push(candidate);
  }
  return out;
}

async function evaluateItem(options: EvalRunOptions, item: EvalItem, signal: AbortSignal): Promise<EvalRecord> {
  const { engine, model, task } = options;
  const shots = fewShots(options.shotPool ?? options.items, item, options.shots);
  const base = { id: item.id, line: item.line, task, model, method: engine.method, gold: item.target ?? item.gold };
  if (engine.method === 'loglik') {
    if (task === 'gsm8k') throw new EvalRequestError('GSM8K is scored by generation; use --method generate', 'unsupported');
    const requests = loglikRequests(item, shots);
    const logliks = await engine.loglik!(requests, signal);
    const scored = scoreLoglik(item, logliks, requests.map((r) => r.continuation));
    return { ...base, ...scored, logliks: logliks.map((v) => Math.round(v * 1e4) / 1e4) };
  }
  const isMath = task === 'gsm8k';
  const reply = await engine.generate!(generationPrompt(item, shots), {
    stop: isMath ? GSM8K_STOP : undefined,
    maxTokens: options.maxTokens ?? (isMath ? 256 : 8),
  }, signal);
  const scored = scoreGeneration(item, reply);
  return { ...base, ...scored, reply: reply.slice(0, 400) };
}

/**
 * Scores every item not yet done, `concurrency` at a time, in file order. A failed request is
 * recorded with its error and left unscored, so a rerun into the same folder picks it up.
 */
export async function runEval(
  options: EvalRunOptions,
  hooks: { onRecord?(record: EvalRecord): void; onProgress?(progress: EvalProgress): void; signal?: AbortSignal } = {},
): Promise<EvalRunResult> {
  const todo = options.items.filter((item) => !options.done.has(item.id));
  const resumed = options.items.length - todo.length;
  const records: EvalRecord[] = [];
  const progress: EvalProgress = { done: resumed, total: options.items.length, errors: 0, unparsed: 0 };
  const controller = new AbortController();
  const signal = hooks.signal ? AbortSignal.any([hooks.signal, controller.signal]) : controller.signal;
  const maxConsecutive = options.maxConsecutiveErrors ?? 10;
  let consecutive = 0;
  let stoppedEarly: string | undefined;
  let next = 0;
  hooks.onProgress?.(progress);

  const worker = async (): Promise<void> => {
    while (!signal.aborted) {
      const item = todo[next++];
      if (!item) return;
      let record: EvalRecord;
      try {
        record = await evaluateItem(options, item, signal);
        consecutive = 0;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof EvalRequestError && error.kind === 'unsupported') {
          stoppedEarly = error.message;
          controller.abort();
          return;
        }
        const kind = error instanceof EvalRequestError ? error.kind : 'error';
        record = {
          id: item.id, line: item.line, task: options.task, model: options.model, method: options.engine.method, score: 0, metrics: {},
          gold: item.target ?? item.gold, error: (error as Error).message, errorKind: kind,
        };
        progress.errors++;
        if (++consecutive >= maxConsecutive) {
          stoppedEarly = `${consecutive} requests failed in a row (last: ${(error as Error).message}); the node may be down. Run the same command again to continue where it stopped.`;
          controller.abort();
        }
      }
      if (record.unparsed) progress.unparsed++;
      progress.done++;
      records.push(record);
      hooks.onRecord?.(record);
      hooks.onProgress?.(progress);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, todo.length)) }, worker));
  return { records, resumed, aborted: hooks.signal?.aborted === true, stoppedEarly };
}
