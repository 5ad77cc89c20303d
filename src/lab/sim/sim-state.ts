import { setImmediate as nextTick } from 'node:timers/promises';

/** Types, errors and timing helpers of the simulated node (the engine itself is sim-engine.ts). */

/** A request was refused because a queue is full (Ollama answers 503). */
export class SimBusyError extends Error {
  constructor(message = 'server busy, please try again.  maximum pending requests exceeded') {
    super(message);
    this.name = 'SimBusyError';
  }
}

/** A model can never fit the node's memory, even with every other model evicted. */
export class SimMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimMemoryError';
  }
}

export type SimFaultKind = 'error' | 'hang' | 'drop' | 'garbage';
export const SIM_FAULT_KINDS: readonly SimFaultKind[] = ['error', 'hang', 'drop', 'garbage'];

/** `waiting`: a request wants it but it does not fit yet (holds no memory). */
export type ModelStatus = 'unloaded' | 'waiting' | 'loading' | 'loaded';

export interface SimCounters {
  requests: number;
  completed: number;
  /** Requests whose client went away before the answer was complete. */
  disconnects: number;
  rejected: number;
  /** Streams paced to the end, and how late their last token was in total (simulated ms). */
  pacedStreams: number;
  pacingLagMs: number;
  faults: Record<SimFaultKind, number>;
}

/** GET /sim/info: the node's state, for load tests and schedulers that want to see inside. */
export interface SimInfo {
  profile: string;
  speed: number;
  seed: number;
  memory: { budget_gb: number; used_gb: number; free_gb: number };
  load_queue: number;
  /** mean_pacing_lag_ms: how late streams finished on average (simulated ms); large values mean --speed is too high for this machine. */
  counters: Omit<SimCounters, 'pacedStreams' | 'pacingLagMs'> & { paced_streams: number; mean_pacing_lag_ms: number };
  models: Array<{
    name: string;
    status: ModelStatus;
    size_gb: number;
    slots: number;
    in_flight: number;
    queued: number;
    /** The most generation requests for this model the node held at once since it started (queued, loading or running): what a gateway's limit must bound. */
    peak_requests: number;
    waiting_for_load: number;
    decode_tokens_per_second: number;
    expires_at: string | null;
    loads: number;
    evictions: number;
    completed: number;
  }>;
}

export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

export function sleepReal(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  if (ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Yields 0…count−1, each after `nextDelayMs()` simulated ms scaled by `speed`. When timers fire
 * late (high speed, busy event loop) the next tokens follow at once, so the average rate stays
 * right; every 32 back-to-back tokens yield to the event loop so other streams keep moving.
 * `onDone` gets how late (real ms) the last token was: the sign that the speed is too high.
 */
export async function* paceTokens(
  count: number, speed: number, signal: AbortSignal, nextDelayMs: () => number, onDone?: (lateRealMs: number) => void,
): AsyncGenerator<number> {
  let dueMs = performance.now();
  let burst = 0;
  for (let i = 0; i < count; i++) {
    dueMs += nextDelayMs() / speed;
    const waitMs = dueMs - performance.now();
    if (waitMs >= 1) {
      burst = 0;
      await sleepReal(waitMs, signal);
    } else if (++burst % 32 === 0) {
      await nextTick();
    }
    signal.throwIfAborted();
    yield i;
  }
  onDone?.(Math.max(0, performance.now() - dueMs));
}
