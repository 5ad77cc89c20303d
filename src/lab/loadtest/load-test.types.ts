import type { Dispatcher } from 'undici';
import type { RequestOutcome, ServerCounters } from '../client/stream-chat.js';
import type { Protocol } from '../client/target.js';

/** `closed`: a fixed number of requests in flight (concurrency levels); `open`: Poisson arrivals at a rate. */
export type LoadMode = 'closed' | 'open';

/** Service-level objectives for goodput: a request counts as good when it succeeded within all given limits. */
export interface Slo {
  ttftMs?: number;
  e2eMs?: number;
}

export interface LoadTestOptions {
  url: string;
  apiKey?: string;
  /** Default `auto`: GET /api/version (Ollama), then GET /v1/models (OpenAI). */
  protocol?: Protocol | 'auto';
  models: string[];
  /** Default: the paper's five prompts. */
  prompts?: string[];
  /** Default `closed`. */
  mode?: LoadMode;
  /** Closed-loop levels: requests in flight. Default 1, 10, 30 (the paper's). */
  concurrency?: number[];
  /** Open-loop levels: mean arrival rate, requests per (reported) second. */
  rates?: number[];
  /** Open loop: the arrival rate rises linearly from 0 to the level's rate over this many (reported) seconds. */
  rampS?: number;
  /** Measured requests per cell (model × prompt × level); raised to the concurrency level when lower. Default 10. */
  requestsPerCell?: number;
  /** Client time-out per request in reported seconds. Default 300 (the paper's). */
  timeoutS?: number;
  /** Unmeasured requests per model before its cells (loads the model). Default 1. */
  warmup?: number;
  maxTokens?: number;
  slo?: Slo;
  /** Multiply measured times by this (a `flexi sim --speed X` target). Default: the target's x-sim-speed header, else 1. */
  timeScale?: number;
  /** Seed of the open-loop arrival times. */
  seed?: number;
  /** Stop after this many consecutive connection errors (the target went away). Default 20. */
  maxConsecutiveConnectionErrors?: number;
  dispatcher?: Dispatcher;
  /** Written into the setup so a report says which tool version measured it. */
  flexiVersion?: string;
}

/**
 * One request as measured, one line of requests.jsonl. Every time is in reported
 * milliseconds: measured wall-clock × `timeScale`.
 */
export interface LoadTestRecord extends RequestOutcome {
  /** Sequence number in send order. */
  id: number;
  model: string;
  promptIndex: number;
  prompt: string;
  mode: LoadMode;
  /** Concurrency (closed) or arrival rate in requests/s (open). */
  level: number;
  /** Warm-up requests are recorded but left out of every statistic. */
  warmup: boolean;
  /** When the request was sent, ms after the run started. */
  startedAtMs: number;
  /** Inter-token latency: mean gap between consecutive content chunks ((last − first) / (chunks − 1)). */
  itlMs?: number;
  /** Time per output token after the first: (e2e − ttft) / (outputTokens − 1). */
  tpotMs?: number;
  outputTokens?: number;
  outputTokensSource?: 'usage' | 'counted';
  promptTokens?: number;
  /** Ollama's own counters (server time, not scaled). */
  server?: ServerCounters;
  timeScale: number;
  timeoutMs: number;
}

export interface LoadTestSetup {
  target: string;
  protocol: Protocol;
  serverVersion?: string;
  models: string[];
  /** Requested models the target does not list; they were skipped. */
  missingModels: string[];
  prompts: string[];
  mode: LoadMode;
  levels: number[];
  rampS?: number;
  requestsPerCell: number;
  timeoutS: number;
  warmup: number;
  maxTokens?: number;
  slo?: Slo;
  timeScale: number;
  /** Where timeScale came from. */
  timeScaleSource: 'option' | 'x-sim-speed' | 'default';
  seed: number;
  startedAt: string;
  finishedAt?: string;
  flexiVersion: string;
  /** Server-side counters the target reported (Ollama eval_count etc.), summed over measured requests. */
  serverCounters?: { requests: number; evalCount: number; evalDurationMs: number; promptEvalCount: number; promptEvalDurationMs: number };
}

export interface LoadTestResult {
  setup: LoadTestSetup;
  records: LoadTestRecord[];
  /** True when the signal stopped the run before every cell finished. */
  aborted: boolean;
  /** Why the run stopped early, when it did. */
  fatalError?: string;
  warnings: string[];
}

export interface LoadTestProgress {
  done: number;
  total: number;
  model: string;
  promptIndex: number;
  level: number;
  errors: number;
  warmup: boolean;
}

export interface LoadTestHooks {
  onProgress?: (progress: LoadTestProgress) => void;
  /** Called for every record as soon as it is measured (the CLI appends it to requests.jsonl). */
  onRecord?: (record: LoadTestRecord) => void;
  signal?: AbortSignal;
}
