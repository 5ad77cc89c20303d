import type { Backend } from '../backends/backend.js';
import type { Config, NodeConfig } from '../config/schema.js';
import type { UsageSink } from '../core/usage.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { nodesFromConfig, settingsFromConfig } from '../scheduler/settings.js';
import type { CounterStore } from '../store/counter-store.js';
import { RedisCounterStore } from '../store/redis-counter-store.js';
import type { SlotStore } from '../store/slot-store.js';
import type { Store } from '../store/store.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { EnergyMeter } from '../telemetry/energy-meter.js';
import { registerEnergyMetrics } from '../telemetry/energy-metrics.js';
import type { EnergyPricing } from '../telemetry/energy-price.js';
import { TelemetryScraper } from '../telemetry/telemetry-scraper.js';
import { EnergyReportService } from './energy/energy-report.service.js';
import { EnergyWriter } from './energy/energy-writer.js';
import { otherReplicasLoad, type OtherReplicasLoadOptions } from './energy/other-replicas.js';
import { AgreementService } from './identity/agreement.service.js';
import { ChatService } from './chat.service.js';
import { ChatAnswerService } from './chat-answer.service.js';
import { ChatKeyService } from './chat-key.service.js';
import { CollectionService } from './courses/collection.service.js';
import { CourseBotProvider } from './courses/course-bot.provider.js';
import { IngestionWorker } from './courses/ingestion-worker.js';
import { DirectDispatcher, type Dispatcher } from './inference/dispatcher.js';
import { createIdentity, type Identity } from './identity/identity.js';
import { InferenceService } from './inference/inference.service.js';
import { VirtualModels, type VirtualModelProvider } from './inference/virtual-models.js';
import { ImageUrlFetcher } from './inference/image-url-fetcher.js';
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
import { SharedSlotBudget } from './inference/shared-slot-budget.js';
import { CatalogFileService } from './models/catalog-file.service.js';
import { TemplateModels } from './templates/template-models.js';
import { TemplateService } from './templates/template.service.js';
import { LtiService } from './lti/lti.service.js';
import { RagIndexService } from './rag/rag-index.service.js';
import type { AuditService } from './identity/audit.service.js';
import { claimedPreloader } from './inference/preload-claim.js';
import { LEADER_JOBS, type LeaderJob } from './leader-election.js';
import type { LeaderLock } from '../store/leader-lock.js';
import { registerClusterMetrics } from '../telemetry/cluster-metrics.js';

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
  /** Data keys of chats encrypted at rest (`privacy.encrypt_chats`). */
  chatKeys: ChatKeyService;
}

export function buildIdentityServices(config: Config, store: Store, options: IdentityServiceOptions = {}): IdentityServices {
  const identity = createIdentity({ config, store, counters: options.counters, clock: options.clock, warn: options.warn });
  return {
    identity,
    privacy: createPrivacyService({ config, store, identity, clock: options.clock, flushUsage: options.flushUsage }),
    chats: new ChatService(store.chats, { clock: options.clock, encrypt: config.privacy.encrypt_chats }),
    agreement: new AgreementService(store.agreements, config.agreement),
    chatKeys: new ChatKeyService(store.chatKeys, { enabled: config.privacy.encrypt_chats, clock: options.clock }),
  };
}

/** The LTI 1.3 tool (platforms, keys, launches, deep linking, rosters, registration). */
export function buildLtiService(config: Config, store: Store, identity: Identity, options: { clock?: Clock } = {}): LtiService {
  return new LtiService({ config, store, users: identity.users, policies: identity.policies, audit: identity.audit, clock: options.clock });
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

/** Several replicas over the same nodes and database (runtime.ts `openCluster`): what they coordinate through besides the slots. */
export interface ClusterCoordination {
  /** The shared leader lock (Redis or PostgreSQL): preloads claim their node and model in it. */
  lock: LeaderLock;
  /** Whether this replica leads a job now (`LeaderElection.isLeader`). */
  isLeader(job: LeaderJob): boolean;
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
  /**
   * The nodes' slots are shared with other replicas (`RedisSlotStore` when `redis.url` is set and
   * `cluster.shared_slots` is on); absent: this process counts alone and never asks Redis.
   */
  slots?: SlotStore;
  /** This replica's name in the shared slot budget (`cluster.replica_id` or a generated one). */
  replicaId?: string;
  /**
   * Several replicas: preloads are claimed in the leader lock, only the `discovery` leader writes
   * the nodes' model lists, and the `flexi_cluster_*` series are registered. Absent: one process.
   */
  cluster?: ClusterCoordination;
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
  /** This replica's side of the shared slot budget, when `options.slots` was given. */
  slotBudget?: SharedSlotBudget;
  /** The newest `flexi models catalog` output, for the admin UI. */
  catalogFile: CatalogFileService;
  /** GPU telemetry, energy attribution and the energy report. */
  energy: EnergyServices;
  /** Fetches http(s) image URLs of chat requests when `chat.fetch_image_urls` allows it. */
  imageUrls: ImageUrlFetcher;
  /** Web-UI answers written by the server (they survive a closed tab). */
  answers: ChatAnswerService;
  /** Prompt templates (`template:<name>`). */
  templates: TemplateService;
  /** The LTI 1.3 tool. */
  lti: LtiService;
  courses: CourseServices;
}

/** Builds every service of the gateway; starts nothing (the caller refreshes, probes and listens). */
export function buildServices(config: Config, store: Store, backends: readonly Backend[], options: ServiceOptions = {}): Services {
  const nodeConfigs = options.nodes ?? config.nodes ?? [];
  const logError = options.logError ?? (() => undefined);
  let scheduler: Scheduler | undefined;
  let monitor: NodeMonitor | undefined;
  let slotBudget: SharedSlotBudget | undefined;
  if (!options.dispatcher && config.scheduler.enabled) {
    scheduler = new Scheduler({
      clock: systemClock, settings: settingsFromConfig(config),
      nodes: nodesFromConfig({ ...config, nodes: nodeConfigs }, backends),
      preload: clusterPreloader(config, backends, options),
      sharedSlots: options.slots !== undefined,
    });
    if (options.slots) {
      slotBudget = new SharedSlotBudget({
        scheduler, store: options.slots, replicaId: options.replicaId ?? 'replica', ttlMs: config.cluster.slot_lease_ttl_ms,
        pollMs: config.cluster.slot_poll_ms, newcomerReserve: config.scheduler.newcomer_reserve,
        onError: (error) => logError('shared slot budget: Redis failed; waiting requests ask again', { error: (error as Error).message }),
      });
    }
    monitor = new NodeMonitor({
      scheduler, backends, probeIntervalMs: config.scheduler.probe_interval_ms,
      onProbeError: (node, error) => logError('node probe failed', { node, error: (error as Error).message }),
    });
  }
  const registry = buildRegistry(config, store, backends, nodeConfigs, { logError, monitor, cluster: options.cluster });
  const dispatcher = options.dispatcher ?? (scheduler ? new SchedulerDispatcher(scheduler, backends, slotBudget, config.cluster.queue_notice_delay_ms) : new DirectDispatcher());
  const metrics = new GatewayMetrics({
    inFlight: () => dispatcher.inFlight(), scheduler: scheduler && (() => scheduler.snapshot()), defaultMetrics: options.processMetrics ?? false,
  });
  // Identity first: its access control is the inference service's admission port. Flushing usage (before an
  // erasure) first releases what the energy meter holds, or those records would be written after the erasure.
  const late: { meter?: EnergyMeter } = {};
  const flushUsage = async () => {
    late.meter?.releaseHeld();
    await options.flushUsage?.();
  };
  const identityServices = buildIdentityServices(config, store, {
    ...options, flushUsage, warn: options.warn ?? ((message, details) => logError(message, details ?? {})),
  });
  const imageRules = { maxImageBytes: config.chat.max_image_bytes, maxImagesPerRequest: config.chat.max_images_per_request, visionModels: config.chat.vision_models };
  const energy = buildEnergyServices(config, store, identityServices.identity, {
    nodes: nodeConfigs, usage: options.usage, clock: options.clock, warn: (message, details) => logError(message, details ?? {}),
    // Node totals (`node_energy`, idle) are written once, by the `telemetry` leader; alone, always (a stalled
    // event loop must not cost node rows).
    isLeader: options.cluster ? () => options.cluster!.isLeader('telemetry') : undefined,
    // Only where this replica takes its slots from the shared budget do the others' slots say what runs elsewhere.
    otherReplicas: options.slots && slotBudget ? { slots: options.slots, ownSlotIdPrefix: slotBudget.slotIdPrefix } : undefined,
  });
  late.meter = energy.meter;
  if (options.cluster) registerClusterSeries(metrics, options.cluster, { registry, slots: options.slots, slotBudget });
  registerEnergyMetrics(metrics.registry, { gpus: () => energy.scraper?.snapshot() ?? [], energyByModel: () => energy.meter?.energyByModel() ?? new Map() });
  // Names no node serves, planned into requests for real models: one provider per prefix.
  const courses = buildCourseServices(config, store, { audit: identityServices.identity.audit, clock: options.clock, logError });
  const templates = buildTemplateService(store, identityServices.identity, options.clock);
  const virtualModelProviders: VirtualModelProvider[] = [courses.bot, new TemplateModels(templates)];
  const inference = new InferenceService({
    registry, dispatcher, admission: identityServices.identity.access, usage: energy.meter ?? options.usage, observer: metrics,
    retryBeforeFirstByte: config.upstream.retry_before_first_byte, energy: energy.meter,
    virtualModels: new VirtualModels(virtualModelProviders),
    images: imageRules,
  });
  const readiness = new ReadinessService({
    registry, store, scheduler, redis: options.counters instanceof RedisCounterStore ? options.counters : undefined,
  });
  return {
    ...identityServices, registry, inference, metrics, dispatcher, readiness, scheduler, monitor, slotBudget,
    nodeAdmin: scheduler && new NodeAdminService(scheduler),
    modelManager: buildModelManager(config, registry.backends),
    catalogFile: new CatalogFileService(config.catalog.results_dir),
    energy,
    templates,
    answers: new ChatAnswerService(identityServices.chats, inference, {
      timeoutMs: config.chat.answer_timeout_ms, images: imageRules, onError: (message, details) => logError(message, details),
    }),
    imageUrls: new ImageUrlFetcher({
      enabled: config.chat.fetch_image_urls, policy: { ...pullPolicyOf(config), allowHosts: ['*'] }, maxImageBytes: config.chat.max_image_bytes, timeoutMs: 30_000,
    }),
    lti: buildLtiService(config, store, identityServices.identity, { clock: options.clock }),
    courses,
  };
}

/** Telemetry of the nodes that have it, the meter between the inference path and the usage recorder, the report. */
export interface EnergyServices {
  /** Absent when no node has `telemetry`. */
  meter?: EnergyMeter;
  scraper?: TelemetryScraper;
  writer?: EnergyWriter;
  report: EnergyReportService;
  pricing: EnergyPricing;
  /** Starts scraping (the gateway, after it listens). */
  start(): void;
  /** Stops scraping, hands held usage entries on and writes the node energy left. */
  close(): Promise<void>;
}

export function pricingOf(config: Config): EnergyPricing {
  const e = config.energy;
  return {
    pricePerKwh: e.price_per_kwh, currency: e.currency, co2GramsPerKwh: e.co2_g_per_kwh, timezone: e.timezone,
    tariffs: e.tariffs.map((t) => ({ from: t.from, to: t.to, pricePerKwh: t.price_per_kwh })),
  };
}

/** The energy report alone (`flexi energy report`, the admin API). */
export function buildEnergyReport(config: Config, store: Store, identity: Pick<Identity, 'pseudonym' | 'keys'>): EnergyReportService {
  return new EnergyReportService({
    nodeHours: (since, until) => store.energy.nodeHours(since, until),
    requestHours: (since, until) => store.energy.requestHours(since, until),
    listUsers: () => store.users.listAll(),
    listKeys: () => identity.keys.list(),
    membershipsByUser: () => store.groups.membershipsByUser(),
    pseudonym: identity.pseudonym,
    sumForSubject: (subject, since) => store.energy.sumForSubject(subject, since),
  }, { pricing: pricingOf(config), idle: config.energy.idle });
}

export function buildEnergyServices(
  config: Config, store: Store, identity: Pick<Identity, 'pseudonym' | 'keys'>,
  options: {
    nodes: readonly NodeConfig[]; usage?: UsageSink; clock?: Clock; warn?: (message: string, details?: Record<string, unknown>) => void;
    /** Several replicas: whether this one writes the nodes' totals (`node_energy`, idle); absent: always. */
    isLeader?: () => boolean;
    /** Several replicas sharing the nodes' slots: where the meter learns what the others run. Absent: no Redis call is added. */
    otherReplicas?: Pick<OtherReplicasLoadOptions, 'slots' | 'ownSlotIdPrefix'>;
  },
): EnergyServices {
  const report = buildEnergyReport(config, store, identity);
  const pricing = pricingOf(config);
  const sources = options.nodes.flatMap((n) => (n.telemetry ? [{ node: n.name, url: n.telemetry.url, dcgmUrl: n.telemetry.dcgm_url }] : []));
  if (sources.length === 0) return { report, pricing, start: () => {}, close: async () => {} };
  const writer = new EnergyWriter(store.energy, { flushIntervalMs: 60_000, warn: options.warn });
  const usage = options.usage ?? { record: () => {} };
  const meter = new EnergyMeter({
    usage, intervals: writer, nodes: sources.map((s) => s.node), clock: options.clock,
    maxHoldMs: config.energy.max_hold_ms, prefillTokenWeight: config.energy.prefill_token_weight, reportsNodeTotals: options.isLeader,
  });
  const clock = options.clock ?? systemClock;
  const beforeRound = options.otherReplicas && otherReplicasLoad({ ...options.otherReplicas, meter, nowMs: () => clock.now(), warn: options.warn });
  const scraper = new TelemetryScraper({
    sources, intervalMs: config.energy.scrape_interval_ms, sink: meter, beforeRound, afterRound: () => meter.tick(), clock: options.clock,
  });
  return {
    meter, scraper, writer, report, pricing,
    start: () => scraper.start(),
    close: async () => {
      await scraper.stop();
      meter.close();
      await writer.close();
    },
  };
}

/** Prompt templates over the store (the server's and `flexi templates`). */
export function buildTemplateService(store: Store, identity: Identity, clock?: Clock): TemplateService {
  return new TemplateService({
    templates: store.templates, groups: store.groups, audit: identity.audit, clock,
    isModelAllowed: (principal, model) => identity.access.isModelVisible(principal, model),
  });
}

/** The scheduler's preload hook: straight to the node, or with several replicas through a claim per node and model. */
function clusterPreloader(config: Config, backends: readonly Backend[], options: ServiceOptions): (node: string, model: string) => Promise<void | 'skipped'> {
  const timeoutMs = config.upstream.first_byte_timeout_ms;
  const preload = backendPreloader(backends, timeoutMs);
  if (!options.cluster) return preload;
  return claimedPreloader(preload, { lock: options.cluster.lock, owner: options.replicaId ?? 'replica', ttlMs: timeoutMs });
}

/** `flexi_cluster_*`: the jobs this replica leads and, with shared slots, the slots held per node and model. */
function registerClusterSeries(
  metrics: GatewayMetrics, cluster: ClusterCoordination, sources: { registry: ModelRegistry; slots?: SlotStore; slotBudget?: SharedSlotBudget },
): void {
  const { registry, slots, slotBudget } = sources;
  registerClusterMetrics(metrics.registry, {
    leaders: () => LEADER_JOBS.map((job) => [job, cluster.isLeader(job)] as const),
    // Every model the registry knows: slots exist only for served models.
    slotsHeld: slots && (async () => {
      const now = Date.now();
      const perModel = await Promise.all(registry.list().map(async ({ name }) => ({ model: name, byNode: await slots.heldPerNode(name, now) })));
      return perModel.flatMap(({ model, byNode }) => Object.entries(byNode).map(([node, count]) => ({ node, model, slots: count })));
    }),
    slotsLocal: slotBudget && (() => slotBudget.heldPerNodeModel()),
  });
}

function buildRegistry(
  config: Config, store: Store, backends: readonly Backend[], nodeConfigs: readonly NodeConfig[],
  hooks: { logError: NonNullable<ServiceOptions['logError']>; monitor?: NodeMonitor; cluster?: ClusterCoordination },
): ModelRegistry {
  const nodeModels = new Map<string, readonly string[]>();
  for (const node of nodeConfigs) if (node.models) nodeModels.set(node.name, node.models);
  const { logError, monitor, cluster } = hooks;
  return new ModelRegistry({
    backends: [...backends],
    aliases: config.models.aliases,
    nodeModels,
    memory: new NodeModelMemory({
      store: store.nodeModels, nodes: backends.map((b) => b.name), declared: nodeModels,
      onError: (error) => logError('remembering the models of nodes failed', { error: (error as Error).message }),
      // Every replica lists the nodes itself (see ModelRegistry); one writes what they serve.
      isWriter: cluster && (() => cluster.isLeader('discovery')),
    }),
    nodeUrls: new Map(nodeConfigs.flatMap((n) => (n.url ? [[n.name, n.url] as const] : []))),
    retryAfterSeconds: Math.ceil(Math.min(config.models.refresh_interval_ms, config.scheduler.probe_interval_ms) / 1000) || 1,
    onNodeError: (node, error) => logError('listing models failed', { node, error: (error as Error).message }),
    onNodeListed: (node, models) => monitor?.onNodeListed(node, models),
  });
}
