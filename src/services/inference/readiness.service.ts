import type { ReadinessNode, ReadinessReply } from '../../api/system.js';
import type { Backend } from '../../backends/backend.js';
import type { SchedulerSnapshot } from '../../scheduler/scheduler-types.js';
import type { CounterStore } from '../../store/counter-store.js';
import type { Store } from '../../store/store.js';
import type { ModelRegistry } from './model-registry.service.js';

export interface ReadinessOptions {
  registry: ModelRegistry;
  /** The database; absent in builds without one. */
  store?: Pick<Store, 'ping'>;
  /** The shared counters when they live in Redis; absent when they are in process. */
  redis?: Pick<CounterStore, 'ping'>;
  /** Node health as the scheduler sees it; absent when the scheduler is off. */
  scheduler?: { snapshot(): SchedulerSnapshot };
  /** A check that takes longer counts as failed (a dead peer may never answer). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2000;

/**
 * Answers `/readyz`. A replica is ready when what it alone depends on answers: its database and
 * Redis. Nodes are reported one by one but do not decide readiness: every replica shares the same
 * nodes, so taking replicas out of a Kubernetes Service when the nodes are down helps nobody; it
 * would only replace Flexi's 503 `backend_unavailable` (with Retry-After) and the web UI (login,
 * chat history) with the ingress's connection errors. Alert on `nodes_ready` instead.
 */
export class ReadinessService {
  private readonly timeoutMs: number;

  constructor(private readonly options: ReadinessOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async check(): Promise<ReadinessReply> {
    const [database, redis] = await Promise.all([this.probe(this.options.store), this.probe(this.options.redis)]);
    const down: string[] = [];
    if (database !== undefined && database !== 'ok') down.push('database');
    if (redis !== undefined && redis !== 'ok') down.push('redis');
    const nodes = this.nodes();
    return {
      status: down.length === 0 ? 'ready' : 'not_ready',
      down,
      ...(database !== undefined && { database }),
      ...(redis !== undefined && { redis }),
      models: this.options.registry.list().length,
      nodes_ready: nodes.filter((node) => node.state === 'ready').length,
      nodes,
    };
  }

  /** `ok`, the failure's message, or undefined when there is nothing to check. */
  private async probe(target: { ping(): Promise<void> } | undefined): Promise<string | undefined> {
    if (!target) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([target.ping(), timeout]);
      return 'ok';
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      // store_unavailable wraps the client's error: its message says what is wrong (ECONNREFUSED…).
      return cause instanceof Error ? cause.message : (error as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }

  private nodes(): ReadinessNode[] {
    const served = new Map<string, string[]>();
    for (const entry of this.options.registry.list()) {
      for (const backend of entry.nodes) served.set(backend.name, [...(served.get(backend.name) ?? []), entry.name]);
    }
    const health = new Map((this.options.scheduler?.snapshot().nodes ?? []).map((node) => [node.name, node]));
    return this.options.registry.backends.map((backend: Backend) => {
      const error = this.options.registry.nodeError(backend.name) ?? null;
      const node = health.get(backend.name);
      let state: ReadinessNode['state'] = 'ready';
      if (error !== null || node?.healthy === false) state = 'down';
      else if (node?.breaker === 'open') state = 'failing';
      else if (node?.draining) state = 'draining';
      return { name: backend.name, type: backend.type, state, models: served.get(backend.name) ?? [], error };
    });
  }
}
