import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { createApp, type App } from './app.js';
import type { Backend } from './backends/backend.js';
import { createBackend, type EmbeddedBackendFactory } from './backends/factory.js';
import type { Config, NodeConfig } from './config/schema.js';
import { withDeploymentSecrets } from './config/secrets.js';
import type { UsageEntry } from './core/usage.js';
import { identityWarnings } from './services/identity/identity.js';
import { RetentionJob } from './services/privacy/retention-job.js';
import { UsageRecorder } from './services/inference/usage-recorder.js';
import { openDatabase, type Store } from './store/store.js';
import { createCounterStore } from './store/redis-counter-store.js';
import { dialectOfUrl } from './store/database.js';
import { LocalLeaderLock, RedisLeaderLock, type LeaderLock } from './store/leader-lock.js';
import { PostgresLeaderLock } from './store/postgres-leader-lock.js';
import { RedisSlotStore } from './store/redis-slot-store.js';
import type { SlotStore } from './store/slot-store.js';
import { LEADER_JOBS, LeaderElection, type LeaderJob } from './services/leader-election.js';
import { prettyDestination } from './lib/pretty-log.js';

/** The running process: store, nodes, gateway; `stop()` shuts it down gracefully. */
export interface Runtime {
  app: App;
  store: Store;
  nodes: NodeConfig[];
  url: string;
  logger: Logger;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  logger?: Logger;
  /** In-process engine factory (`type: embedded`). */
  createEmbedded?: EmbeddedBackendFactory;
  /** Probe for a local Ollama when no nodes are configured (default true). */
  probeLocalOllama?: boolean;
}

const LOCAL_OLLAMA = 'http://127.0.0.1:11434';

/** A start-up failure the operator can fix: the message names the cause and the fix in one line. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/** Why the listener could not open, as the operator can act on it. */
function listenError(error: unknown, server: Config['server']): Error {
  const where = `${server.host}:${server.port}`;
  const flags = 'with --port/--host, server.port/server.host or FLEXI_SERVER_PORT/FLEXI_SERVER_HOST';
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return new StartupError(`${where} is already in use (another Flexi or another program listens there): stop it, or choose another port ${flags}.`, { cause: error });
    case 'EACCES':
      return new StartupError(`not allowed to listen on ${where} (ports below 1024 need privileges): choose a port of 1024 or more ${flags}.`, { cause: error });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(`cannot listen on ${where}: "${server.host}" is not an address of this machine; choose one (0.0.0.0 for all) ${flags}.`, { cause: error });
    default:
      return error as Error;
  }
}

async function openStore(url: string): Promise<{ store: Store; applied: string[] }> {
  let store: Store | undefined;
  try {
    store = await openDatabase(url);
    return { store, applied: await store.migrate() };
  } catch (error) {
    await store?.close().catch(() => undefined);
    throw new StartupError(`cannot open the database (database.url, FLEXI_DATABASE_URL): ${(error as Error).message}; check that it runs and the URL is right.`, { cause: error });
  }
}

async function answersAsOllama(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/api/version`, { signal: AbortSignal.timeout(500) });
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * The nodes to serve: the configured ones, or with none configured the embedded engine over
 * ./models (when available) plus a local Ollama if one answers.
 */
export async function resolveNodes(config: Config, options: RuntimeOptions): Promise<NodeConfig[]> {
  if (config.nodes && config.nodes.length > 0) return [...config.nodes];
  const nodes: NodeConfig[] = [];
  if (options.createEmbedded) nodes.push({ name: 'local', type: 'embedded', models_dir: './models' });
  if (options.probeLocalOllama !== false && (await answersAsOllama(LOCAL_OLLAMA))) {
    nodes.push({ name: 'ollama-local', type: 'ollama', url: LOCAL_OLLAMA });
  }
  return nodes;
}

function webRoot(): string | undefined {
  const candidate = fileURLToPath(new URL('../web/dist/', import.meta.url));
  return existsSync(candidate) ? candidate : undefined;
}

/** pino, writing JSON lines or, for a person at a terminal, readable ones (`log.format`). */
function createLogger(log: Config['log']): pino.Logger {
  const tty = process.stdout.isTTY === true;
  const pretty = log.format === 'pretty' || (log.format === 'auto' && tty);
  if (!pretty) return pino({ level: log.level });
  return pino({ level: log.level }, prettyDestination(process.stdout, tty));
}

/**
 * What replicas share besides the database: the nodes' slots (Redis) and the job leaders' locks —
 * in Redis when `redis.url` is set, else in PostgreSQL when the database is one (advisory locks),
 * else in this process (`shared` false: one replica, which leads every job).
 */
function openCluster(config: Config): { replicaId: string; slots: SlotStore | undefined; lock: LeaderLock; shared: boolean } {
  const replicaId = config.cluster.replica_id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const url = config.redis.url;
  if (!url) {
    if (dialectOfUrl(config.database.url) !== 'postgres') return { replicaId, slots: undefined, lock: new LocalLeaderLock(), shared: false };
    return { replicaId, slots: undefined, lock: new PostgresLeaderLock(config.database.url, { applicationName: `flexi leader lock ${replicaId}` }), shared: true };
  }
  const keyPrefix = config.redis.key_prefix;
  return {
    replicaId,
    slots: config.cluster.shared_slots ? new RedisSlotStore(url, { keyPrefix }) : undefined,
    lock: new RedisLeaderLock(url, { keyPrefix }),
    shared: true,
  };
}

export async function startRuntime(configured: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger(configured.log);
  const { config, generatedPath } = withDeploymentSecrets(configured);
  if (generatedPath) logger.info({ path: generatedPath }, 'using per-deployment secrets kept beside the database');
  const { store, applied } = await openStore(config.database.url);
  if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
  const warn = (message: string, details?: Record<string, unknown>) => logger.warn(details ?? {}, message);
  for (const warning of identityWarnings(config)) logger.warn(warning);
  const counters = await createCounterStore(config.redis.url, config.redis.key_prefix);
  const cluster = openCluster(config);
  const recorder = new UsageRecorder(store.usage, {
    flushIntervalMs: config.usage.flush_interval_ms, batchSize: config.usage.batch_size, warn,
  });
  const usage = {
    record: (entry: UsageEntry) => recorder.record({ ...entry, createdAt: entry.createdAt.toISOString() }),
    settled: config.cluster.usage_before_reply ? () => recorder.flushed() : undefined,
  };
  const nodes = await resolveNodes(config, options);
  const backends: Backend[] = nodes.map((node) => createBackend(node, config, { createEmbedded: options.createEmbedded }));
  // One runner per background job across replicas: the replica leading it (always this one without Redis).
  const leaderOf = (job: string) => new LeaderElection({
    lock: cluster.lock, name: job, owner: cluster.replicaId, ttlMs: config.cluster.leader_lock_ttl_ms,
    // Alone, this process leads every job from the start: worth a line only where replicas share the lock.
    onChange: (leader, fencingToken) => logger[cluster.shared ? 'info' : 'debug']({ job, replica: cluster.replicaId, fencingToken }, leader ? 'leading the job' : 'no longer leading the job'),
    onError: (error) => logger.warn({ job, error: (error as Error).message }, 'leader lock unavailable'),
  });
  const leaders = new Map(LEADER_JOBS.map((job) => [job, leaderOf(job)] as const));
  const leaderElection = (job: LeaderJob) => leaders.get(job)!;
  await Promise.all([...leaders.values()].map((leader) => leader.start()));
  const app = await createApp({
    config, backends, nodes, store, counters, usage, flushUsage: () => recorder.flush(), webRoot: webRoot(), processMetrics: true,
    logError: (message, fields) => logger.error(fields, message), slots: cluster.slots, replicaId: cluster.replicaId,
    cluster: cluster.shared ? { lock: cluster.lock, isLeader: (job) => leaderElection(job).isLeader } : undefined,
  });
  const retention = new RetentionJob({
    purge: () => app.privacy.purge(),
    intervalMs: config.privacy.purge_interval_ms,
    isLeader: () => leaderElection('retention').isLeader,
    onResult: (result) => {
      const rows = Object.fromEntries(result.classes.filter((c) => c.rows > 0).map((c) => [c.class, c.rows]));
      if (Object.keys(rows).length > 0 || result.unlinkedUsageSubjects > 0) logger.info({ rows, unlinkedUsageSubjects: result.unlinkedUsageSubjects }, 'retention: deleted data past its period');
    },
    onError: (error) => logger.error({ error: (error as Error).message }, 'retention purge failed'),
  });
  retention.start();
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await retention.stop();
      // The telemetry leader goes last (below): the meter's last intervals are written while this replica still leads.
      await Promise.all([...leaders].filter(([job]) => job !== 'telemetry').map(([, leader]) => leader.stop()));
      // Requests already on their way here (the ingress has not yet heard of the shutdown) are still served.
      if (config.cluster.shutdown_delay_ms > 0) await new Promise((resolve) => setTimeout(resolve, config.cluster.shutdown_delay_ms));
      await app.close({ graceMs: config.server.shutdown_grace_ms });
      await leaderElection('telemetry').stop();
      await recorder.close();
      await counters.close();
      await cluster.slots?.close();
      await cluster.lock.close();
      await store.close();
    })();
    return stopping;
  };
  let address: string;
  try {
    address = await app.server.listen({ host: config.server.host, port: config.server.port });
  } catch (error) {
    // Close what is open (timers, pools), or the process would neither serve nor exit.
    await stop().catch(() => undefined);
    throw listenError(error, config.server);
  }
  return { app, store, nodes, logger, url: address.replace('[::1]', 'localhost'), stop };
}
