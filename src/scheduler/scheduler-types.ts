import type { ConcurrencyLimitState } from './concurrency-limit.js';
import type { FlexiError } from '../core/errors.js';
import { DrainRate } from './drain-rate.js';
import { FairQueue, QueueEntry } from './fair-queue.js';
import { NewcomerReserve, type NewcomerReserveSettings } from './newcomer-reserve.js';
import type { Lease } from './lease.js';
import type { BreakerState } from './circuit-breaker.js';
import type { NodeKind } from './node-state.js';
import type { WaitHistogramData } from './wait-histogram.js';

export interface AcquireRequest {
  /** Canonical model name. */
  model: string;
  /** Whose fair share the request counts against (never sent to a node). */
  userId: string;
  /** Priority class name; default `settings.defaultClass`. */
  priorityClass?: string;
  /** The user's fair-share weight (from their role), > 0; default 1. */
  weight?: number;
  /** The user's concurrency cap (from their role); default `settings.maxInFlightPerUser`. */
  maxInFlight?: number;
  /** Overrides the class deadline: the longest wait for a slot. */
  maxWaitMs?: number;
  /** Aborting removes a waiting request from the queue, or releases its lease once started. */
  signal?: AbortSignal;
}

export interface QueuePosition {
  /** Requests estimated to start before this one. */
  ahead: number;
  /** Estimated wait until it starts; undefined before any drain rate is known. */
  estimatedWaitMs: number | undefined;
}

/** A request handed to the scheduler. */
export interface Ticket {
  /** Resolves when a slot is granted; rejects with a FlexiError when refused, expired or aborted. */
  readonly lease: Promise<Lease>;
  /** Where it stands while it waits (for queue position in the UI and keep-alives); undefined otherwise. */
  position(): QueuePosition | undefined;
}

/** Schedules `callback` after `delayMs`; returns a function that cancels it. */
export type SetTimer = (callback: () => void, delayMs: number) => () => void;

export type RefusalReason =
  | 'queue_full' | 'deadline' | 'over_fair_share' | 'pushed_out' | 'no_backend' | 'unknown_model' | 'invalid' | 'aborted';

export interface SchedulerCounters {
  /** Requests accepted into the queue. */
  admitted: number;
  /** Leases granted (retries included). */
  started: number;
  completed: number;
  failed: number;
  /** Leases ended by their signal. */
  cancelledRunning: number;
  /** Waiting requests whose client went away. */
  cancelledWaiting: number;
  /** Waiting requests whose deadline passed. */
  expired: number;
  /** Re-placements after a failure before the first byte. */
  retries: number;
  /** Idle models assumed evicted to load another. */
  evictionsImplied: number;
  /** Models loaded on a node ahead of demand (`preloadReplicas`), and those loads that failed. */
  preloads: number;
  preloadsFailed: number;
  /** Preloads not sent: another replica was loading the same model on the node (`preload:` claims). */
  preloadsSkipped: number;
  refused: Record<RefusalReason, number>;
}

export function emptyCounters(): SchedulerCounters {
  return {
    admitted: 0, started: 0, completed: 0, failed: 0, cancelledRunning: 0, cancelledWaiting: 0,
    expired: 0, retries: 0, evictionsImplied: 0, preloads: 0, preloadsFailed: 0, preloadsSkipped: 0,
    refused: { queue_full: 0, deadline: 0, over_fair_share: 0, pushed_out: 0, no_backend: 0, unknown_model: 0, invalid: 0, aborted: 0 },
  };
}

export interface ModelSnapshot {
  model: string;
  queuedByClass: Record<string, number>;
  inFlightByClass: Record<string, number>;
  retrying: number;
  inFlight: number;
  drainRatePerSecond: number | undefined;
  meanServiceMs: number | undefined;
}

export interface NodeSnapshot {
  name: string;
  type: NodeKind;
  healthy: boolean;
  draining: boolean;
  breaker: BreakerState;
  inFlight: number;
  /** Per served model: slots (the learned limit now), in-flight, and the learner's state. */
  models: Record<string, { slots: number; inFlight: number; resident: boolean; preloading: boolean; concurrency: ConcurrencyLimitState }>;
  resident: string[];
  /** Models being loaded ahead of demand (replica preloading): in memory soon, not ready yet. */
  preloading: string[];
  memoryBytes: number | undefined;
  residentBytes: number;
}

export interface SchedulerSnapshot {
  /** Wall-clock time of the snapshot. */
  atMs: number;
  models: ModelSnapshot[];
  nodes: NodeSnapshot[];
  /** Users with at least one request running. */
  activeUsers: number;
  counters: SchedulerCounters;
  waitHistograms: WaitHistogramData[];
}

/** Per model: its queue, its retry lane, its drain rate. */
export class ModelState {
  readonly queue: FairQueue<Waiter>;
  readonly drain: DrainRate;
  /** Failed-before-first-byte requests waiting for another node; served before the queue. */
  readonly retryLane = new Set<Waiter>();
  inFlight = 0;
  /** Running requests per priority class (index as in the settings). */
  readonly inFlightByClass: number[];
  /** Scheduler time each class last asked for this model (admission), −∞ before its first request. */
  readonly lastAskedByClass: number[];
  /** Slots kept for users with nothing in flight on the model (newcomer-reserve.ts). */
  readonly reserve: NewcomerReserve;

  constructor(readonly name: string, classCount: number, drainWindowMs: number, reserve: NewcomerReserveSettings) {
    this.queue = new FairQueue<Waiter>(classCount);
    this.inFlightByClass = new Array<number>(classCount).fill(0);
    this.lastAskedByClass = new Array<number>(classCount).fill(-Infinity);
    this.drain = new DrainRate(drainWindowMs);
    this.reserve = new NewcomerReserve(reserve, this.queue);
  }

  get waiting(): number {
    return this.queue.size + this.retryLane.size;
  }
}

export interface WaiterInit {
  userId: string;
  classIndex: number;
  weight: number;
  maxInFlight: number;
  state: ModelState;
  enqueuedAtMs: number;
  deadlineAtMs: number;
  signal: AbortSignal | undefined;
  exclude?: ReadonlySet<string>;
  attempt: number;
  onGrant: (lease: Lease) => void;
  onGiveUp: (error: FlexiError) => void;
}

/** A request waiting for a slot (in the fair queue, or in a retry lane). */
export class Waiter extends QueueEntry {
  readonly maxInFlight: number;
  readonly state: ModelState;
  readonly enqueuedAtMs: number;
  readonly deadlineAtMs: number;
  readonly signal: AbortSignal | undefined;
  readonly exclude: ReadonlySet<string> | undefined;
  readonly attempt: number;
  readonly onGrant: (lease: Lease) => void;
  readonly onGiveUp: (error: FlexiError) => void;
  deadlineIndex = -1;
  detach: (() => void) | undefined;

  constructor(init: WaiterInit) {
    super(init.userId, init.classIndex, init.weight);
    this.maxInFlight = init.maxInFlight;
    this.state = init.state;
    this.enqueuedAtMs = init.enqueuedAtMs;
    this.deadlineAtMs = init.deadlineAtMs;
    this.signal = init.signal;
    this.exclude = init.exclude;
    this.attempt = init.attempt;
    this.onGrant = init.onGrant;
    this.onGiveUp = init.onGiveUp;
  }
}
