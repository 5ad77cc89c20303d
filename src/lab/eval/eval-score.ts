import type { EvalItem, EvalTask } from './eval-data.js';
import { extractGsm8k, parseLetter } from './eval-prompts.js';

/** How an item was answered: choice log-likelihoods (the Leaderboard's method) or a generated reply. */
export type EvalMethod = 'loglik' | 'generate';

/** Per-item scores; `score` is the task's headline metric (see `headlineMetric`). */
export interface ItemScore {
  score: number;
  metrics: Record<string, number>;
  /** Index of the choice the model picked, or the number it gave (GSM8K). */
  predicted?: number | string;
  /** The reply could not be read as an answer (counted wrong, reported). */
  unparsed?: boolean;
}

/** The Open LLM Leaderboard's metric per task (reference §4.3); generation scores plain accuracy. */
export function headlineMetric(task: EvalTask, method: EvalMethod): string {
  if (task === 'gsm8k') return 'exact_match_strict';
  if (method === 'generate') return 'acc';
  if (task === 'arc_easy' || task === 'arc_challenge' || task === 'hellaswag') return 'acc_norm';
  if (task === 'truthfulqa_mc2') return 'mc2';
  return 'acc';
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * acc = argmax of summed log P(continuation | context); acc_norm divides by the continuation's
 * character length; mc2 = probability mass on the true answers, exp(LL) renormalised over the choices.
 */
export function scoreLoglik(item: EvalItem, logliks: readonly number[], continuations: readonly string[]): ItemScore {
  const predicted = argmax(logliks);
  const normalized = logliks.map((ll, i) => ll / Math.max(1, continuations[i]!.length));
  const acc = item.gold.includes(predicted) ? 1 : 0;
  const accNorm = item.gold.includes(argmax(normalized)) ? 1 : 0;
  const metrics: Record<string, number> = { acc, acc_norm: accNorm };
  if (item.task === 'truthfulqa_mc2') {
    const top = Math.max(...logliks);
    const weights = logliks.map((ll) => Math.exp(ll - top));
    const total = weights.reduce((a, b) => a + b, 0);
    metrics.mc2 = item.gold.reduce((sum, i) => sum + weights[i]!, 0) / total;
  }
  const metric = headlineMetric(item.task, 'loglik');
  const chosen = metric === 'acc_norm' ? argmax(normalized) : predicted;
  return { score: metrics[metric]!, metrics, predicted: chosen };
}

/** A generated reply: a strictly parsed letter, or GSM8K's strict and flexible number match. */
export function scoreGeneration(item: EvalItem, reply: string): ItemScore {
  if (item.task === 'gsm8k') {
    const { strict, flexible } = extractGsm8k(reply);
    const metrics = { exact_match_strict: strict === item.target ? 1 : 0, exact_match_flexible: flexible === item.target ? 1 : 0 };
    return { score: metrics.exact_match_strict, metrics, predicted: strict ?? flexible, unparsed: strict === undefined && flexible === undefined };
  }
  const predicted = parseLetter(reply, item.choices.length);
  if (predicted === undefined) return { score: 0, metrics: { acc: 0 }, unparsed: true };
  const acc = item.gold.includes(predicted) ? 1 : 0;
  return { score: acc, metrics: { acc }, predicted };
}

export interface Interval {
  low: number;
  high: number;
}

const Z95 = 1.959964;

/** Wilson score interval for k successes in n (95 %): honest near 0 and 1 and for small n. */
export function wilsonInterval(k: number, n: number): Interval {
  if (n === 0) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** 95 % interval of a mean of values in [0, 1] (mc2): Wilson when all are 0/1, else normal approximation. */
export function meanInterval(values: readonly number[]): Interval {
  const n = values.length;
  if (n === 0) return { low: 0, high: 1 };
  if (values.every((v) => v === 0 || v === 1)) return wilsonInterval(values.filter((v) => v === 1).length, n);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0.25;
  const half = Z95 * Math.sqrt(variance / n);
  return { low: Math.max(0, mean - half), high: Math.min(1, mean + half) };
}
