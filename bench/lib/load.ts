import { Pool } from 'undici';

/**
 * A small HTTP load generator for chat endpoints: keep-alive undici pools, sequential (c=1) and
 * closed-loop concurrent runs, time to first content token read from the stream itself.
 */

export type Protocol = 'openai' | 'ollama';

export interface Sample {
  /** Request start → last body byte. */
  totalMs: number;
  /** Request start → the first chunk carrying non-empty content (streams only). */
  firstTokenMs?: number;
}

export interface ChatCall {
  protocol: Protocol;
  stream: boolean;
  model: string;
  maxTokens?: number;
}

const PATHS: Record<Protocol, string> = { openai: '/v1/chat/completions', ollama: '/api/chat' };

/** The same test for both protocols: a JSON string field `content` with at least one character. */
const CONTENT = /"content":"[^"]/;

export function chatBody(call: ChatCall): string {
  const messages = [{ role: 'user', content: 'Say hello.' }];
  if (call.protocol === 'openai') {
    return JSON.stringify({ model: call.model, messages, stream: call.stream, ...(call.maxTokens ? { max_tokens: call.maxTokens } : {}) });
  }
  return JSON.stringify({ model: call.model, messages, stream: call.stream, ...(call.maxTokens ? { options: { num_predict: call.maxTokens } } : {}) });
}

export function createPool(url: string, connections: number): Pool {
  return new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0 });
}

/** One chat request; throws on a non-2xx status or a stream without content. */
export async function chatOnce(pool: Pool, call: ChatCall, headers: Record<string, string>, body = chatBody(call), signal?: AbortSignal): Promise<Sample> {
  const start = performance.now();
  const response = await pool.request({ method: 'POST', path: PATHS[call.protocol], headers: { 'content-type': 'application/json', ...headers }, body, signal });
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    throw new Error(`HTTP ${response.statusCode} from ${PATHS[call.protocol]}: ${text.slice(0, 300)}`);
  }
  if (!call.stream) {
    await response.body.text();
    return { totalMs: performance.now() - start };
  }
  let firstTokenMs: number | undefined;
  let seen = '';
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    if (firstTokenMs !== undefined) continue;
    seen += chunk.toString('utf8');
    if (CONTENT.test(seen)) firstTokenMs = performance.now() - start;
  }
  if (firstTokenMs === undefined) throw new Error(`stream from ${PATHS[call.protocol]} carried no content: ${seen.slice(0, 300)}`);
  return { totalMs: performance.now() - start, firstTokenMs };
}

export interface RunResult {
  samples: Sample[];
  wallMs: number;
}

/** `count` requests from `concurrency` closed-loop workers (each sends its next when one ends). */
export async function runLoad(concurrency: number, count: number, once: () => Promise<Sample>): Promise<RunResult> {
  const samples: Sample[] = [];
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      next++;
      samples.push(await once());
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { samples, wallMs: performance.now() - start };
}

/** Nearest-rank percentile of a sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface LatencyStats {
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

export function latencyStats(values: readonly number[]): LatencyStats {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { count: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), meanMs: mean };
}
