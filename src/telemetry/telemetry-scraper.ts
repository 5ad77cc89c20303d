import { systemClock, type Clock } from '../lib/clock.js';
import { parseDcgmMetrics, type AgentSamples, type GpuReading, type GpuSample } from './gpu-sample.js';

/** A node's telemetry endpoint: a `flexi agent` (`url`) or a DCGM exporter (`dcgmUrl`). */
export interface TelemetrySource {
  node: string;
  url?: string;
  dcgmUrl?: string;
}

/** What the gateway last heard from a node's telemetry. */
export interface NodeGpuView {
  node: string;
  /** `ok`; `unavailable`: the agent answers but cannot read its GPUs; `unreachable`: no answer. */
  state: 'ok' | 'unavailable' | 'unreachable' | 'unknown';
  error?: string;
  /** Time of the latest sample (epoch ms). */
  atMs?: number;
  gpus: GpuReading[];
  energyCounter: boolean;
}

/** Where samples go (the energy meter). */
export interface SampleSink {
  ingest(node: string, sample: GpuSample): void;
}

export interface TelemetryScraperOptions {
  sources: readonly TelemetrySource[];
  intervalMs: number;
  sink?: SampleSink;
  /**
   * Awaited before every round, never rejecting (several replicas: the meter learns how many requests the other
   * replicas run on each node, which the samples of the round are then split by).
   */
  beforeRound?: () => Promise<void>;
  /** Called after every round (the meter's `tick`). */
  afterRound?: () => void;
  clock?: Clock;
  timeoutMs?: number;
  /** Samples kept per node for the live charts. */
  historySize?: number;
}

/** A node's samples condensed for the live charts: totals over its GPUs. */
export interface NodeHistoryPoint {
  atMs: number;
  powerWatts: number;
  utilizationRatio: number;
  memoryUsedBytes: number;
}

/**
 * Reads every node's telemetry on a timer: from an agent, the samples since the last one seen (so none is
 * lost between rounds); from a DCGM exporter, one reading per round stamped with the gateway's clock.
 *
 * With several replicas every replica scrapes every node: each needs the samples to split the node's energy
 * over its own requests (the meter gives them only their part), and each serves the same readings as GPU
 * gauges. Only the leader of the `telemetry` job writes the node totals.
 */
export class TelemetryScraper {
  private readonly clock: Clock;
  private readonly views = new Map<string, NodeGpuView>();
  private readonly lastAtMs = new Map<string, number>();
  private readonly history = new Map<string, NodeHistoryPoint[]>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;

  constructor(private readonly options: TelemetryScraperOptions) {
    this.clock = options.clock ?? systemClock;
    for (const source of options.sources) this.views.set(source.node, { node: source.node, state: 'unknown', gpus: [], energyCounter: false });
  }

  start(): void {
    void this.scrapeAll();
    this.timer = setInterval(() => void this.scrapeAll(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One round over every node (a round still running is joined, not doubled). */
  scrapeAll(): Promise<void> {
    this.round ??= (this.options.beforeRound?.() ?? Promise.resolve()).then(() => Promise.all(this.options.sources.map((source) => this.scrape(source)))).then(() => {
      this.options.afterRound?.();
    }).finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.round;
  }

  /** The latest state of every node's GPUs. */
  snapshot(): NodeGpuView[] {
    return [...this.views.values()];
  }

  /** Recent totals per node, oldest first. */
  recent(): Record<string, NodeHistoryPoint[]> {
    return Object.fromEntries(this.history);
  }

  private async scrape(source: TelemetrySource): Promise<void> {
    try {
      if (source.url) await this.scrapeAgent(source.node, source.url);
      else if (source.dcgmUrl) await this.scrapeDcgm(source.node, source.dcgmUrl);
    } catch (error) {
      const view = this.views.get(source.node)!;
      this.views.set(source.node, { ...view, state: 'unreachable', error: describe(error) });
    }
  }

  private async scrapeAgent(node: string, url: string): Promise<void> {
    const since = this.lastAtMs.get(node);
    const target = `${url.replace(/\/+$/, '')}/v1/samples${since === undefined ? '' : `?since=${since}`}`;
    const body = await this.fetchText(target);
    const answer = JSON.parse(body) as AgentSamples;
    if (!Array.isArray(answer.samples)) throw new Error(`${target} did not answer like a flexi agent`);
    // The first round only sets the baseline: energy before the gateway started is nobody's.
    const samples = since === undefined ? answer.samples.slice(-1) : answer.samples;
    for (const sample of samples) this.accept(node, sample);
    const latest = answer.samples.at(-1);
    this.views.set(node, {
      node, state: answer.state === 'ok' ? 'ok' : 'unavailable', ...(answer.error ? { error: answer.error } : {}),
      atMs: latest?.atMs ?? this.views.get(node)?.atMs, gpus: latest?.gpus ?? this.views.get(node)?.gpus ?? [], energyCounter: answer.energyCounter,
    });
  }

  private async scrapeDcgm(node: string, url: string): Promise<void> {
    const gpus = parseDcgmMetrics(await this.fetchText(url));
    if (gpus.length === 0) throw new Error(`${url} has no DCGM_FI_DEV_* series`);
    const sample = { atMs: this.clock.now(), gpus };
    this.accept(node, sample);
    this.views.set(node, { node, state: 'ok', atMs: sample.atMs, gpus, energyCounter: gpus.some((g) => g.energyJoules !== undefined) });
  }

  private accept(node: string, sample: GpuSample): void {
    const last = this.lastAtMs.get(node);
    if (last !== undefined && sample.atMs <= last) return;
    this.lastAtMs.set(node, sample.atMs);
    this.options.sink?.ingest(node, sample);
    const points = this.history.get(node) ?? [];
    points.push({
      atMs: sample.atMs,
      powerWatts: sum(sample.gpus, (g) => g.powerWatts),
      utilizationRatio: sample.gpus.length === 0 ? 0 : sum(sample.gpus, (g) => g.utilizationRatio) / sample.gpus.length,
      memoryUsedBytes: sum(sample.gpus, (g) => g.memoryUsedBytes),
    });
    const size = this.options.historySize ?? 600;
    if (points.length > size) points.splice(0, points.length - size);
    this.history.set(node, points);
  }

  private async fetchText(url: string): Promise<string> {
    const response = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs ?? Math.max(1000, this.options.intervalMs)) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return response.text();
  }
}

function sum(gpus: readonly GpuReading[], pick: (g: GpuReading) => number | undefined): number {
  let total = 0;
  for (const gpu of gpus) total += pick(gpu) ?? 0;
  return total;
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return cause ? `${(error as Error).message} (${cause})` : (error as Error).message;
}
