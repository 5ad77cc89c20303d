import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { randomId } from '../../src/lib/ids.js';
import { RedisSlotStore } from '../../src/store/redis-slot-store.js';
import { builtCli, runBuiltCli } from './built-cli.js';
import { RoundRobinProxy } from './round-robin-proxy.js';

/**
 * Several `flexi serve` processes (from dist/) on one PostgreSQL schema and one Redis key prefix,
 * behind a round-robin proxy, over in-process `flexi sim` nodes: the HA test's and bench:ha's
 * cluster. Each cluster has its own schema and prefix, so runs never share state.
 */

export interface ClusterOptions {
  replicas: number;
  /** The nodes' limit per model in Flexi (`nodes[].slots`); the sims run as many at once and queue the rest. */
  slots: number;
  /** Simulated inference nodes (default 1). */
  nodes?: number;
  /** Sim speed factor (default 1: the TINY profile's tiny model answers in ~150 ms). */
  speed?: number;
  redisUrl: string;
  slotLeaseTtlMs?: number;
  /** `cluster.queue_notice_delay_ms` (default 0). */
  queueNoticeDelayMs?: number;
  /** Drop the PostgreSQL schema on stop (benchmarks; test runs drop theirs in global-setup.ts). */
  dropSchemaOnStop?: boolean;
}

export interface Replica {
  /** `cluster.replica_id` (FLEXI_CLUSTER_REPLICA_ID): its slot leases in Redis start with it. */
  id: string;
  child: ChildProcess;
  url: string;
  stderr: string;
  exited: Promise<number | null>;
}

export class FlexiCluster {
  readonly proxy = new RoundRobinProxy();
  readonly replicas: Replica[] = [];
  readonly sims: SimServer[] = [];
  keys: Record<string, string> = {};
  private dir = '';
  private databaseUrl = '';
  private schema = '';
  private adminUrl = '';
  private started = 0;
  readonly keyPrefix = `flexi-test:${randomId(8)}:`;

  constructor(private readonly options: ClusterOptions) {}

  async start(users: readonly string[]): Promise<void> {
    builtCli();
    this.dir = mkdtempSync(join(tmpdir(), 'flexi-ha-'));
    await this.createSchema();
    for (let i = 0; i < (this.options.nodes ?? 1); i++) {
      this.sims.push(await startSimServer({ port: 0, profile: TINY, speed: this.options.speed ?? 1, seed: i + 1, parallel: this.options.slots }));
    }
    writeFileSync(join(this.dir, 'flexi.yaml'), this.configYaml());
    for (const user of users) {
      const created = await runBuiltCli(['keys', 'create', '--name', user, '--role', 'admin', '--json'], { cwd: this.dir });
      if (created.code !== 0) throw new Error(`keys create failed: ${created.stderr}`);
      this.keys[user] = (JSON.parse(created.stdout) as { key: string }).key;
    }
    await this.proxy.start();
    // One after another: the first migrates the schema.
    for (let i = 0; i < this.options.replicas; i++) await this.startReplica();
  }

  /**
   * A PostgreSQL schema of its own, named like test/helpers/db.ts names them (that module imports
   * Vitest, which a benchmark cannot), so a test run's global teardown drops it.
   */
  private async createSchema(): Promise<void> {
    const adminUrl = process.env.FLEXI_TEST_POSTGRES_URL;
    if (!adminUrl) throw new Error('FLEXI_TEST_POSTGRES_URL is not set');
    this.adminUrl = adminUrl;
    this.schema = `flexi_test_${process.env.FLEXI_TEST_RUN ?? `p${process.pid}`}_${randomId(10).toLowerCase()}`;
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query(`CREATE SCHEMA "${this.schema}"`).finally(() => client.end());
    const url = new URL(adminUrl);
    url.searchParams.set('options', `-c search_path=${this.schema}`);
    this.databaseUrl = url.toString();
  }

  private configYaml(): string {
    const nodes = this.sims.map((s, i) => `  - { name: sim${i + 1}, type: sim, url: "${s.url}", slots: ${this.options.slots} }`).join('\n');
    return [
      'server: { host: 127.0.0.1, port: 0, shutdown_grace_ms: 60000 }',
      `database: { url: "${this.databaseUrl}" }`,
      `redis: { url: "${this.options.redisUrl}", key_prefix: "${this.keyPrefix}" }`,
      'auth: { cookie_secret: ha-test-cookie-secret-0123456789 }',
      'privacy: { pseudonym_secret: ha-test-pseudonym-secret-0123456789 }',
      'scheduler: { probe_interval_ms: 1000, max_in_flight_per_user: 64, newcomer_reserve: 0.25 }',
      `cluster: { slot_lease_ttl_ms: ${this.options.slotLeaseTtlMs ?? 2000}, slot_poll_ms: 20, usage_before_reply: true, shutdown_delay_ms: 1000${this.options.queueNoticeDelayMs ? `, queue_notice_delay_ms: ${this.options.queueNoticeDelayMs}` : ''} }`,
      'usage: { flush_interval_ms: 200 }',
      'log: { level: warn, format: json }',
      `nodes:\n${nodes}`,
      '',
    ].join('\n');
  }

  /**
   * Starts one more replica and adds it to the proxy once it listens. Tried three times: on a
   * PostgreSQL shared with other test runs, a migration's catalog read can race another run
   * dropping its schemas ("schema … does not exist"; see global-setup.ts).
   */
  async startReplica(): Promise<Replica> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.spawnReplica();
      } catch (error) {
        if (attempt >= 3 || !/does not exist/.test((error as Error).message)) throw error;
      }
    }
  }

  private async spawnReplica(): Promise<Replica> {
    const id = `r${++this.started}`;
    const env: NodeJS.ProcessEnv = { ...process.env, FLEXI_CLUSTER_REPLICA_ID: id };
    delete env.FLEXI_CONFIG;
    const child = spawn(process.execPath, [builtCli(), 'serve'], { cwd: this.dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
    const replica: Replica = { id, child, url: '', stderr: '', exited };
    replica.url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        replica.stderr += chunk.toString();
        const match = /Flexi is serving at (http:\/\/\S+)/.exec(replica.stderr);
        if (match) resolve(match[1]!);
      });
      void exited.then((code) => reject(new Error(`flexi serve exited with ${code}:\n${replica.stderr}`)));
    });
    this.replicas.push(replica);
    this.proxy.addTarget(replica.url);
    return replica;
  }

  /** SIGKILL: the replica dies at once; the proxy still sends to it (and retries elsewhere) until told. */
  async kill(replica: Replica): Promise<void> {
    replica.child.kill('SIGKILL');
    await replica.exited;
    this.proxy.removeTarget(replica.url);
  }

  /** SIGTERM as in a rolling update: taken out of the proxy first (the endpoint is removed), then stopped gracefully. */
  async terminate(replica: Replica): Promise<number | null> {
    this.proxy.removeTarget(replica.url);
    replica.child.kill('SIGTERM');
    return replica.exited;
  }

  /** The most requests each sim node held at once for the model since it started. */
  peakPerNode(model = 'tiny:latest'): number[] {
    return this.sims.map((sim) => sim.state.info().models.find((m) => m.name === model)?.peak_requests ?? 0);
  }

  /** Live shared slots per node in Redis. */
  async heldSlots(model = 'tiny:latest'): Promise<Record<string, number>> {
    const store = new RedisSlotStore(this.options.redisUrl, { keyPrefix: this.keyPrefix });
    try {
      return await store.heldPerNode(model, Date.now());
    } finally {
      await store.close();
    }
  }

  /** Live slot leases a replica holds in Redis (its lease ids start with its replica id). */
  async heldSlotsOf(replica: Replica, model = 'tiny:latest'): Promise<number> {
    const redis = new Redis(this.options.redisUrl, { keyPrefix: this.keyPrefix });
    try {
      const entries = await redis.hgetall(`slots:${model}`);
      const now = Date.now();
      return Object.entries(entries).filter(([id, value]) => id.startsWith(`${replica.id}.`) && Number(value.split('\t')[2]) > now).length;
    } finally {
      redis.disconnect();
    }
  }

  /** Usage records in the database, by request id. */
  async usageRequestIds(): Promise<Set<string>> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      const result = await client.query<{ request_id: string }>(`SELECT request_id FROM "${this.schema}".usage_records WHERE status = 200`);
      return new Set(result.rows.map((r) => r.request_id));
    } finally {
      await client.end();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.replicas.map(async (r) => {
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
      await r.exited;
    }));
    await this.proxy.close();
    await Promise.all(this.sims.map((s) => s.close()));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    if (this.options.dropSchemaOnStop && this.schema) {
      const client = new pg.Client({ connectionString: this.adminUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`).finally(() => client.end());
    }
  }
}

export interface AskResult {
  ok: boolean;
  status: number;
  requestId: string | undefined;
  /** Client-side time to the first streamed byte of content, ms. */
  ttftMs: number | undefined;
  queueMs: number | undefined;
  error?: string;
}

/** One chat request through the proxy (OpenAI protocol), streamed or not. */
export async function ask(baseUrl: string, key: string, options: { stream?: boolean; maxTokens?: number } = {}): Promise<AskResult> {
  const started = performance.now();
  // Outside the try: a stream cut after its first token failed *after it started*, and says so.
  let ttftMs: number | undefined;
  let status = 0;
  let requestId: string | undefined;
  let text = '';
  try {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], stream: options.stream ?? false, max_tokens: options.maxTokens ?? 16 }),
    });
    status = response.status;
    requestId = response.headers.get('x-request-id') ?? undefined;
    const queue = response.headers.get('x-flexi-queue-ms');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (ttftMs === undefined && (options.stream ? text.includes('"content"') : true)) ttftMs = performance.now() - started;
    }
    const complete = options.stream ? text.includes('data: [DONE]') : response.ok && text.includes('"choices"');
    return { ok: response.ok && complete, status, requestId, ttftMs, queueMs: queue === null ? undefined : Number(queue), error: complete ? undefined : text.slice(0, 200) };
  } catch (error) {
    const received = text.length > 0 ? ` after ${text.length} bytes: ${text.slice(0, 120)}` : status > 0 ? ' after the headers' : '';
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    const why = cause ? ` (${cause.code ?? cause.message})` : '';
    return { ok: false, status, requestId, ttftMs, queueMs: undefined, error: `${(error as Error).message}${why}${received}` };
  }
}
