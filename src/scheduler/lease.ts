import type { NodeState } from './node-state.js';

export type LeaseOutcome = 'ok' | 'failed' | 'cancelled';

/** Token counts of a finished request (the node's own, from its final message). */
export interface LeaseUsage {
  promptTokens?: number;
  completionTokens: number;
  /** Time the node spent loading the model for this request, if it says. */
  loadMs?: number;
}

/** What the scheduler keeps about a running request; not part of the public surface. */
export interface LeaseContext {
  readonly nodeState: NodeState;
  readonly userId: string;
  readonly classIndex: number;
  readonly weight: number;
  readonly maxInFlight: number;
  readonly signal: AbortSignal | undefined;
  readonly startedAtMs: number;
  readonly isProbe: boolean;
  readonly exclude: ReadonlySet<string> | undefined;
  /** Requests of the model in flight on the node once this one started, itself included. */
  readonly concurrency: number;
  /** The model was not ready on the node when this started (a load comes first). */
  readonly cold: boolean;
  /** Scheduler time of the first token, once reported. */
  firstTokenAtMs: number | undefined;
  detach: (() => void) | undefined;
}

export interface LeaseOwner {
  finishLease(lease: Lease, outcome: LeaseOutcome, usage?: LeaseUsage): void;
  markFirstToken(lease: Lease): void;
  retryLease(lease: Lease, beforeFirstByte: boolean): Promise<Lease | undefined>;
}

/**
 * A slot on one node for one request. Whoever holds it must end it exactly once with
 * `release` or `fail`; further calls do nothing, and an abort of the request's signal
 * releases it as well, so a client that goes away never keeps a slot.
 */
export class Lease {
  private ended = false;

  /** @internal built by the scheduler only. */
  constructor(
    private readonly owner: LeaseOwner,
    /** Name of the node to send the request to. */
    readonly node: string,
    readonly model: string,
    /** Time spent waiting for this slot. */
    readonly queueMs: number,
    /** 1 for the first placement, 2 for a re-placement after a failure before the first byte. */
    readonly attempt: number,
    /** @internal */
    readonly context: LeaseContext,
  ) {}

  get released(): boolean {
    return this.ended;
  }

  /**
   * The request is over. `ok: false` only when the node failed (connection refused, 5xx,
   * timeout) — it counts towards the node's circuit breaker; a client error or a client that
   * went away is `ok: true` as far as the node is concerned. `usage` of a request that ran to
   * its end lets the scheduler learn the node's concurrency limit.
   */
  release(result: { ok?: boolean; usage?: LeaseUsage } = {}): void {
    if (this.ended) return;
    this.ended = true;
    this.owner.finishLease(this, result.ok === false ? 'failed' : 'ok', result.usage);
  }

  /** The node sent the first token: the end of queueing and prefill, as the node's limit learner sees it. */
  firstToken(): void {
    if (!this.ended) this.owner.markFirstToken(this);
  }

  /**
   * The node failed. Counts towards its breaker and frees the slot; when nothing had reached the
   * client yet (`beforeFirstByte`), resolves to a new lease on another node (waiting for a slot
   * if need be), or undefined when there is none to try — then report the original error.
   */
  fail(beforeFirstByte: boolean): Promise<Lease | undefined> {
    if (this.ended) return Promise.resolve(undefined);
    this.ended = true;
    return this.owner.retryLease(this, beforeFirstByte);
  }

  /** @internal the request's signal aborted. */
  abandon(): void {
    if (this.ended) return;
    this.ended = true;
    this.owner.finishLease(this, 'cancelled');
  }
}
