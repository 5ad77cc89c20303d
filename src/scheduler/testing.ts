import { FlexiError } from '../core/errors.js';
import { ManualClock } from '../lib/clock.js';
import type { Lease } from './lease.js';
import type { NodeInit } from './node-state.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import type { AcquireRequest, Ticket } from './scheduler-types.js';
import type { SchedulerSettings } from './settings.js';

/** Test support: a scheduler on a ManualClock, and tickets whose outcome can be read synchronously after `settle()`. */
export interface Tracked {
  readonly request: AcquireRequest;
  readonly ticket: Ticket;
  lease: Lease | undefined;
  error: FlexiError | undefined;
}

export class Harness {
  readonly clock = new ManualClock(0);
  readonly scheduler: Scheduler;
  readonly timers: { atMs: number; callback: () => void; cancelled: boolean }[] = [];
  /** Time as timers see it: like setTimeout, immune to jumps of the clock. */
  private timerMs = 0;

  constructor(nodes: readonly NodeInit[], settings: Partial<SchedulerSettings> = {}, preload?: SchedulerOptions['preload']) {
    this.scheduler = new Scheduler({
      clock: this.clock,
      settings,
      nodes,
      preload,
      setTimer: (callback, delayMs) => {
        const timer = { atMs: this.timerMs + delayMs, callback, cancelled: false };
        this.timers.push(timer);
        return () => { timer.cancelled = true; };
      },
    });
  }

  /** Lets `ms` pass: moves the clock and fires due timers, as the event loop would. */
  advance(ms: number): void {
    this.clock.advance(ms);
    this.timerMs += ms;
    for (;;) {
      const due = this.timers.find((t) => !t.cancelled && t.atMs <= this.timerMs);
      if (!due) break;
      due.cancelled = true;
      due.callback();
    }
  }

  /** Sets the clock forward or back without time passing (NTP step, suspend). */
  jump(ms: number): void {
    this.clock.advance(ms);
  }

  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  submit(request: Partial<AcquireRequest> & { userId: string }): Tracked {
    const full: AcquireRequest = { model: 'm', ...request };
    const ticket = this.scheduler.enqueue(full);
    const tracked: Tracked = { request: full, ticket, lease: undefined, error: undefined };
    ticket.lease.then(
      (lease) => { tracked.lease = lease; },
      (error: unknown) => { tracked.error = error instanceof FlexiError ? error : new FlexiError('internal_error', String(error)); },
    );
    return tracked;
  }
}

/** Lets promise callbacks run (no time passes). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Jain's fairness index of allocations: 1 = perfectly even, 1/n = one takes all. */
export function jainIndex(values: readonly number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}
