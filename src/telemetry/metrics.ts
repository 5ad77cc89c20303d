import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UsageEntry } from '../core/usage.js';

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
  private readonly queue: Histogram<'model'>;

  constructor(options: { inFlight?: () => ReadonlyMap<string, number>; defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.httpRequests = new Counter({ name: 'flexi_http_requests_total', help: 'HTTP requests by route and status.', labelNames: ['route', 'status'], registers });
    this.generations = new Counter({ name: 'flexi_requests_total', help: 'Inference requests by model, node and status.', labelNames: ['model', 'node', 'status'], registers });
    this.duration = new Histogram({ name: 'flexi_request_duration_seconds', help: 'End-to-end duration of inference requests.', labelNames: ['model', 'endpoint'], buckets: LATENCY_BUCKETS_S, registers });
    this.ttft = new Histogram({ name: 'flexi_time_to_first_token_seconds', help: 'Time from arrival to the first token.', labelNames: ['model'], buckets: LATENCY_BUCKETS_S, registers });
    this.tokens = new Counter({ name: 'flexi_tokens_total', help: 'Tokens processed, by model and kind (prompt, completion).', labelNames: ['model', 'kind'], registers });
    this.queue = new Histogram({ name: 'flexi_queue_wait_seconds', help: 'Time requests waited for a node.', labelNames: ['model'], buckets: LATENCY_BUCKETS_S, registers });
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
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'flexi_process_' });
  }

  onHttpResponse(route: string, status: number): void {
    this.httpRequests.inc({ route, status: String(status) });
  }

  onFinished(entry: UsageEntry): void {
    const model = entry.model;
    this.generations.inc({ model, node: entry.node ?? '', status: String(entry.status) });
    this.duration.observe({ model, endpoint: entry.endpoint }, entry.durationMs / 1000);
    if (entry.ttftMs !== undefined) this.ttft.observe({ model }, entry.ttftMs / 1000);
    if (entry.queueMs !== undefined) this.queue.observe({ model }, entry.queueMs / 1000);
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
