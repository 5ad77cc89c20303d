import { createRng } from './prng.js';
import type { SimModelProfile } from './profile.js';

/**
 * The simulator's performance model, as pure functions of the profile. All times are in
 * simulated milliseconds; the server divides them by the speed factor before sleeping.
 *
 *   slowdown      g(k)      = (1 + α·(k − 1))^β          k = streams of the model running at once
 *   prefill       ttft(P,k) = (ttft₀ + max(0, P − 32) / prefill_rate) · g(k)
 *   decode        per token = g(k) / decode_rate
 *
 * so one stream alone decodes at the profile's rate, and k streams share the GPU with an
 * aggregate throughput k / g(k) times that of one.
 */

/** Prompt tokens short enough to be covered by ttftMs alone. */
export const BASE_PROMPT_TOKENS = 32;

export function slowdown(model: Pick<SimModelProfile, 'contention'>, streams: number): number {
  const k = Math.max(1, streams);
  return (1 + model.contention.alpha * (k - 1)) ** model.contention.exponent;
}

export function prefillMs(model: SimModelProfile, promptTokens: number, streams: number): number {
  const extra = Math.max(0, promptTokens - BASE_PROMPT_TOKENS);
  return (model.ttftMs + (extra / model.prefillTokensPerSecond) * 1000) * slowdown(model, streams);
}

export function tokenDelayMs(model: SimModelProfile, streams: number): number {
  return (1000 * slowdown(model, streams)) / model.decodeTokensPerSecond;
}

/** Rough token count of text: about four characters a token, at least one for non-empty text. */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}

/** Prompts are matched against the profile's calibrated list after folding whitespace and quotes. */
export function normalizePrompt(text: string): string {
  return text.replace(/[\u2018\u2019]/g, "'").replace(/\s+/g, ' ').trim().toLowerCase();
}

/**
 * Output length of a request: deterministic from (seed, model, prompt, request seed), uniform in
 * mean·(1 ± spread) around the prompt's calibrated mean (or the model's default mean).
 */
export function outputLength(model: SimModelProfile, seed: number, promptText: string, requestSeed?: number): number {
  const key = normalizePrompt(promptText);
  const known = model.outputTokens.byPrompt.find((entry) => normalizePrompt(entry.prompt) === key);
  // A calibrated prompt without a request seed gets exactly its calibrated length, so a load
  // test repeating the paper's prompts reproduces the paper's 1-CQ means prompt by prompt.
  if (known && requestSeed === undefined) return known.tokens;
  const mean = known?.tokens ?? model.outputTokens.mean;
  const u = createRng(seed, 'length', model.name, key, requestSeed ?? '').next();
  return Math.max(1, Math.round(mean * (1 + model.outputTokens.spread * (2 * u - 1))));
}

/** Simulated end-to-end ms of one request alone on a loaded model (no queue, no load). */
export function singleRequestMs(model: SimModelProfile, promptTokens: number, outputTokens: number): number {
  return prefillMs(model, promptTokens, 1) + outputTokens * tokenDelayMs(model, 1);
}
