import { request, type Dispatcher } from 'undici';
import { readNdjson, readSseEvents } from '../../lib/lines.js';
import { authHeaders, describeError, parseSimSpeed, type Target } from './target.js';

/**
 * Why a request failed: `refused` = 429/503 before the stream (the server shed load);
 * `timeout` = the client time-out fired; `mid_stream` = the stream broke or carried an error
 * frame after it started; `connection` = no HTTP answer at all; `http` = any other non-2xx;
 * `malformed` = the server sent bytes that are not the protocol; `aborted` = the run was stopped.
 */
export type ErrorKind = 'refused' | 'timeout' | 'mid_stream' | 'connection' | 'http' | 'malformed' | 'aborted';

export const ERROR_KINDS: readonly ErrorKind[] = ['refused', 'timeout', 'mid_stream', 'connection', 'http', 'malformed', 'aborted'];

/** Counters an Ollama server reports in its final chunk, converted from ns to ms. */
export interface ServerCounters {
  evalCount?: number;
  evalDurationMs?: number;
  promptEvalCount?: number;
  promptEvalDurationMs?: number;
  loadDurationMs?: number;
  totalDurationMs?: number;
}

/** How one request ended and its two latencies: shared by every record of the load tools. */
export interface RequestOutcome {
  ok: boolean;
  status?: number;
  errorKind?: ErrorKind;
  errorMessage?: string;
  /** Seconds the server asked to wait (Retry-After) on a refusal. */
  retryAfterS?: number;
  /** Request sent → first non-empty content (or reasoning) chunk. */
  ttftMs?: number;
  /** Request sent → stream ended (or the request failed). */
  e2eMs: number;
}

/** One measured streaming request. Times are client wall-clock milliseconds from sending the request. */
export interface StreamMeasurement extends RequestOutcome {
  /** Arrival times of content chunks, ms after sending; the base of ITL and counted tokens. */
  chunkTimesMs: number[];
  outputTokens?: number;
  /** `usage`: the server's count (OpenAI usage.completion_tokens, Ollama eval_count); `counted`: content chunks. */
  outputTokensSource?: 'usage' | 'counted';
  promptTokens?: number;
  server?: ServerCounters;
  simSpeed?: number;
  outputChars: number;
}

export interface StreamChatRequest {
  model: string;
  prompt: string;
  maxTokens?: number;
  /** Client time-out for the whole request, wall-clock ms. */
  timeoutMs: number;
  signal?: AbortSignal;
}

class StreamFailure extends Error {
  constructor(readonly kind: ErrorKind, message: string) {
    super(message);
  }
}

const NS_PER_MS = 1e6;

function buildBody(target: Target, req: StreamChatRequest): { path: string; body: unknown } {
  const messages = [{ role: 'user', content: req.prompt }];
  if (target.protocol === 'ollama') {
    const options = req.maxTokens === undefined ? undefined : { num_predict: req.maxTokens };
    return { path: '/api/chat', body: { model: req.model, messages, stream: true, ...(options ? { options } : {}) } };
  }
  return {
    path: '/v1/chat/completions',
    body: {
      model: req.model, messages, stream: true, stream_options: { include_usage: true },
      ...(req.maxTokens === undefined ? {} : { max_tokens: req.maxTokens }),
    },
  };
}

function errorMessageOf(body: string, status: number): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    const error = parsed.error;
    if (typeof error === 'string') return error;
    if (error && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  const text = body.trim().slice(0, 200);
  return text || `HTTP ${status}`;
}

function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? seconds : undefined;
}

interface StreamState {
  chunkTimesMs: number[];
  outputChars: number;
  usageTokens?: number;
  promptTokens?: number;
  server?: ServerCounters;
  finished: boolean;
}

function parseJson(data: string): Record<string, unknown> {
  try {
    const value = JSON.parse(data) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new StreamFailure('malformed', `malformed stream: not a JSON object: ${data.slice(0, 120)}`);
}

function inBandError(chunk: Record<string, unknown>): string | undefined {
  const error = chunk.error;
  if (error === undefined || error === null) return undefined;
  if (typeof error === 'string') return error;
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' ? message : JSON.stringify(error);
}

async function consumeOpenAi(body: AsyncIterable<Uint8Array>, state: StreamState, start: number): Promise<void> {
  for await (const event of readSseEvents(body)) {
    if (event.data === '[DONE]') {
      state.finished = true;
      return;
    }
    const chunk = parseJson(event.data);
    const error = inBandError(chunk);
    if (error !== undefined || event.event === 'error') throw new StreamFailure('mid_stream', `error in stream: ${error ?? event.data}`);
    const choices = chunk.choices as { delta?: Record<string, unknown> }[] | undefined;
    const delta = Array.isArray(choices) ? choices[0]?.delta : undefined;
    const text = [delta?.content, delta?.reasoning_content, delta?.reasoning].filter((t) => typeof t === 'string').join('');
    if (text.length > 0) {
      state.chunkTimesMs.push(performance.now() - start);
      state.outputChars += text.length;
    }
    const usage = chunk.usage as { completion_tokens?: unknown; prompt_tokens?: unknown } | null | undefined;
    if (usage && typeof usage.completion_tokens === 'number') state.usageTokens = usage.completion_tokens;
    if (usage && typeof usage.prompt_tokens === 'number') state.promptTokens = usage.prompt_tokens;
  }
}

function nsToMs(value: unknown): number | undefined {
  return typeof value === 'number' ? value / NS_PER_MS : undefined;
}

async function consumeOllama(body: AsyncIterable<Uint8Array>, state: StreamState, start: number): Promise<void> {
  const lines = readNdjson(body);
  while (true) {
    let next: IteratorResult<unknown>;
    try {
      next = await lines.next();
    } catch (error) {
      if (error instanceof SyntaxError) throw new StreamFailure('malformed', `malformed stream: ${error.message}`);
      throw error;
    }
    if (next.done) return;
    const chunk = next.value;
    if (!chunk || typeof chunk !== 'object' || Array.isArray(chunk)) throw new StreamFailure('malformed', 'malformed stream: a line is not a JSON object');
    const obj = chunk as Record<string, unknown>;
    const error = inBandError(obj);
    if (error !== undefined) throw new StreamFailure('mid_stream', `error in stream: ${error}`);
    const message = obj.message as { content?: unknown; thinking?: unknown } | undefined;
    const text = [message?.content, message?.thinking, obj.response].filter((t) => typeof t === 'string').join('');
    if (text.length > 0) {
      state.chunkTimesMs.push(performance.now() - start);
      state.outputChars += text.length;
    }
    if (obj.done === true) {
      state.finished = true;
      if (typeof obj.eval_count === 'number') state.usageTokens = obj.eval_count;
      if (typeof obj.prompt_eval_count === 'number') state.promptTokens = obj.prompt_eval_count;
      state.server = {
        evalCount: typeof obj.eval_count === 'number' ? obj.eval_count : undefined,
        evalDurationMs: nsToMs(obj.eval_duration),
        promptEvalCount: typeof obj.prompt_eval_count === 'number' ? obj.prompt_eval_count : undefined,
        promptEvalDurationMs: nsToMs(obj.prompt_eval_duration),
        loadDurationMs: nsToMs(obj.load_duration),
        totalDurationMs: nsToMs(obj.total_duration),
      };
      return;
    }
  }
}

/**
 * Sends one streaming chat request and measures it. Never throws: every failure becomes a
 * measurement with `ok: false` and an error kind, so a load test keeps going.
 */
export async function streamChat(target: Target, req: StreamChatRequest): Promise<StreamMeasurement> {
  const { path, body } = buildBody(target, req);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, req.timeoutMs);
  const onAbort = () => controller.abort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  const state: StreamState = { chunkTimesMs: [], outputChars: 0, finished: false };
  const start = performance.now();
  let status: number | undefined;
  let simSpeed: number | undefined;
  const fail = (kind: ErrorKind, message: string, extra: Partial<StreamMeasurement> = {}): StreamMeasurement => ({
    ok: false, status, errorKind: kind, errorMessage: message, e2eMs: performance.now() - start, simSpeed,
    chunkTimesMs: state.chunkTimesMs, outputChars: state.outputChars,
    ttftMs: state.chunkTimesMs[0], ...countTokens(state), ...extra,
  });
  try {
    if (req.signal?.aborted) return fail('aborted', 'the run was stopped');
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${target.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream, application/x-ndjson', ...authHeaders(target.apiKey) },
        body: JSON.stringify(body),
        dispatcher: target.dispatcher,
        signal: controller.signal,
      });
    } catch (error) {
      if (timedOut) return fail('timeout', `no answer within the ${(req.timeoutMs / 1000).toFixed(1)} s time-out`);
      if (req.signal?.aborted) return fail('aborted', 'the run was stopped');
      return fail('connection', `connection failed: ${describeError(error)}`);
    }
    status = response.statusCode;
    simSpeed = parseSimSpeed(response.headers['x-sim-speed']);
    if (status < 200 || status >= 300) {
      const text = await response.body.text().catch(() => '');
      const message = `HTTP ${status}: ${errorMessageOf(text, status)}`;
      const kind: ErrorKind = status === 429 || status === 503 ? 'refused' : 'http';
      return fail(kind, message, { retryAfterS: parseRetryAfter(response.headers['retry-after']) });
    }
    try {
      if (target.protocol === 'openai') await consumeOpenAi(response.body, state, start);
      else await consumeOllama(response.body, state, start);
    } catch (error) {
      if (timedOut) return fail('timeout', `stream not finished within the ${(req.timeoutMs / 1000).toFixed(1)} s time-out`);
      if (req.signal?.aborted) return fail('aborted', 'the run was stopped');
      if (error instanceof StreamFailure) return fail(error.kind, error.message);
      return fail('mid_stream', `stream broke: ${describeError(error)}`);
    } finally {
      if (!response.body.destroyed) response.body.destroy();
    }
    if (!state.finished) {
      const end = target.protocol === 'openai' ? 'data: [DONE]' : 'a chunk with "done": true';
      return fail('mid_stream', `stream ended without ${end}`);
    }
    return {
      ok: true, status, e2eMs: performance.now() - start, ttftMs: state.chunkTimesMs[0], chunkTimesMs: state.chunkTimesMs,
      ...countTokens(state), promptTokens: state.promptTokens, server: state.server, simSpeed, outputChars: state.outputChars,
    };
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', onAbort);
  }
}

function countTokens(state: StreamState): Pick<StreamMeasurement, 'outputTokens' | 'outputTokensSource'> {
  if (state.usageTokens !== undefined) return { outputTokens: state.usageTokens, outputTokensSource: 'usage' };
  if (state.chunkTimesMs.length > 0) return { outputTokens: state.chunkTimesMs.length, outputTokensSource: 'counted' };
  return {};
}
