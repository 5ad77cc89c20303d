import type { Backend } from '../backends/backend.js';
import type { Config, NodeConfig } from '../config/schema.js';
import type { UsageSink } from '../core/usage.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { nodesFromConfig, settingsFromConfig } from '../scheduler/settings.js';
import type { CounterStore } from '../store/counter-store.js';
import { RedisCounterStore } from '../store/redis-counter-store.js';
import type { Store } from '../store/store.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { AgreementService } from './identity/agreement.service.js';
import { ChatService } from './chat.service.js';
import { CollectionService } from './courses/collection.service.js';
import { CourseBotProvider } from './courses/course-bot.provider.js';
import { IngestionWorker } from './courses/ingestion-worker.js';
import { DirectDispatcher, type Dispatcher } from './inference/dispatcher.js';
import { createIdentity, type Identity } from './identity/identity.js';
import { InferenceService } from './inference/inference.service.js';
import { VirtualModels, type VirtualModelProvider } from './inference/virtual-models.js';
import { pullPolicyOf } from './models/model-download.js';
import { ModelManagerService } from './models/model-manager.service.js';
import { ModelRegistry } from './inference/model-registry.service.js';
import { NodeAdminService } from './inference/node-admin.service.js';
import { NodeModelMemory } from './inference/node-model-memory.js';
import { NodeMonitor } from './inference/node-monitor.service.js';
import { createPrivacyService } from './privacy/create-privacy-service.js';
import type { PrivacyService } from './privacy/privacy.service.js';
import { ReadinessService } from './inference/readiness.service.js';
import { SchedulerDispatcher, backendPreloader } from './inference/scheduler-dispatcher.js';
import { RagIndexService } from './rag/rag-index.service.js';
import type { AuditService } from './identity/audit.service.js';

/*
 * The one place the object graph is wired: the gateway (`app.ts`, and through it `runtime.ts`)
 * calls `buildServices`; CLI commands call the part they need (`buildIdentityServices`,
 * `buildModelManager`), so a command and the server can never build a service differently.
 */

export interface IdentityServiceOptions {
  /** Shared counters (`createCounterStore(config.redis.url)`); in-process when absent. */
  counters?: CounterStore;
  /** Writes buffered usage records (erasure re-keys the user's last ones too). */
  flushUsage?: () => Promise<void>;
  clock?: Clock;
  warn?: (message: string, details?: Record<string, unknown>) => void;
}

/** What knows who is asking, and what they own in the database. */
export interface IdentityServices {
  identity: Identity;
  /** Export, erasure and retention. */
  privacy: PrivacyService;
  /** Web chats. */
  chats: ChatService;
  agreement: AgreementService;
}

export function buildIdentityServices(config: Config, store: Store, options: IdentityServiceOptions = {}): IdentityServices {
  const identity = createIdentity({ config, store, counters: options.counters, clock: options.clock, warn: options.warn });
  return {
    identity,
    privacy: createPrivacyService({ config, store, identity, clock: options.clock, flushUsage: options.flushUsage }),
    chats: new ChatService(store.chats),
    agreement: new AgreementService(store.agreements, config.agreement),
  };
}

/** Lists, pulls and removes model files on the nodes that have a models folder. */
export function buildModelManager(config: Config, backends: readonly Backend[]): ModelManagerService {
  return ModelManagerService.fromBackends(backends, { pullPolicy: pullPolicyOf(config) });
}

/** Course bots: collections and their documents, the retrieval index, the ingestion worker. */
export interface CourseServices {
  collections: CollectionService;
  rag: RagIndexService;
  /** Started by the serving process (createApp); the CLI drains its own uploads with it. */
  ingestion: IngestionWorker;
  /** The `course:` virtual model provider. */
  bot: CourseBotProvider;
}

export function buildCourseServices(
  config: Config, store: Store, options: { audit: AuditService; clock?: Clock; logError?: (message: string, fields: Record<string, unknown>) => void },
): CourseServices {
  const rag = new RagIndexService(store, { minRelevance: config.rag.min_relevance, clock: options.clock });
  const ingestion = new IngestionWorker({
    repository: store.collections, rag, limits: { maxBytes: config.rag.max_upload_bytes, maxPages: config.rag.max_pages },
    pollIntervalMs: config.courses.poll_interval_ms, staleAfterMs: config.courses.stale_after_ms, clock: options.clock, logError: options.logError,
  });
  const collections = new CollectionService({
    store, rag, worker: ingestion, audit: options.audit, courses: config.courses, maxUploadBytes: config.rag.max_upload_bytes, clock: options.clock,
  });
  return { collections, rag, ingestion, bot: new CourseBotProvider(collections, config.courses) };
}

export interface ServiceOptions extends IdentityServiceOptions {
  /** The node configs behind `backends` (default `config.nodes`); slots and model restrictions come from here. */
  nodes?: readonly NodeConfig[];
  usage?: UsageSink;
  /** Replaces the scheduler (tests). */
  dispatcher?: Dispatcher;
  /** Collect Node process metrics (off in tests that build many apps). */
  processMetrics?: boolean;
  logError?: (message: string, fields: Record<string, unknown>) => void;
}

export interface Services extends IdentityServices {
  registry: ModelRegistry;
  inference: InferenceService;
  metrics: GatewayMetrics;
  dispatcher: Dispatcher;
  readiness: ReadinessService;
  modelManager: ModelManagerService;
  /** The scheduler and what watches its nodes, unless `scheduler.enabled` is false or a dispatcher was injected. */
  scheduler?: Scheduler;
  monitor?: NodeMonitor;
  nodeAdmin?: NodeAdminService;
  courses: CourseServices;
}

/** Builds every service of the gateway; starts nothing (the caller refreshes, probes and listens). */
export function buildServices(config: Config, store: Store, backends: readonly Backend[], options: ServiceOptions = {}): Services {
  const nodeConfigs = options.nodes ?? config.nodes ?? [];
  const logError = options.logError ?? (() => undefined);
  let scheduler: Scheduler | undefined;
  let monitor: NodeMonitor | undefined;
  if (!options.dispatcher && config.scheduler.enabled) {
    scheduler = new Scheduler({
      clock: systemClock, settings: settingsFromConfig(config),
      nodes: nodesFromConfig({ ...config, nodes: nodeConfigs }, backends),
      preload: backendPreloader(backends, config.upstream.first_byte_timeout_ms),
    });
    monitor = new NodeMonitor({
      scheduler, backends, probeIntervalMs: config.scheduler.probe_interval_ms,
      onProbeError: (node, error) => logError('node probe failed', { node, error: (error as Error).message }),
    });
  }
  const registry = buildRegistry(config, store, backends, nodeConfigs, { logError, monitor });
  const dispatcher = options.dispatcher ?? (scheduler ? new SchedulerDispatcher(scheduler, backends) : new DirectDispatcher());
  const metrics = new GatewayMetrics({
    inFlight: () => dispatcher.inFlight(), scheduler: scheduler && (() => scheduler.snapshot()), defaultMetrics: options.processMetrics ?? false,
  });
  // Identity first: its access control is the inference service's admission port.
  const identityServices = buildIdentityServices(config, store, { ...options, warn: options.warn ?? ((message, details) => logError(message, details ?? {})) });
  // Names no node serves, planned into requests for real models: one provider per prefix.
  const courses = buildCourseServices(config, store, { audit: identityServices.identity.audit, clock: options.clock, logError });
  const virtualModelProviders: VirtualModelProvider[] = [courses.bot];
  const inference = new InferenceService({
    registry, dispatcher, admission: identityServices.identity.access, usage: options.usage, observer: metrics,
    retryBeforeFirstByte: config.upstream.retry_before_first_byte,
    virtualModels: new VirtualModels(virtualModelProviders),
  });
  const readiness = new ReadinessService({
    registry, store, scheduler, redis: options.counters instanceof RedisCounterStore ? options.counters : undefined,
  });
  return {
    ...identityServices, registry, inference, metrics, dispatcher, readiness, scheduler, monitor,
    nodeAdmin: scheduler && new NodeAdminService(scheduler),
    modelManager: buildModelManager(config, registry.backends),
    courses,
  };
}

function buildRegistry(
  config: Config, store: Store, backends: readonly Backend[], nodeConfigs: readonly NodeConfig[],
  hooks: { logError: NonNullable<ServiceOptions['logError']>; monitor?: NodeMonitor },
): ModelRegistry {
  const nodeModels = new Map<string, readonly string[]>();
  for (const node of nodeConfigs) if (node.models) nodeModels.set(node.name, node.models);
  const { logError, monitor } = hooks;
  return new ModelRegistry({
    backends: [...backends],
    aliases: config.models.aliases,
    nodeModels,
    memory: new NodeModelMemory({
      store: store.nodeModels, nodes: backends.map((b) => b.name), declared: nodeModels,
      onError: (error) => logError('remembering the models of nodes failed', { error: (error as Error).message }),
    }),
    nodeUrls: new Map(nodeConfigs.flatMap((n) => (n.url ? [[n.name, n.url] as const] : []))),
    retryAfterSeconds: Math.ceil(Math.min(config.models.refresh_interval_ms, config.scheduler.probe_interval_ms) / 1000) || 1,
    onNodeError: (node, error) => logError('listing models failed', { node, error: (error as Error).message }),
    onNodeListed: (node, models) => monitor?.onNodeListed(node, models),
  });
}
