import type { Backend } from '../../backends/backend.js';
import { FlexiError } from '../../core/errors.js';
import type { Lease } from '../../scheduler/lease.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { AcquireArgs, Dispatcher, NodeLease } from './dispatcher.js';

/** How often a waiting request reports its queue position (UI, keep-alive comments). */
const POSITION_INTERVAL_MS = 1000;

/** A preloaded model stays as long as Ollama keeps a model after a request by default (5 min). */
const PRELOAD_KEEP_ALIVE_S = 300;

/**
 * The scheduler's node I/O for `preload_replicas`: load a model on a node without a request
 * (Ollama's empty generate; the embedded engine loads it). Gives up after `timeoutMs`.
 */
export function backendPreloader(backends: readonly Backend[], timeoutMs: number): (node: string, model: string) => Promise<void> {
  const byName = new Map(backends.map((b) => [b.name, b]));
  return async (node, model) => {
    const backend = byName.get(node);
    if (!backend) throw new FlexiError('backend_unavailable', `Node '${node}' is not available.`);
    await backend.setResidency(model, PRELOAD_KEEP_ALIVE_S, AbortSignal.timeout(timeoutMs));
  };
}

/**
 * The scheduler behind the gateway's Dispatcher seam: fair queueing per user inside priority
 * classes, deadlines, placement on resident/least-loaded nodes, circuit breakers and drain.
 */
export class SchedulerDispatcher implements Dispatcher {
  private readonly backends = new Map<string, Backend>();

  constructor(private readonly scheduler: Scheduler, backends: readonly Backend[]) {
    for (const backend of backends) this.backends.set(backend.name, backend);
  }

  async acquire(args: AcquireArgs): Promise<NodeLease> {
    const ticket = this.scheduler.enqueue({
      model: args.model.name,
      userId: args.requester.subject,
      priorityClass: args.requester.priorityClass,
      weight: args.requester.weight,
      maxInFlight: args.requester.maxConcurrent,
      signal: args.signal,
    });
    let timer: NodeJS.Timeout | undefined;
    if (args.onWaiting) {
      const report = () => {
        const position = ticket.position();
        if (position) args.onWaiting!({ position: position.ahead + 1, estimatedWaitMs: position.estimatedWaitMs });
      };
      timer = setInterval(report, POSITION_INTERVAL_MS);
      // A first report right away when the request had to queue (the lease is not granted synchronously).
      queueMicrotask(report);
    }
    try {
      return this.wrap(await ticket.lease);
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  private wrap(lease: Lease): NodeLease {
    const backend = this.backends.get(lease.node);
    if (!backend) {
      lease.release({ ok: true });
      throw new FlexiError('backend_unavailable', `Node '${lease.node}' is not available.`);
    }
    return {
      backend,
      queueMs: lease.queueMs,
      release: (outcome) => lease.release({ ok: outcome.ok, usage: outcome.usage }),
      firstToken: () => lease.firstToken(),
      retryElsewhere: async () => {
        const next = await lease.fail(true);
        return next ? this.wrap(next) : undefined;
      },
    };
  }

  inFlight(): ReadonlyMap<string, number> {
    const counts = new Map<string, number>();
    for (const node of this.scheduler.snapshot().nodes) counts.set(node.name, node.inFlight);
    return counts;
  }
}
