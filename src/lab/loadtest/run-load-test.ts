import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { streamChat, type StreamMeasurement } from '../client/stream-chat.js';
import { checkModels, createDispatcher, probeTarget, TargetError, type Target } from '../client/target.js';
import { PAPER_PROMPTS } from '../data/paper-appendix-a.js';
import { seededRandom } from '../../lib/random.js';
import { poissonArrivalsMs } from './arrivals.js';
import type { LoadTestHooks, LoadTestOptions, LoadTestRecord, LoadTestResult, LoadTestSetup } from './load-test.types.js';

export const DEFAULT_CONCURRENCY = [1, 10, 30];
export const DEFAULT_REQUESTS_PER_CELL = 10;
export const DEFAULT_TIMEOUT_S = 300;

/** Inter-token latency and time per output token from one measurement (raw ms). */
export function tokenTimings(m: StreamMeasurement): { itlMs?: number; tpotMs?: number } {
  const chunks = m.chunkTimesMs;
  const itlMs = chunks.length >= 2 ? (chunks[chunks.length - 1]! - chunks[0]!) / (chunks.length - 1) : undefined;
  const tokens = m.outputTokens;
  const tpotMs = m.ok && m.ttftMs !== undefined && tokens !== undefined && tokens >= 2 ? (m.e2eMs - m.ttftMs) / (tokens - 1) : undefined;
  return { itlMs, tpotMs };
}

function validate(options: LoadTestOptions): void {
  const positiveInts = (name: string, values: number[] | undefined) => {
    for (const v of values ?? []) if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be whole numbers ≥ 1, got ${v}`);
  };
  if (options.models.length === 0) throw new RangeError('models must name at least one model');
  if (options.prompts && options.prompts.length === 0) throw new RangeError('prompts must hold at least one prompt');
  positiveInts('concurrency', options.concurrency);
  if (options.requestsPerCell !== undefined) positiveInts('requestsPerCell', [options.requestsPerCell]);
  for (const r of options.rates ?? []) if (!(r > 0)) throw new RangeError(`rates must be > 0 requests/s, got ${r}`);
  if ((options.mode ?? 'closed') === 'open' && !(options.rates?.length)) throw new RangeError('open mode needs at least one rate');
  if (options.timeoutS !== undefined && !(options.timeoutS > 0)) throw new RangeError(`timeoutS must be > 0, got ${options.timeoutS}`);
  if (options.timeScale !== undefined && !(options.timeScale > 0)) throw new RangeError(`timeScale must be > 0, got ${options.timeScale}`);
}

/**
 * Runs a load test: for every model, prompt and level, `requestsPerCell` streaming requests,
 * closed-loop (fixed concurrency) or open-loop (Poisson arrivals). Throws TargetError when the
 * target cannot be used at all; otherwise returns every record measured so far, also when the
 * signal stops the run or the target goes away mid-run.
 */
export async function runLoadTest(options: LoadTestOptions, hooks: LoadTestHooks = {}): Promise<LoadTestResult> {
  validate(options);
  const dispatcher = options.dispatcher ?? createDispatcher();
  const info = await probeTarget({ url: options.url, apiKey: options.apiKey, protocol: options.protocol ?? 'auto', dispatcher });
  const { found, missing } = checkModels(options.models, info.models);
  const warnings: string[] = [];
  if (missing.length > 0) {
    const listed = info.models && info.models.length > 0 ? info.models.join(', ') : 'none';
    if (found.length === 0) throw new TargetError(`model ${missing.join(', ')} not found on ${info.baseUrl}; it lists: ${listed}`, 'unsupported');
    warnings.push(`skipped model ${missing.join(', ')}: not found on the target (it lists: ${listed})`);
  }
  const mode = options.mode ?? 'closed';
  const levels = mode === 'open' ? options.rates! : (options.concurrency ?? DEFAULT_CONCURRENCY);
  const timeScale = options.timeScale ?? info.simSpeed ?? 1;
  if (options.timeScale !== undefined && info.simSpeed !== undefined && options.timeScale !== info.simSpeed) {
    warnings.push(`--time-scale ${options.timeScale} differs from the target's x-sim-speed ${info.simSpeed}; using ${options.timeScale}`);
  }
  const setup: LoadTestSetup = {
    target: info.baseUrl, protocol: info.protocol, serverVersion: info.serverVersion, models: found, missingModels: missing,
    prompts: options.prompts ?? [...PAPER_PROMPTS], mode, levels,
    rampS: mode === 'open' ? (options.rampS ?? 0) : undefined,
    requestsPerCell: options.requestsPerCell ?? DEFAULT_REQUESTS_PER_CELL,
    timeoutS: options.timeoutS ?? DEFAULT_TIMEOUT_S, warmup: options.warmup ?? 1, maxTokens: options.maxTokens, slo: options.slo,
    timeScale, timeScaleSource: options.timeScale !== undefined ? 'option' : info.simSpeed !== undefined ? 'x-sim-speed' : 'default',
    seed: options.seed ?? 1, startedAt: new Date().toISOString(), flexiVersion: options.flexiVersion ?? 'unknown',
  };
  const runner = new Runner({ baseUrl: info.baseUrl, apiKey: options.apiKey, protocol: info.protocol, dispatcher }, setup, hooks,
    options.maxConsecutiveConnectionErrors ?? 20);
  await runner.run();
  setup.finishedAt = new Date().toISOString();
  setup.serverCounters = sumServerCounters(runner.records);
  const lag = pacingWarning(runner.records, timeScale);
  if (lag) warnings.push(lag);
  if (options.dispatcher === undefined) await dispatcher.close();
  return { setup, records: runner.records, aborted: runner.aborted, fatalError: runner.fatalError, warnings };
}

function cellSize(setup: LoadTestSetup, level: number): number {
  return setup.mode === 'closed' ? Math.max(setup.requestsPerCell, level) : setup.requestsPerCell;
}

class Runner {
  readonly records: LoadTestRecord[] = [];
  aborted = false;
  fatalError: string | undefined;
  private readonly start = performance.now();
  private readonly total: number;
  private errors = 0;
  private consecutiveConnectionErrors = 0;
  private readonly stop = new AbortController();

  constructor(private readonly target: Target, private readonly setup: LoadTestSetup, private readonly hooks: LoadTestHooks,
    private readonly maxConnectionErrors: number) {
    const perModel = setup.prompts.length * setup.levels.reduce((sum, level) => sum + cellSize(setup, level), 0);
    this.total = setup.models.length * (perModel + setup.warmup);
    // Every in-flight request listens on the stop signal: at concurrency 30 that is 30 listeners.
    setMaxListeners(0, this.stop.signal);
    hooks.signal?.addEventListener('abort', () => this.stop.abort(), { once: true });
    if (hooks.signal?.aborted) this.stop.abort();
  }

  private get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  async run(): Promise<void> {
    try {
      for (const model of this.setup.models) {
        for (let i = 0; i < this.setup.warmup && !this.stopped; i++) await this.one(model, 0, this.setup.levels[0]!, true);
        for (let p = 0; p < this.setup.prompts.length; p++) {
          for (const level of this.setup.levels) {
            if (this.stopped) return;
            if (this.setup.mode === 'closed') await this.closedCell(model, p, level);
            else await this.openCell(model, p, level);
          }
        }
      }
    } finally {
      this.aborted = this.stopped && this.fatalError === undefined;
    }
  }

  private async closedCell(model: string, promptIndex: number, concurrency: number): Promise<void> {
    const n = cellSize(this.setup, concurrency);
    let issued = 0;
    const worker = async () => {
      while (issued < n && !this.stopped) {
        issued++;
        await this.one(model, promptIndex, concurrency, false);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  private async openCell(model: string, promptIndex: number, ratePerS: number): Promise<void> {
    const random = seededRandom(this.setup.seed + promptIndex * 7919 + Math.round(ratePerS * 1000));
    const scale = this.setup.timeScale;
    const sendAtMs = poissonArrivalsMs(cellSize(this.setup, ratePerS), ratePerS, (this.setup.rampS ?? 0) * 1000, random).map((t) => t / scale);
    const cellStart = performance.now();
    const inFlight: Promise<void>[] = [];
    for (const at of sendAtMs) {
      const waitMs = at - (performance.now() - cellStart);
      if (waitMs > 0) await sleep(waitMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
      if (this.stopped) break;
      inFlight.push(this.one(model, promptIndex, ratePerS, false));
    }
    await Promise.all(inFlight);
  }

  private async one(model: string, promptIndex: number, level: number, warmup: boolean): Promise<void> {
    const { setup } = this;
    const scale = setup.timeScale;
    const sentAt = performance.now();
    const m = await streamChat(this.target, {
      model, prompt: setup.prompts[promptIndex]!, maxTokens: setup.maxTokens,
      timeoutMs: (setup.timeoutS * 1000) / scale, signal: this.stop.signal,
    });
    const { itlMs, tpotMs } = tokenTimings(m);
    const scaled = (ms: number | undefined) => (ms === undefined ? undefined : ms * scale);
    const record: LoadTestRecord = {
      id: this.records.length, model, promptIndex, prompt: setup.prompts[promptIndex]!, mode: setup.mode, level, warmup,
      startedAtMs: (sentAt - this.start) * scale, ok: m.ok, status: m.status, errorKind: m.errorKind, errorMessage: m.errorMessage,
      retryAfterS: m.retryAfterS, ttftMs: scaled(m.ttftMs), e2eMs: m.e2eMs * scale, itlMs: scaled(itlMs), tpotMs: scaled(tpotMs),
      outputTokens: m.outputTokens, outputTokensSource: m.outputTokensSource, promptTokens: m.promptTokens, server: m.server,
      timeScale: scale, timeoutMs: setup.timeoutS * 1000,
    };
    this.records.push(record);
    if (!m.ok) this.errors++;
    this.consecutiveConnectionErrors = m.errorKind === 'connection' ? this.consecutiveConnectionErrors + 1 : 0;
    if (this.consecutiveConnectionErrors >= this.maxConnectionErrors && !this.stopped) {
      this.fatalError = `stopped after ${this.consecutiveConnectionErrors} connection errors in a row (last: ${m.errorMessage}); is ${this.target.baseUrl} still running?`;
      this.stop.abort();
    }
    this.hooks.onRecord?.(record);
    this.hooks.onProgress?.({ done: this.records.length, total: this.total, model, promptIndex, level, errors: this.errors, warmup });
  }
}

function sumServerCounters(records: LoadTestRecord[]): LoadTestSetup['serverCounters'] {
  const measured = records.filter((r) => !r.warmup && r.server);
  if (measured.length === 0) return undefined;
  const sum = (pick: (r: LoadTestRecord) => number | undefined) => measured.reduce((acc, r) => acc + (pick(r) ?? 0), 0);
  return {
    requests: measured.length,
    evalCount: sum((r) => r.server?.evalCount),
    evalDurationMs: sum((r) => r.server?.evalDurationMs),
    promptEvalCount: sum((r) => r.server?.promptEvalCount),
    promptEvalDurationMs: sum((r) => r.server?.promptEvalDurationMs),
  };
}

/**
 * With a time scale (a fast simulator), timer and event-loop delays are multiplied too. When the
 * decode rate seen on the stream falls well below the rate the server reports for the same
 * requests, the reported times are inflated: say so rather than publish them silently.
 */
function pacingWarning(records: LoadTestRecord[], timeScale: number): string | undefined {
  if (timeScale <= 1) return undefined;
  const ratios = records.filter((r) => r.ok && !r.warmup && r.server?.evalCount && r.server.evalDurationMs && r.tpotMs && r.tpotMs > 0)
    .map((r) => (1000 / r.tpotMs!) / ((r.server!.evalCount! / r.server!.evalDurationMs!) * 1000))
    .sort((a, b) => a - b);
  if (ratios.length === 0) return undefined;
  const median = ratios[Math.floor(ratios.length / 2)]!;
  if (median >= 0.75) return undefined;
  return `the stream decoded at ${(median * 100).toFixed(0)} % of the rate the server reports (median): at time scale ×${timeScale} `
    + 'timer and event-loop delays are magnified, so measured times are inflated; rerun the target at a lower speed';
}
