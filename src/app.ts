import type { FastifyInstance } from 'fastify';
import type { Backend } from './backends/backend.js';
import type { Config, NodeConfig } from './config/schema.js';
import type { Clock } from './lib/clock.js';
import type { Scheduler } from './scheduler/scheduler.js';
import type { UsageSink } from './core/usage.js';
import { createHttpServer } from './http/server.js';
import type { AgreementService } from './services/identity/agreement.service.js';
import { buildServices } from './services/build-services.js';
import type { ChatAnswerService } from './services/chat-answer.service.js';
import type { ChatService } from './services/chat.service.js';
import type { EnergyServices } from './services/build-services.js';
import type { CourseServices } from './services/build-services.js';
import type { Dispatcher } from './services/inference/dispatcher.js';
import type { Identity } from './services/identity/identity.js';
import type { InferenceService } from './services/inference/inference.service.js';
import { RosterSyncJob, type LtiService } from './services/lti/lti.service.js';
import type { ModelRegistry } from './services/inference/model-registry.service.js';
import type { PrivacyService } from './services/privacy/privacy.service.js';
import type { CounterStore } from './store/counter-store.js';
import type { SlotStore } from './store/slot-store.js';
import type { Store } from './store/store.js';
import type { GatewayMetrics } from './telemetry/metrics.js';

export interface AppDeps {
  config: Config;
  backends: Backend[];
  /** The node configs behind `backends` (default `config.nodes`); slots and model restrictions come from here. */
  nodes?: readonly NodeConfig[];
  /** The database: users, sessions, keys, groups, audit, chats (tests: an in-memory SQLite store). */
  store: Store;
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
  /** Shared slot budget of several replicas (Redis); absent: this process counts alone. */
  slots?: SlotStore;
  replicaId?: string;
  /** Time of the rules that depend on it (tests move it by hand). */
  clock?: Clock;
  /** Several replicas: whether this one leads the LTI roster sync (`LeaderElection`); absent: always. */
  isRosterSyncLeader?: () => boolean;
  /** Several replicas: whether this one leads the `telemetry` job and writes the nodes' energy totals; absent: always. */
  isTelemetryLeader?: () => boolean;
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
  /** Export, erasure and retention. */
  privacy: PrivacyService;
  /** Web chats and the user agreement. */
  chats: ChatService;
  agreement: AgreementService;
  /** GPU telemetry, energy attribution and the energy report. */
  energy: EnergyServices;
  /** Web-UI answers the server writes (they survive a closed tab). */
  answers: ChatAnswerService;
  /** The LTI 1.3 tool (platforms, keys, rosters). */
  lti: LtiService;
  /** Course bots: collections, the retrieval index, the ingestion worker (started here). */
  courses: CourseServices;
  /**
   * Stops accepting requests, waits up to `graceMs` for in-flight requests to finish, then cuts
   * the remaining connections and closes the backends (not the store: the caller owns it).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Requests running on nodes, plus those still waiting in the scheduler's queue: a graceful stop waits for both. */
function totalInFlight(dispatcher: Dispatcher, scheduler: Scheduler | undefined): number {
  let total = 0;
  for (const count of dispatcher.inFlight().values()) total += count;
  for (const model of scheduler?.waitingModels() ?? []) total += scheduler!.waitingFor(model);
  return total;
}

/** Builds the whole gateway without listening (tests call `app.server.inject` or `listen`). */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  const logError = deps.logError ?? (() => undefined);
  const services = buildServices(config, deps.store, deps.backends, {
    nodes: deps.nodes, counters: deps.counters, usage: deps.usage, flushUsage: deps.flushUsage, dispatcher: deps.dispatcher,
    processMetrics: deps.processMetrics, logError, slots: deps.slots, replicaId: deps.replicaId, clock: deps.clock,
    isTelemetryLeader: deps.isTelemetryLeader,
  });
  const { registry, inference, metrics, dispatcher, scheduler, monitor, identity, privacy, chats, agreement, slotBudget, energy, courses } = services;
  // Serve only once revocations made by other replicas are heard.
  await identity.keys.listening;
  const server = await createHttpServer({
    bodyLimitBytes: config.server.body_limit_bytes,
    trustProxy: config.server.trust_proxy,
    clientLimits: {
      headersTimeoutMs: config.server.headers_timeout_ms, requestTimeoutMs: config.server.request_timeout_ms,
      unauthenticatedPerAddress: config.server.unauthenticated_requests_per_address,
    },
    hstsMaxAgeS: config.server.hsts ? config.server.hsts_max_age_s : undefined,
    services,
    cookies: { secret: config.auth.cookie_secret, secure: config.auth.cookie_secure, sessionTtlMs: config.auth.session_ttl_ms },
    metricsAccess: { bearerToken: config.metrics.bearer_token, allowFrom: config.metrics.allow_from },
    ui: { modelDescriptions: config.models.descriptions, sso: config.auth.oidc !== undefined },
    webRoot: deps.webRoot,
    logError,
  });
  await registry.refresh();
  if (monitor) {
    await monitor.probeAll();
    monitor.start();
  }
  // Documents left queued or half-ingested by a previous run are picked up now.
  courses.ingestion.start();
  const refreshTimer = setInterval(() => void registry.refresh(), config.models.refresh_interval_ms);
  refreshTimer.unref();
  energy.start();
  const rosterSync = new RosterSyncJob(services.lti, config.lti.roster_sync_interval_ms, (error, where) =>
    logError('LTI roster sync failed', { ...where, error: error.message }), deps.isRosterSyncLeader);
  rosterSync.start();
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
    energy,
    answers: services.answers,
    lti: services.lti,
    courses,
    async close(options = {}) {
      clearInterval(refreshTimer);
      await rosterSync.stop();
      await courses.ingestion.stop();
      monitor?.stop();
      const closing = server.close();
      // The listener is closed once every connection has ended: that also covers requests not yet
      // in the scheduler (authentication, admission), which totalInFlight cannot see.
      let connectionsEnded = false;
      void closing.then(() => { connectionsEnded = true; }, () => { connectionsEnded = true; });
      const deadline = performance.now() + (options.graceMs ?? 0);
      while (performance.now() < deadline && (!connectionsEnded || totalInFlight(dispatcher, scheduler) > 0)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      server.server.closeAllConnections();
      await closing;
      // After the last request: the meter hands its held usage entries to the recorder, which the caller closes next.
      await energy.close();
      scheduler?.close();
      // Requests have ended or were cut: the slots this replica still holds go back to the other replicas now, not after their TTL.
      await slotBudget?.close();
      await Promise.all(deps.backends.map((backend) => backend.close().catch(() => undefined)));
      await identity.close();
    },
  };
}
