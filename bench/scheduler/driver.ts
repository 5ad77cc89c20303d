import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { streamChat, type RequestOutcome } from '../../src/lab/client/stream-chat.js';
import type { BenchUser } from './keys.js';

/** How the benchmark groups requests: the priority class a role maps to, plus the lone-user reference. */
export type RequestClass = 'interactive' | 'batch' | 'lone';

/** One measured request. Every time is simulated ms (wall-clock × speed). */
export interface BenchRecord extends RequestOutcome {
  user: string;
  role: string;
  class: RequestClass;
  model: string;
  /** Grid: concurrency level and prompt of the burst. */
  level?: number;
  promptIndex?: number;
  /** Sent, ms after the scenario's start. */
  sentAtMs: number;
  outputTokens?: number;
  /** Stream decode rate seen by the client ((chunks − 1) / (last − first)), tokens per simulated s. */
  streamTokensPerS?: number;
}

export interface SendOptions {
  user: BenchUser;
  class: RequestClass;
  model: string;
  prompt: string;
  promptIndex?: number;
  level?: number;
  maxTokens?: number;
  signal?: AbortSignal;
}

/** Sends streaming chat requests to one target on the simulated clock. */
export class Driver {
  readonly records: BenchRecord[] = [];
  private readonly startMs = performance.now();

  constructor(
    private readonly url: string,
    /** Sim speed: simulated ms per real ms. */
    readonly speed: number,
    private readonly dispatcher: Dispatcher,
    /** Client time-out in simulated seconds (the paper's 300). */
    private readonly timeoutS = 300,
  ) {}

  /** Simulated ms since the scenario started. */
  nowMs(): number {
    return (performance.now() - this.startMs) * this.speed;
  }

  /** Waits `simulatedMs` of simulated time. */
  sleep(simulatedMs: number, signal?: AbortSignal): Promise<void> {
    return sleep(simulatedMs / this.speed, undefined, { signal }).catch(() => undefined);
  }

  async send(options: SendOptions): Promise<BenchRecord> {
    const sentAtMs = this.nowMs();
    const m = await streamChat(
      { baseUrl: this.url, apiKey: options.user.key, protocol: 'ollama', dispatcher: this.dispatcher },
      { model: options.model, prompt: options.prompt, maxTokens: options.maxTokens, timeoutMs: (this.timeoutS * 1000) / this.speed, signal: options.signal },
    );
    const s = this.speed;
    const chunks = m.chunkTimesMs;
    const streamSpan = chunks.length >= 2 ? chunks[chunks.length - 1]! - chunks[0]! : 0;
    const record: BenchRecord = {
      user: options.user.name, role: options.user.role, class: options.class, model: options.model,
      level: options.level, promptIndex: options.promptIndex, sentAtMs,
      ok: m.ok, status: m.status, errorKind: m.errorKind, errorMessage: m.errorMessage, retryAfterS: m.retryAfterS,
      ttftMs: m.ttftMs === undefined ? undefined : m.ttftMs * s, e2eMs: m.e2eMs * s, outputTokens: m.outputTokens,
      streamTokensPerS: streamSpan > 0 ? ((chunks.length - 1) / (streamSpan * s)) * 1000 : undefined,
    };
    this.records.push(record);
    return record;
  }
}
