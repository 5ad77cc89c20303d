import { request, type Dispatcher } from 'undici';
import { authHeaders, describeError, networkErrorCode, type Target } from '../client/target.js';
import type { LoglikRequest } from './eval-prompts.js';
import type { EvalMethod } from './eval-score.js';

/**
 * How `flexi eval` asks a model: log-likelihood of each choice, or a generated reply. The HTTP
 * engines speak to Flexi, Ollama, vLLM or `flexi sim`; every request asks for the scheduler's
 * `batch` class (`x-flexi-priority`), so an evaluation never delays interactive users.
 */
export interface EvalEngine {
  readonly method: EvalMethod;
  /** How the scores were obtained, printed with each result. */
  readonly description: string;
  /** Summed log P(continuation | context) per request. */
  loglik?(requests: readonly LoglikRequest[], signal: AbortSignal): Promise<number[]>;
  generate?(prompt: string, options: { stop?: string[]; maxTokens: number }, signal: AbortSignal): Promise<string>;
  close(): Promise<void>;
}

/** A request the node did not answer as it should; `kind` decides whether a rerun can help. */
export class EvalRequestError extends Error {
  constructor(message: string, readonly kind: 'timeout' | 'http' | 'connection' | 'unsupported' | 'malformed', readonly status?: number) {
    super(message);
    this.name = 'EvalRequestError';
  }
}

/** The header Flexi reads to run a request in a lower priority class than the key's role. */
export const PRIORITY_HEADER = 'x-flexi-priority';

interface HttpOptions {
  target: Target;
  model: string;
  timeoutMs: number;
  /** Sampling temperature of generation (default 0: greedy, with a fixed seed). */
  temperature?: number;
}

async function postJson(options: HttpOptions, path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const combined = AbortSignal.any([signal, timeout]);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(`${options.target.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', [PRIORITY_HEADER]: 'batch', ...authHeaders(options.target.apiKey) },
      body: JSON.stringify(body), dispatcher: options.target.dispatcher, signal: combined,
    });
  } catch (error) {
    if (timeout.aborted) throw new EvalRequestError(`no answer within ${options.timeoutMs / 1000} s`, 'timeout');
    if (signal.aborted) throw error;
    throw new EvalRequestError(describeError(error), networkErrorCode(error) ? 'connection' : 'http');
  }
  let text: string;
  try {
    text = await response.body.text();
  } catch (error) {
    if (timeout.aborted) throw new EvalRequestError(`no answer within ${options.timeoutMs / 1000} s`, 'timeout');
    throw new EvalRequestError(describeError(error), 'connection');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EvalRequestError(`HTTP ${response.statusCode}: not JSON: ${text.slice(0, 120)}`, 'malformed', response.statusCode);
  }
  if (response.statusCode >= 400) {
    const error = (parsed as { error?: unknown }).error;
    const message = typeof error === 'string' ? error : (error as { message?: unknown } | undefined)?.message;
    throw new EvalRequestError(`HTTP ${response.statusCode}: ${typeof message === 'string' ? message : text.slice(0, 200)}`, 'http', response.statusCode);
  }
  return parsed;
}

/** Greedy generation through the chat API (OpenAI `/v1/chat/completions` or Ollama `/api/chat`). */
export function chatEngine(options: HttpOptions): EvalEngine {
  const { target, model } = options;
  return {
    method: 'generate',
    description: `generation through ${target.protocol === 'ollama' ? '/api/chat' : '/v1/chat/completions'} (temperature ${options.temperature ?? 0}), strict answer parsing`,
    async generate(prompt, { stop, maxTokens }, signal) {
      const messages = [{ role: 'user', content: prompt }];
      const temperature = options.temperature ?? 0;
      // A fixed seed makes greedy runs repeatable; sampled ones (several generations) must differ.
      const seed = temperature === 0 ? { seed: 1234 } : {};
      // The harness sends at most four stop strings (reference §4.4).
      const stops = stop?.slice(0, 4);
      if (target.protocol === 'ollama') {
        const body = await postJson(options, '/api/chat', {
          model, messages, stream: false, options: { temperature, ...seed, num_predict: maxTokens, ...(stops ? { stop: stops } : {}) },
        }, signal);
        const content = (body as { message?: { content?: unknown } }).message?.content;
        if (typeof content !== 'string') throw new EvalRequestError('reply has no message.content', 'malformed');
        return content;
      }
      const body = await postJson(options, '/v1/chat/completions', {
        model, messages, stream: false, temperature, ...seed, max_tokens: maxTokens, ...(stops ? { stop: stops } : {}),
      }, signal);
      const content = (body as { choices?: Array<{ message?: { content?: unknown } }> }).choices?.[0]?.message?.content;
      if (typeof content !== 'string') throw new EvalRequestError('reply has no choices[0].message.content', 'malformed');
      return content;
    },
    close: async () => undefined,
  };
}

interface CompletionLogprobs {
  token_logprobs?: Array<number | null>;
  text_offset?: number[];
}

/**
 * Log-likelihood through `/v1/completions` with `echo` and `logprobs` (vLLM, `flexi sim`), as
 * the harness's `local-completions` asks: the prompt's own token logprobs come back, and the
 * tokens that start at or after the context's end are the continuation's.
 */
export function completionsLoglikEngine(options: HttpOptions): EvalEngine {
  const { model } = options;
  return {
    method: 'loglik',
    description: 'log-likelihood of each choice through /v1/completions (echo + logprobs)',
    async loglik(requests, signal) {
      return Promise.all(requests.map(async ({ context, continuation }) => {
        const prompt = `${context}${continuation}`;
        const body = await postJson(options, '/v1/completions', {
          model, prompt, max_tokens: 1, logprobs: 1, echo: true, temperature: 0,
        }, signal);
        const logprobs = (body as { choices?: Array<{ logprobs?: CompletionLogprobs | null }> }).choices?.[0]?.logprobs;
        const values = logprobs?.token_logprobs;
        const offsets = logprobs?.text_offset;
        if (!Array.isArray(values) || !Array.isArray(offsets) || offsets.length !== values.length) {
          throw new EvalRequestError('the node returns no prompt logprobs for echo (Ollama and Flexi do not); use --method generate', 'unsupported');
        }
        let sum = 0;
        let counted = 0;
        offsets.forEach((offset, i) => {
          if (offset >= context.length && offset < prompt.length) {
            const value = values[i];
            if (typeof value === 'number') {
              sum += value;
              counted++;
            }
          }
        });
        if (counted === 0) throw new EvalRequestError('the echoed tokens do not cover the continuation', 'malformed');
        return sum;
      }));
    },
    close: async () => undefined,
  };
}
