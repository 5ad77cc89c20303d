/**
 * How many requests of one model Flexi sends to one node at once, learned from what the node
 * shows instead of guessed in a config file. Pure: every observation carries its own times
 * (scheduler ms), nothing here reads a clock or does I/O. See README.md ("Adaptive concurrency").
 *
 * The signal is time to first token measured in the stream's own token intervals:
 *
 *   ttftTokens = ttftMs ÷ (decodeMs ÷ (completionTokens − 1))
 *
 * Batching on a GPU slows prefill and decode alike, so this ratio stays put as concurrency grows
 * (the node is busier, not queueing). A request the node holds back in its own queue waits for
 * another stream to finish — hundreds of token intervals — before its prefill starts, so its
 * ratio jumps while its token rate stays that of a running stream. That jump is the sign that
 * Flexi sent more than the node runs in parallel. Prompt length moves the ratio too (prefill),
 * so the quiet baseline is kept per prompt-size band and requests are compared like with like.
 */

/** A learned limit never grows beyond this unless the operator's `slots` says more. */
export const DEFAULT_MAX_CONCURRENCY = 64;

/** A sample's TTFT counts as queued beyond `QUEUE_FACTOR × baseline + QUEUE_SLACK_TOKENS` token intervals. */
const QUEUE_FACTOR = 2;
const QUEUE_SLACK_TOKENS = 8;
/**
 * …and only when the first token came this much later than the baseline predicts: at hundreds of
 * tokens per second a token interval is a few ms, and a busy gateway's or node's event loop alone
 * can delay a first token by tens of ms (measured: bench:direct on a loaded 2-core machine backed
 * a node that never queues off to 4–6 without this). A node's internal queue costs a good part of
 * an answer, seconds.
 */
const QUEUE_MIN_WAIT_MS = 250;
/**
 * While learning, a first token within this factor of the quickest quiet TTFT seen (in ms) shows
 * the request did not queue inside the node: the limit doubles at once instead of after a whole
 * answer. Batching alone stretches TTFT by less (the sim's fitted curves: ≤ 3.2× at 30 streams),
 * an internal queue by a whole answer (tens of TTFTs); a false "quiet" only delays a back-off.
 */
const QUICK_FIRST_TOKEN_FACTOR = 4;
/** Quiet samples kept per prompt-size band; the baseline is their minimum. */
const BASELINE_SAMPLES = 32;
/** Bands: prompts of ≤ 64, ≤ 128, ≤ 256 … tokens. */
const BAND_BASE_TOKENS = 64;
const MAX_BAND = 12;

export type ConcurrencyPhase = 'learning' | 'steady' | 'fixed';

export interface ConcurrencyLimitOptions {
  /** Limit before anything was observed. */
  initial: number;
  /** Never above this: the operator's `slots` when set, else `DEFAULT_MAX_CONCURRENCY`. */
  max: number;
  /** Do not learn: the limit is `max` (e.g. the embedded engine, whose slots Flexi itself sets). */
  fixed?: boolean;
}

/** A request's first token, as the scheduler saw it. */
export interface FirstTokenSample {
  /** Requests of this model in flight on the node when this one was sent, itself included. */
  concurrency: number;
  /** Sent → first token, ms. */
  ttftMs: number;
  cold: boolean;
}

/** One finished request on the node, as the scheduler saw it. */
export interface LimitSample {
  /** Requests of this model in flight on the node when this one was sent, itself included. */
  concurrency: number;
  /** Sent → first token, ms. */
  ttftMs: number;
  /** First token → last, ms. */
  decodeMs: number;
  completionTokens: number;
  /** Prompt tokens (the node's count), for comparing like with like; unknown → the first band. */
  promptTokens?: number;
  /** The model was not ready when the request was sent: its TTFT includes a load, not a queue. */
  cold: boolean;
}

/** Plain data for status, the admin API and metrics. */
export interface ConcurrencyLimitState {
  limit: number;
  max: number;
  phase: ConcurrencyPhase;
  /** Samples used (warm, with at least two tokens). */
  samples: number;
  /** Samples judged queued inside the node. */
  queuedSamples: number;
}

export type SampleVerdict = 'ignored' | 'quiet' | 'queued';

/**
 * Slow start, then additive increase and a back-off to just below the concurrency at which the
 * node queued:
 * - while learning, a quick first token of a request sent with the limit full doubles the limit
 *   (`observeFirstToken`), so a burst of users reaches the node within a few TTFTs;
 * - a quiet finished request sent while the limit was full (concurrency ≥ limit) raises the
 *   limit: by 1 while learning, by 1/limit once steady (one more per round, probing);
 * - a queued sample sent under the current limit lowers it to `concurrency − 1` (the node ran
 *   fewer than that in parallel), at most halving it at once so that one odd sample cannot
 *   collapse it; samples sent under an older, higher limit say nothing new and are ignored.
 */
export class ConcurrencyLimit {
  private value: number;
  private readonly max: number;
  private readonly fixed: boolean;
  private phase: ConcurrencyPhase;
  private samples = 0;
  private queuedSamples = 0;
  /** Per prompt-size band: the quiet TTFT ratios last seen. */
  private readonly baselines = new Map<number, number[]>();
  /** Quickest TTFT (ms) of a quiet finished request: what a first token that did not queue looks like. */
  private quickestTtftMs: number | undefined;

  constructor(options: ConcurrencyLimitOptions) {
    this.max = Math.max(1, Math.floor(options.max));
    this.fixed = options.fixed === true;
    this.value = this.fixed ? this.max : clamp(options.initial, 1, this.max);
    this.phase = this.fixed ? 'fixed' : 'learning';
  }

  /** Requests that may run on the node at once now. */
  get limit(): number {
    return Math.floor(this.value);
  }

  state(): ConcurrencyLimitState {
    return { limit: this.limit, max: this.max, phase: this.phase, samples: this.samples, queuedSamples: this.queuedSamples };
  }

  observe(sample: LimitSample): SampleVerdict {
    if (this.fixed || sample.cold || sample.completionTokens < 2 || !(sample.decodeMs > 0) || !(sample.ttftMs >= 0)) return 'ignored';
    const msPerToken = sample.decodeMs / (sample.completionTokens - 1);
    const ttftTokens = sample.ttftMs / msPerToken;
    const band = bandOf(sample.promptTokens);
    const quiet = this.baselines.get(band);
    const baseline = quiet && quiet.length > 0 ? Math.min(...quiet) : undefined;
    this.samples++;
    if (baseline !== undefined && ttftTokens > QUEUE_FACTOR * baseline + QUEUE_SLACK_TOKENS
      && sample.ttftMs - baseline * msPerToken > QUEUE_MIN_WAIT_MS) {
      this.queuedSamples++;
      this.backOff(sample.concurrency);
      return 'queued';
    }
    remember(this.baselines, band, ttftTokens);
    this.quickestTtftMs = Math.min(this.quickestTtftMs ?? Infinity, sample.ttftMs);
    if (sample.concurrency >= this.limit) this.grow();
    return 'quiet';
  }

  /**
   * Slow start without waiting for whole answers: while learning, a quick first token of a request
   * sent with the limit full doubles the limit. Back-offs wait for the finished request, whose
   * token rate tells batching from queueing.
   */
  observeFirstToken(sample: FirstTokenSample): boolean {
    if (this.phase !== 'learning' || sample.cold || this.quickestTtftMs === undefined || sample.concurrency < this.limit) return false;
    if (sample.ttftMs > QUICK_FIRST_TOKEN_FACTOR * this.quickestTtftMs) return false;
    this.value = Math.min(this.max, 2 * this.limit);
    return true;
  }

  private grow(): void {
    const step = this.phase === 'learning' ? 1 : 1 / Math.max(1, this.value);
    this.value = Math.min(this.max, this.value + step);
  }

  private backOff(concurrency: number): void {
    // Sent under an older, higher limit: the limit is below that concurrency already.
    if (concurrency > this.limit) return;
    this.phase = 'steady';
    this.value = clamp(Math.max(concurrency - 1, Math.floor(this.value / 2)), 1, this.max);
  }
}

function bandOf(promptTokens: number | undefined): number {
  if (promptTokens === undefined || promptTokens <= BAND_BASE_TOKENS) return 0;
  return Math.min(MAX_BAND, Math.ceil(Math.log2(promptTokens / BAND_BASE_TOKENS)));
}

function remember(baselines: Map<number, number[]>, band: number, ttftTokens: number): void {
  let ring = baselines.get(band);
  if (!ring) baselines.set(band, (ring = []));
  ring.push(ttftTokens);
  if (ring.length > BASELINE_SAMPLES) ring.shift();
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
