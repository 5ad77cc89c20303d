import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { createApp, type App } from './app.js';
import type { Backend } from './backends/backend.js';
import { createBackend, type EmbeddedBackendFactory } from './backends/factory.js';
import type { Config, NodeConfig } from './config/schema.js';
import { withDeploymentSecrets } from './config/secrets.js';
import type { UsageEntry } from './core/usage.js';
import { identityWarnings } from './services/identity.js';
import { RetentionJob } from './services/privacy/retention-job.js';
import { UsageRecorder } from './services/usage-recorder.js';
import { openDatabase, type Store } from './store/store.js';
import { createCounterStore } from './store/redis-counter-store.js';
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

export async function startRuntime(configured: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger(configured.log);
  const { config, generatedPath } = withDeploymentSecrets(configured);
  if (generatedPath) logger.info({ path: generatedPath }, 'using per-deployment secrets kept beside the database');
  const store = await openDatabase(config.database.url);
  const applied = await store.migrate();
  if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
  const warn = (message: string, details?: Record<string, unknown>) => logger.warn(details ?? {}, message);
  for (const warning of identityWarnings(config)) logger.warn(warning);
  const counters = await createCounterStore(config.redis.url);
  const recorder = new UsageRecorder(store.usage, {
    flushIntervalMs: config.usage.flush_interval_ms, batchSize: config.usage.batch_size, warn,
  });
  const usage = {
    record: (entry: UsageEntry) => recorder.record({ ...entry, createdAt: entry.createdAt.toISOString() }),
  };
  const nodes = await resolveNodes(config, options);
  const backends: Backend[] = nodes.map((node) => createBackend(node, config, { createEmbedded: options.createEmbedded }));
  const app = await createApp({
    config, backends, nodes, store, counters, usage, flushUsage: () => recorder.flush(), webRoot: webRoot(), processMetrics: true,
    logError: (message, fields) => logger.error(fields, message),
  });
  const retention = app.privacy && new RetentionJob({
    purge: () => app.privacy!.purge(),
    intervalMs: config.privacy.purge_interval_ms,
    onResult: (result) => {
      const rows = Object.fromEntries(result.classes.filter((c) => c.rows > 0).map((c) => [c.class, c.rows]));
      if (Object.keys(rows).length > 0 || result.unlinkedUsageSubjects > 0) logger.info({ rows, unlinkedUsageSubjects: result.unlinkedUsageSubjects }, 'retention: deleted data past its period');
    },
    onError: (error) => logger.error({ error: (error as Error).message }, 'retention purge failed'),
  });
  retention?.start();
  const address = await app.server.listen({ host: config.server.host, port: config.server.port });
  let stopping: Promise<void> | undefined;
  return {
    app, store, nodes, logger,
    url: address.replace('[::1]', 'localhost'),
    stop() {
      stopping ??= (async () => {
        await retention?.stop();
        await app.close({ graceMs: config.server.shutdown_grace_ms });
        await recorder.close();
        await counters.close();
        await store.close();
      })();
      return stopping;
    },
  };
}
