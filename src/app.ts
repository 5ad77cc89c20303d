import type { FastifyInstance } from 'fastify';
import type { Backend } from './backends/backend.js';
import type { Config, NodeConfig } from './config/schema.js';
import { systemClock } from './lib/clock.js';
import { toCanonicalModelName } from './core/model-name.js';
import { Scheduler } from './scheduler/scheduler.js';
import { settingsFromConfig } from './scheduler/settings.js';
import type { NodeInit } from './scheduler/node-state.js';
import type { UsageSink } from './core/usage.js';
import type { KeyVerifier } from './services/access-control.service.js';
import { createHttpServer } from './http/server.js';
import { AgreementService } from './services/agreement.service.js';
import { ChatService } from './services/chat.service.js';
import { DirectDispatcher, type Dispatcher } from './services/dispatcher.js';
import { createIdentity, type Identity } from './services/identity.js';
import { InferenceService } from './services/inference.service.js';
import { pullPolicyOf } from './services/model-download.js';
import { ModelRegistry } from './services/model-registry.service.js';
import { NodeModelMemory } from './services/node-model-memory.js';
import { ReadinessService } from './services/readiness.service.js';
import { NodeMonitor } from './services/node-monitor.service.js';
import { NodeAdminService } from './services/node-admin.service.js';
import { createPrivacyService } from './services/privacy/create-privacy-service.js';
import type { PrivacyService } from './services/privacy/privacy.service.js';
import { SchedulerDispatcher, backendPreloader } from './services/scheduler-dispatcher.js';
import type { CounterStore } from './store/counter-store.js';
import { MemoryNodeModelRepository } from './store/node-model.repository.js';
import { RedisCounterStore } from './store/redis-counter-store.js';
import type { Store } from './store/store.js';
import { GatewayMetrics } from './telemetry/metrics.js';

export interface AppDeps {
  config: Config;
  backends: Backend[];
  /** The node configs behind `backends` (default `config.nodes`); slots and model restrictions come from here. */
  nodes?: readonly NodeConfig[];
  /** Key verifier for builds without a database (tests); with `store`, keys come from it. */
  keys?: KeyVerifier;
  /** The database: users, sessions, keys, groups, audit (enables /auth and /admin/v1). */
  store?: Store;
  /** Shared counters (`createCounterStore(config.redis.url)`); in-process when absent. */
  counters?: CounterStore;
  usage?: UsageSink;
  /** Writes buffered usage records (erasure re-keys the user's last ones too). */
  flushUsage?: () => Promise<void>;
  dispatcher?: Dispatcher;
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
  /** The scheduler, unless `scheduler.enabled` is false or a dispatcher was injected. */
  scheduler?: Scheduler;
  identity: Identity;
  /** Export, erasure and retention; present with a database. */
  privacy?: PrivacyService;
  /** With a store: web chats and the user agreement. */
  chats?: ChatService;
  agreement?: AgreementService;
  /**
   * Stops accepting requests, waits up to `graceMs` for in-flight requests to finish, then cuts
   * the remaining connections and closes the backends (not the store: the caller owns it).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Scheduler view of each node: configured slots (embedded nodes default to their slot count). */
function schedulerNodes(backends: readonly Backend[], nodeConfigs: readonly NodeConfig[], config: Config): NodeInit[] {
  return backends.map((backend) => {
    const node = nodeConfigs.find((n) => n.name === backend.name);
    const slots = node?.slots ?? (backend.type === 'embedded' ? config.embedded.default_slots : undefined);
    return { name: backend.name, type: backend.type, configuredSlots: slots, allowedModels: node?.models?.map(toCanonicalModelName) };
  });
}

function totalInFlight(dispatcher: Dispatcher): number {
  let total = 0;
  for (const count of dispatcher.inFlight().values()) total += count;
  return total;
}

/** Builds the whole gateway without listening (tests call `app.server.inject` or `listen`). */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  const nodeConfigs = deps.nodes ?? config.nodes ?? [];
  const nodeModels = new Map<string, readonly string[]>();
  for (const node of nodeConfigs) if (node.models) nodeModels.set(node.name, node.models);
  const logError = deps.logError ?? (() => undefined);
  let scheduler: Scheduler | undefined;
  let monitor: NodeMonitor | undefined;
  if (!deps.dispatcher && config.scheduler.enabled) {
    scheduler = new Scheduler({
      clock: systemClock, settings: settingsFromConfig(config), nodes: schedulerNodes(deps.backends, nodeConfigs, config),
      preload: backendPreloader(deps.backends, config.upstream.first_byte_timeout_ms),
    });
    monitor = new NodeMonitor({
      scheduler, backends: deps.backends, probeIntervalMs: config.scheduler.probe_interval_ms,
      onProbeError: (node, error) => logError('node probe failed', { node, error: (error as Error).message }),
    });
  }
  const registry = new ModelRegistry({
    backends: deps.backends,
    aliases: config.models.aliases,
    nodeModels,
    memory: new NodeModelMemory({
      store: deps.store?.nodeModels ?? new MemoryNodeModelRepository(), nodes: deps.backends.map((b) => b.name), declared: nodeModels,
      onError: (error) => logError('remembering the models of nodes failed', { error: (error as Error).message }),
    }),
    nodeUrls: new Map(nodeConfigs.flatMap((n) => (n.url ? [[n.name, n.url] as const] : []))),
    retryAfterSeconds: Math.ceil(Math.min(config.models.refresh_interval_ms, config.scheduler.probe_interval_ms) / 1000) || 1,
    onNodeError: (node, error) => logError('listing models failed', { node, error: (error as Error).message }),
    onNodeListed: (node, models) => monitor?.onNodeListed(node, models),
  });
  const dispatcher = deps.dispatcher ?? (scheduler ? new SchedulerDispatcher(scheduler, deps.backends) : new DirectDispatcher());
  const metrics = new GatewayMetrics({
    inFlight: () => dispatcher.inFlight(), scheduler: scheduler && (() => scheduler!.snapshot()), defaultMetrics: deps.processMetrics ?? false,
  });
  const identity = createIdentity({ config, store: deps.store, counters: deps.counters, keys: deps.keys,
    warn: (message, details) => deps.logError?.(message, details ?? {}) });
  // Serve only once revocations made by other replicas are heard.
  await identity.keys?.listening;
  const inference = new InferenceService({
    registry,
    dispatcher,
    admission: identity.access,
    usage: deps.usage,
    observer: metrics,
    retryBeforeFirstByte: config.upstream.retry_before_first_byte,
  });
  const readiness = new ReadinessService({
    registry, store: deps.store, scheduler, redis: deps.counters instanceof RedisCounterStore ? deps.counters : undefined,
  });
  const privacy = createPrivacyService({ config, store: deps.store, identity, flushUsage: deps.flushUsage });
  const chats = deps.store ? new ChatService(deps.store.chats) : undefined;
  const agreement = deps.store ? new AgreementService(deps.store.agreements, config.agreement) : undefined;
  const server = await createHttpServer({
    bodyLimitBytes: config.server.body_limit_bytes,
    trustProxy: config.server.trust_proxy,
    clientLimits: {
      headersTimeoutMs: config.server.headers_timeout_ms, requestTimeoutMs: config.server.request_timeout_ms,
      unauthenticatedPerAddress: config.server.unauthenticated_requests_per_address,
    },
    hstsMaxAgeS: config.server.hsts ? config.server.hsts_max_age_s : undefined,
    access: identity.access,
    identity,
    privacy,
    cookies: { secret: config.auth.cookie_secret, secure: config.auth.cookie_secure, sessionTtlMs: config.auth.session_ttl_ms },
    inference,
    dispatcher,
    nodeAdmin: scheduler && new NodeAdminService(scheduler),
    registry,
    modelPull: pullPolicyOf(config),
    metrics,
    readiness,
    metricsAccess: { bearerToken: config.metrics.bearer_token, allowFrom: config.metrics.allow_from },
    ui: chats && agreement && { chats, agreement, modelDescriptions: config.models.descriptions, sso: config.auth.oidc !== undefined },
    webRoot: deps.webRoot,
    logError,
  });
  await registry.refresh();
  if (monitor) {
    await monitor.probeAll();
    monitor.start();
  }
  const refreshTimer = setInterval(() => void registry.refresh(), config.models.refresh_interval_ms);
  refreshTimer.unref();
  return {
    server,
    registry,
    inference,
    metrics,
    dispatcher,
    scheduler,
    identity,
    privacy,
    chats,
    agreement,
    async close(options = {}) {
      clearInterval(refreshTimer);
      monitor?.stop();
      const closing = server.close();
      const deadline = performance.now() + (options.graceMs ?? 0);
      while (performance.now() < deadline && totalInFlight(dispatcher) > 0) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      server.server.closeAllConnections();
      await closing;
      scheduler?.close();
      await Promise.all(deps.backends.map((backend) => backend.close().catch(() => undefined)));
      await identity.close();
    },
  };
}
