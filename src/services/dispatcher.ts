import type { Backend } from '../backends/backend.js';
import { FlexiError } from '../core/errors.js';
import type { ModelEntry } from './model-registry.service.js';

/** Who is asking, as the scheduler sees it (no identity ever reaches a node). */
export interface Requester {
  /** Stable id for fair share (user id, or API key id until users exist). */
  subject: string;
  /** Scheduler priority class, e.g. `interactive` or `batch`. */
  priorityClass?: string;
  weight?: number;
}

export interface AcquireArgs {
  model: ModelEntry;
  requester: Requester;
  /** Nodes that already failed this request before its first byte. */
  exclude: ReadonlySet<string>;
  signal: AbortSignal;
  /** Called while the request waits (queue position, estimated wait). */
  onWaiting?: (info: { position: number; estimatedWaitMs?: number }) => void;
}

export interface ReleaseOutcome {
  ok: boolean;
  /** Whether any byte was produced (a failure before it may be retried elsewhere). */
  firstByte: boolean;
}

/** The right to run one request on one node; released exactly once. */
export interface NodeLease {
  readonly backend: Backend;
  /** Time spent waiting for the lease. */
  readonly queueMs: number;
  release(outcome: ReleaseOutcome): void;
}

/** Picks a node for a request (and may make it wait). The scheduler implements this. */
export interface Dispatcher {
  acquire(args: AcquireArgs): Promise<NodeLease>;
  /** In-flight requests per node, for metrics and status. */
  inFlight(): ReadonlyMap<string, number>;
}

/**
 * No queue: the least-loaded node serving the model, now. Used when the scheduler is disabled
 * and as the baseline ("round-robin forwarding without a queue") in the scheduler benchmark.
 */
export class DirectDispatcher implements Dispatcher {
  private readonly counts = new Map<string, number>();
  private rotation = 0;

  acquire(args: AcquireArgs): Promise<NodeLease> {
    const candidates = args.model.nodes.filter((node) => !args.exclude.has(node.name));
    if (candidates.length === 0) {
      return Promise.reject(new FlexiError('backend_unavailable', `No other node serves '${args.model.name}'.`));
    }
    let best: Backend | undefined;
    let bestCount = Infinity;
    // Rotate the starting point so equal loads spread across nodes.
    const start = this.rotation++ % candidates.length;
    for (let i = 0; i < candidates.length; i++) {
      const node = candidates[(start + i) % candidates.length]!;
      const count = this.counts.get(node.name) ?? 0;
      if (count < bestCount) {
        best = node;
        bestCount = count;
      }
    }
    const backend = best!;
    this.counts.set(backend.name, bestCount + 1);
    let released = false;
    return Promise.resolve({
      backend,
      queueMs: 0,
      release: () => {
        if (released) return;
        released = true;
        this.counts.set(backend.name, (this.counts.get(backend.name) ?? 1) - 1);
      },
    });
  }

  inFlight(): ReadonlyMap<string, number> {
    return this.counts;
  }
}
