import type { NodeState } from './node-state.js';

export type LeaseOutcome = 'ok' | 'failed' | 'cancelled';

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
  detach: (() => void) | undefined;
}

export interface LeaseOwner {
  finishLease(lease: Lease, outcome: LeaseOutcome): void;
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
   * went away is `ok: true` as far as the node is concerned.
   */
  release(result: { ok?: boolean } = {}): void {
    if (this.ended) return;
    this.ended = true;
    this.owner.finishLease(this, result.ok === false ? 'failed' : 'ok');
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
