import type { Backend } from '../../backends/backend.js';
import { FlexiError } from '../../core/errors.js';
import type { ModelEntry } from './model-registry.service.js';

/** Who is asking, as the scheduler sees it (no identity ever reaches a node). */
export interface Requester {
  /** Stable id for fair share (user id, or API key id until users exist). */
  subject: string;
  /** Scheduler priority class, e.g. `interactive` or `batch`. */
  priorityClass?: string;
  /** Fair-share weight (from the role); default 1. */
  weight?: number;
  /** Most requests this subject may run at once (from the role). */
  maxConcurrent?: number;
}

export interface AcquireArgs {
  model: ModelEntry;
  requester: Requester;
  signal: AbortSignal;
  /** Called while the request waits (queue position, estimated wait). */
  onWaiting?: (info: { position: number; estimatedWaitMs?: number }) => void;
}

export interface ReleaseOutcome {
  /** False only when the node failed (refused, 5xx, timeout): it counts against the node's health. */
  ok: boolean;
  /** A generation that ran to its end: the node's counts, from which its concurrency limit is learned. */
  usage?: GenerationUsage;
}

/** What the node reported at the end of a generation. */
export interface GenerationUsage {
  promptTokens: number;
  completionTokens: number;
  /** Time the node spent loading the model for this request (Ollama's `load_duration`), if it says. */
  loadMs?: number;
}

/** The right to run one request on one node; ended exactly once (release or retryElsewhere). */
export interface NodeLease {
  readonly backend: Backend;
  /** Time spent waiting for the lease. */
  readonly queueMs: number;
  release(outcome: ReleaseOutcome): void;
  /** The node's first token arrived (ends queueing and prefill for the node's limit learner). */
  firstToken(): void;
  /**
   * The node failed before the first byte reached the client: ends this lease as failed and
   * resolves to a lease on another node serving the model, or undefined when there is none.
   */
  retryElsewhere(): Promise<NodeLease | undefined>;
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
    return Promise.resolve(this.place(args, new Set()));
  }

  private place(args: AcquireArgs, exclude: ReadonlySet<string>): NodeLease {
    const candidates = args.model.nodes.filter((node) => !exclude.has(node.name));
    if (candidates.length === 0) {
      throw new FlexiError('backend_unavailable', `No node serving '${args.model.name}' is available.`);
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
    const release = () => {
      if (released) return;
      released = true;
      this.counts.set(backend.name, (this.counts.get(backend.name) ?? 1) - 1);
    };
    return {
      backend,
      queueMs: 0,
      release,
      // Without the scheduler there is no limit to learn.
      firstToken: () => undefined,
      retryElsewhere: async () => {
        release();
        const tried = new Set(exclude).add(backend.name);
        return candidates.length > 1 ? this.place(args, tried) : undefined;
      },
    };
  }

  inFlight(): ReadonlyMap<string, number> {
    return this.counts;
  }
}
