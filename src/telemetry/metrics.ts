import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UsageEntry } from '../core/usage.js';

/** The parts of the scheduler's snapshot exported here (structural: telemetry does not import the scheduler). */
export interface SchedulerView {
  models: { model: string; queuedByClass: Record<string, number>; inFlight: number; drainRatePerSecond: number | undefined }[];
  nodes: { name: string; healthy: boolean; draining: boolean; breaker: string; models: Record<string, { concurrency: { limit: number; max: number } }> }[];
  counters: { admitted: number; started: number; expired: number; retries: number; evictionsImplied: number; preloads: number; preloadsFailed: number; preloadsSkipped: number; refused: Record<string, number> };
}

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * Prometheus metrics of the gateway. One registry per app instance (tests create several apps
 * in one process). Request-level series come from finished usage entries; HTTP-level series
 * (including requests refused before reaching a node) from the http layer.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'route' | 'status'>;
  private readonly generations: Counter<'model' | 'node' | 'status'>;
  private readonly duration: Histogram<'model' | 'endpoint'>;
  private readonly ttft: Histogram<'model'>;
  private readonly tokens: Counter<'model' | 'kind'>;
  private readonly queue: Histogram<'model' | 'class'>;

  constructor(options: { inFlight?: () => ReadonlyMap<string, number>; scheduler?: () => SchedulerView; defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.httpRequests = new Counter({ name: 'flexi_http_requests_total', help: 'HTTP requests by route and status.', labelNames: ['route', 'status'], registers });
    this.generations = new Counter({ name: 'flexi_requests_total', help: 'Inference requests by model, node and status.', labelNames: ['model', 'node', 'status'], registers });
    this.duration = new Histogram({ name: 'flexi_request_duration_seconds', help: 'End-to-end duration of inference requests.', labelNames: ['model', 'endpoint'], buckets: LATENCY_BUCKETS_S, registers });
    this.ttft = new Histogram({ name: 'flexi_time_to_first_token_seconds', help: 'Time from arrival to the first token.', labelNames: ['model'], buckets: LATENCY_BUCKETS_S, registers });
    this.tokens = new Counter({ name: 'flexi_tokens_total', help: 'Tokens processed, by model and kind (prompt, completion).', labelNames: ['model', 'kind'], registers });
    this.queue = new Histogram({ name: 'flexi_queue_wait_seconds', help: 'Time requests waited for a node, by model and priority class.', labelNames: ['model', 'class'], buckets: LATENCY_BUCKETS_S, registers });
    const inFlight = options.inFlight;
    new Gauge({
      name: 'flexi_node_in_flight',
      help: 'Requests in flight per node.',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const [node, count] of inFlight?.() ?? []) this.set({ node }, count);
      },
    });
    if (options.scheduler) this.registerSchedulerMetrics(options.scheduler);
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'flexi_process_' });
  }

  /** Gauges and counters read from the scheduler's snapshot at scrape time. */
  private registerSchedulerMetrics(view: () => SchedulerView): void {
    const registers = [this.registry];
    let cached: { atMs: number; value: SchedulerView } | undefined;
    // One snapshot per scrape, shared by all series.
    const snapshot = () => {
      const now = Date.now();
      if (!cached || now - cached.atMs > 100) cached = { atMs: now, value: view() };
      return cached.value;
    };
    new Gauge({
      name: 'flexi_queue_length', help: 'Requests waiting for a node, by model and priority class.', labelNames: ['model', 'class'], registers,
      collect() {
        this.reset();
        for (const m of snapshot().models) for (const [cls, n] of Object.entries(m.queuedByClass)) this.set({ model: m.model, class: cls }, n);
      },
    });
    new Gauge({
      name: 'flexi_model_drain_rate', help: 'Measured completions per second while requests wait, by model.', labelNames: ['model'], registers,
      collect() {
        this.reset();
        for (const m of snapshot().models) if (m.drainRatePerSecond !== undefined) this.set({ model: m.model }, m.drainRatePerSecond);
      },
    });
    new Gauge({
      name: 'flexi_node_up', help: 'Node health (1 healthy, 0 not), with breaker state and drain flag.', labelNames: ['node', 'breaker', 'draining'], registers,
      collect() {
        this.reset();
        for (const n of snapshot().nodes) this.set({ node: n.name, breaker: n.breaker, draining: String(n.draining) }, n.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'flexi_node_concurrency_limit', help: 'Requests the scheduler sends to a node for a model at once (learned; see flexi_node_concurrency_max).',
      labelNames: ['node', 'model'], registers,
      collect() {
        this.reset();
        for (const n of snapshot().nodes) for (const [model, m] of Object.entries(n.models)) this.set({ node: n.name, model }, m.concurrency.limit);
      },
    });
    new Gauge({
      name: 'flexi_node_concurrency_max', help: 'Ceiling of the learned limit: the node\'s configured slots, else the learner\'s maximum.',
      labelNames: ['node', 'model'], registers,
      collect() {
        this.reset();
        for (const n of snapshot().nodes) for (const [model, m] of Object.entries(n.models)) this.set({ node: n.name, model }, m.concurrency.max);
      },
    });
    new Counter({
      name: 'flexi_scheduler_refusals_total', help: 'Requests the scheduler refused, by reason.', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(snapshot().counters.refused)) this.inc({ reason }, n);
      },
    });
    const simple: [string, string, (c: SchedulerView['counters']) => number][] = [
      ['flexi_scheduler_admitted_total', 'Requests admitted to a queue.', (c) => c.admitted],
      ['flexi_scheduler_expired_total', 'Waiting requests refused when their deadline passed.', (c) => c.expired],
      ['flexi_scheduler_retries_total', 'Requests moved to another node after a failure before the first byte.', (c) => c.retries],
      ['flexi_scheduler_evictions_total', 'Idle models evicted (implied) to load another.', (c) => c.evictionsImplied],
      ['flexi_scheduler_preloads_total', 'Models loaded on a node ahead of demand (a replica for a busy model).', (c) => c.preloads],
      ['flexi_scheduler_preload_failures_total', 'Preloads that failed.', (c) => c.preloadsFailed],
      ['flexi_scheduler_preloads_skipped_total', 'Preloads not sent because another replica was loading the same model on the node.', (c) => c.preloadsSkipped],
    ];
    for (const [name, help, read] of simple) {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read(snapshot().counters)); } });
    }
  }

  onHttpResponse(route: string, status: number): void {
    this.httpRequests.inc({ route, status: String(status) });
  }

  onFinished(entry: UsageEntry): void {
    const model = entry.model;
    this.generations.inc({ model, node: entry.node ?? '', status: String(entry.status) });
    this.duration.observe({ model, endpoint: entry.endpoint }, entry.durationMs / 1000);
    if (entry.ttftMs !== undefined) this.ttft.observe({ model }, entry.ttftMs / 1000);
    if (entry.queueMs !== undefined) this.queue.observe({ model, class: entry.priorityClass ?? 'default' }, entry.queueMs / 1000);
    if (entry.promptTokens) this.tokens.inc({ model, kind: 'prompt' }, entry.promptTokens);
    if (entry.completionTokens) this.tokens.inc({ model, kind: 'completion' }, entry.completionTokens);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
