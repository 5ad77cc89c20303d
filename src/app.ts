import type { FastifyInstance } from 'fastify';
import type { Backend } from './backends/backend.js';
import type { Config } from './config/schema.js';
import type { UsageSink } from './core/usage.js';
import type { KeyVerifier } from './http/auth.js';
import { createHttpServer } from './http/server.js';
import type { ReadinessCheck } from './http/system.route.js';
import { DirectDispatcher, type Dispatcher } from './services/dispatcher.js';
import { createIdentity, type Identity } from './services/identity.js';
import { InferenceService } from './services/inference.service.js';
import { ModelRegistry } from './services/model-registry.service.js';
import type { CounterStore } from './store/counter-store.js';
import type { Store } from './store/store.js';
import { GatewayMetrics } from './telemetry/metrics.js';

export interface AppDeps {
  config: Config;
  backends: Backend[];
  /** Key verifier for builds without a database (tests); with `store`, keys come from it. */
  keys?: KeyVerifier;
  /** The database: users, sessions, keys, groups, audit (enables /auth and /admin/v1). */
  store?: Store;
  /** Shared counters (`createCounterStore(config.redis.url)`); in-process when absent. */
  counters?: CounterStore;
  usage?: UsageSink;
  dispatcher?: Dispatcher;
  /** Extra readiness checks (e.g. the database). */
  readiness?: ReadinessCheck;
  webRoot?: string;
  logError?: (message: string, fields: Record<string, unknown>) => void;
  /** Collect Node process metrics (off in tests that build many apps). */
  processMetrics?: boolean;
}

export interface App {
  server: FastifyInstance;
  registry: ModelRegistry;
  inference: InferenceService;
  metrics: GatewayMetrics;
  dispatcher: Dispatcher;
  identity: Identity;
  /**
   * Stops accepting requests, waits up to `graceMs` for in-flight requests to finish, then cuts
   * the remaining connections and closes the backends (not the store: the caller owns it).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

function totalInFlight(dispatcher: Dispatcher): number {
  let total = 0;
  for (const count of dispatcher.inFlight().values()) total += count;
  return total;
}

/** Builds the whole gateway without listening (tests call `app.server.inject` or `listen`). */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  const nodeModels = new Map<string, readonly string[]>();
  for (const node of config.nodes ?? []) if (node.models) nodeModels.set(node.name, node.models);
  const registry = new ModelRegistry({
    backends: deps.backends,
    aliases: config.models.aliases,
    nodeModels,
    onNodeError: (node, error) => deps.logError?.('listing models failed', { node, error: (error as Error).message }),
  });
  const dispatcher = deps.dispatcher ?? new DirectDispatcher();
  const metrics = new GatewayMetrics({ inFlight: () => dispatcher.inFlight(), defaultMetrics: deps.processMetrics ?? false });
  const inference = new InferenceService({
    registry,
    dispatcher,
    usage: deps.usage,
    observer: metrics,
    retryBeforeFirstByte: config.upstream.retry_before_first_byte,
  });
  const readiness: ReadinessCheck = async () => {
    const extra = deps.readiness ? await deps.readiness() : { ready: true, checks: {} };
    const models = registry.list().length;
    return { ready: extra.ready, checks: { ...extra.checks, models, nodes: deps.backends.map((b) => ({ name: b.name, error: registry.nodeError(b.name) ?? null })) } };
  };
  const identity = createIdentity({ config, store: deps.store, counters: deps.counters, keys: deps.keys,
    warn: (message, details) => deps.logError?.(message, details ?? {}) });
  const server = await createHttpServer({
    bodyLimitBytes: config.server.body_limit_bytes,
    trustProxy: config.server.trust_proxy,
    access: identity.access,
    identity,
    cookies: { secret: config.auth.cookie_secret, secure: config.auth.cookie_secure, sessionTtlMs: config.auth.session_ttl_ms },
    inference,
    registry,
    metrics,
    readiness,
    webRoot: deps.webRoot,
    logError: deps.logError ?? (() => undefined),
  });
  await registry.refresh();
  const refreshTimer = setInterval(() => void registry.refresh(), config.models.refresh_interval_ms);
  refreshTimer.unref();
  return {
    server,
    registry,
    inference,
    metrics,
    dispatcher,
    identity,
    async close(options = {}) {
      clearInterval(refreshTimer);
      const closing = server.close();
      const deadline = performance.now() + (options.graceMs ?? 0);
      while (performance.now() < deadline && totalInFlight(dispatcher) > 0) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      server.server.closeAllConnections();
      await closing;
      await Promise.all(deps.backends.map((backend) => backend.close().catch(() => undefined)));
      await identity.close();
    },
  };
}
