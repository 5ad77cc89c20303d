import { EventEmitter } from 'node:events';
import { toCanonicalModelName } from '../../core/model-name.js';
import { createRng, type Rng } from './prng.js';
import { prefillMs, tokenDelayMs } from './performance.js';
import type { SimModelProfile, SimProfile } from './profile.js';
import type { SimEvalOracle } from './sim-evals.js';
import {
  SimBusyError, SimMemoryError, abortable, paceTokens, round, sleepReal, type SimCounters, type SimFaultKind, type SimInfo, type ModelStatus,
} from './sim-state.js';

interface SlotWaiter {
  resolve(): void;
  reject(error: unknown): void;
}

interface ModelState {
  profile: SimModelProfile;
  status: ModelStatus;
  loadPromise?: Promise<void>;
  /** Streams holding a slot. */
  running: number;
  slotQueue: SlotWaiter[];
  /** Requests for this model not yet released (waiting for load, queued or running): never evict while > 0. */
  pending: number;
  /** Generation requests not yet released (waiting for load, queued or running), and the most there ever were. */
  requests: number;
  peakRequests: number;
  waitingForLoad: number;
  lastUsedMs: number;
  /** Simulated ms a model stays loaded after its last request; negative = forever. */
  keepAliveMs: number;
  expiresAtMs: number | null;
  expiryTimer?: NodeJS.Timeout;
  loads: number;
  evictions: number;
  completed: number;
}

export interface SimEngineOptions {
  profile: SimProfile;
  /** Time scale: every simulated delay is divided by this. */
  speed: number;
  seed: number;
  /** Answer keys of benchmark files: known items are answered with each model's accuracy. */
  evalOracle?: SimEvalOracle;
}

/** One request's hold on a model slot; `release()` exactly once. */
export interface SimLease {
  readonly model: SimModelProfile;
  /** Simulated ms this request spent waiting for the model to load (0 when warm). */
  readonly loadMs: number;
  /** Filled in while streaming: simulated prefill and decode time. */
  promptEvalMs: number;
  evalMs: number;
  release(): void;
}

/**
 * The simulated node: which models are resident, their slots and queues, the memory budget,
 * and token timing. One owner of load/evict decisions; HTTP lives elsewhere.
 */
export class SimEngine extends EventEmitter<{ change: [] }> {
  readonly profile: SimProfile;
  readonly speed: number;
  readonly seed: number;
  readonly evalOracle?: SimEvalOracle;
  readonly counters: SimCounters = {
    requests: 0, completed: 0, disconnects: 0, rejected: 0, pacedStreams: 0, pacingLagMs: 0, faults: { error: 0, hang: 0, drop: 0, garbage: 0 },
  };
  private readonly models = new Map<string, ModelState>();
  private readonly memoryWaiters = new Set<() => void>();
  private readonly faultRng: Rng;
  private loadQueueLength = 0;
  private closed = false;

  constructor(options: SimEngineOptions) {
    super();
    if (!(options.speed > 0)) throw new Error('speed must be a positive number');
    this.profile = options.profile;
    this.speed = options.speed;
    this.seed = options.seed;
    this.evalOracle = options.evalOracle;
    this.faultRng = createRng(options.seed, 'faults');
    for (const profile of options.profile.models) {
      this.models.set(profile.name, {
        profile, status: 'unloaded', running: 0, slotQueue: [], pending: 0, requests: 0, peakRequests: 0, waitingForLoad: 0, lastUsedMs: 0,
        keepAliveMs: options.profile.keepAliveMs, expiresAtMs: null, loads: 0, evictions: 0, completed: 0,
      });
    }
  }

  findModel(name: string): SimModelProfile | undefined {
    return this.models.get(toCanonicalModelName(name))?.profile;
  }

  listModels(): SimModelProfile[] {
    return [...this.models.values()].map((state) => state.profile);
  }

  /** Draws the fault for a request: forced by `x-sim-fail`, else by the profile's rates. */
  decideFault(forced: SimFaultKind | undefined): SimFaultKind | undefined {
    this.counters.requests++;
    let fault = forced;
    if (!fault) {
      const { errorRate, hangRate, dropRate, garbageRate } = this.profile.faults;
      const u = this.faultRng.next();
      if (u < errorRate) fault = 'error';
      else if (u < errorRate + hangRate) fault = 'hang';
      else if (u < errorRate + hangRate + dropRate) fault = 'drop';
      else if (u < errorRate + hangRate + dropRate + garbageRate) fault = 'garbage';
    }
    if (fault) this.counters.faults[fault]++;
    this.changed();
    return fault;
  }

  /** Waits for the model to be loaded and a slot to be free. Rejects with SimBusyError, SimMemoryError or the abort reason. */
  async acquire(name: string, signal: AbortSignal, keepAliveMs?: number): Promise<SimLease> {
    const state = this.getState(name);
    state.pending++;
    state.requests++;
    state.peakRequests = Math.max(state.peakRequests, state.requests);
    this.clearExpiry(state);
    let loadMs = 0;
    try {
      if (state.status !== 'loaded') loadMs = await this.ensureLoaded(state, signal);
      await this.takeSlot(state, signal);
    } catch (error) {
      state.requests--;
      state.pending--;
      this.afterRelease(state);
      throw error;
    }
    let released = false;
    return {
      model: state.profile, loadMs, promptEvalMs: 0, evalMs: 0,
      release: () => {
        if (released) return;
        released = true;
        if (keepAliveMs !== undefined) state.keepAliveMs = keepAliveMs;
        this.releaseSlot(state);
        state.requests--;
        state.pending--;
        this.afterRelease(state);
      },
    };
  }

  /**
   * Loads a model without a generation (Ollama's model-only request). Returns the simulated
   * load time, 0 if it was already loaded.
   */
  async load(name: string, signal: AbortSignal, keepAliveMs?: number): Promise<number> {
    const state = this.getState(name);
    state.pending++;
    this.clearExpiry(state);
    try {
      return state.status === 'loaded' ? 0 : await this.ensureLoaded(state, signal);
    } finally {
      if (keepAliveMs !== undefined) state.keepAliveMs = keepAliveMs;
      state.pending--;
      this.afterRelease(state);
    }
  }

  /** Unloads now if idle, else as soon as the last request finishes (keep_alive 0). */
  unload(name: string): void {
    const state = this.getState(name);
    state.keepAliveMs = 0;
    this.afterRelease(state);
  }

  /** Simulated prefill of a leased slot; resolves when the first token may follow. */
  async prefill(lease: SimLease, promptTokens: number, signal: AbortSignal): Promise<void> {
    const state = this.getState(lease.model.name);
    const ms = prefillMs(lease.model, promptTokens, state.running);
    lease.promptEvalMs = ms;
    await this.sleep(ms, signal);
  }

  /**
   * Yields token indexes 0…count−1 at the decode rate for the number of streams running at
   * each moment. When timers fire late (high speed, busy event loop) the next tokens follow
   * at once, so the average rate stays right.
   */
  async *decode(lease: SimLease, count: number, signal: AbortSignal): AsyncGenerator<number> {
    const state = this.getState(lease.model.name);
    yield* paceTokens(count, this.speed, signal, () => {
      const delayMs = tokenDelayMs(lease.model, state.running);
      lease.evalMs += delayMs;
      return delayMs;
    }, (lateRealMs) => {
      this.counters.pacedStreams++;
      this.counters.pacingLagMs += lateRealMs * this.speed;
    });
  }

  /** Simulated ms → a promise that waits the scaled real time. */
  sleep(simulatedMs: number, signal: AbortSignal): Promise<void> {
    return sleepReal(simulatedMs / this.speed, signal);
  }

  /** Real elapsed ms → simulated ms. */
  toSimulatedMs(realMs: number): number {
    return realMs * this.speed;
  }

  completed(lease: SimLease): void {
    this.counters.completed++;
    this.getState(lease.model.name).completed++;
    this.changed();
  }

  /** Counts a client that went away before its answer was complete. */
  disconnected(): void {
    this.counters.disconnects++;
    this.changed();
  }

  /** Resolves once `predicate` holds, re-checked on every state change (for tests and tools). */
  waitFor(predicate: (info: SimInfo) => boolean): Promise<SimInfo> {
    return new Promise((resolve) => {
      const check = (): void => {
        const info = this.info();
        if (!predicate(info)) return;
        this.off('change', check);
        resolve(info);
      };
      this.on('change', check);
      check();
    });
  }

  private changed(): void {
    this.emit('change');
  }

  info(): SimInfo {
    const used = this.usedMemoryGb();
    return {
      profile: this.profile.name,
      speed: this.speed,
      seed: this.seed,
      memory: { budget_gb: this.profile.memoryGb, used_gb: round(used), free_gb: round(this.profile.memoryGb - used) },
      load_queue: this.loadQueueLength,
      counters: {
        requests: this.counters.requests,
        completed: this.counters.completed,
        disconnects: this.counters.disconnects,
        rejected: this.counters.rejected,
        faults: { ...this.counters.faults },
        paced_streams: this.counters.pacedStreams,
        mean_pacing_lag_ms: this.counters.pacedStreams === 0 ? 0 : round(this.counters.pacingLagMs / this.counters.pacedStreams),
      },
      models: [...this.models.values()].map((state) => ({
        name: state.profile.name,
        status: state.status,
        size_gb: state.profile.sizeGb,
        slots: state.profile.slots,
        in_flight: state.running,
        queued: state.slotQueue.length,
        peak_requests: state.peakRequests,
        waiting_for_load: state.waitingForLoad,
        decode_tokens_per_second: state.profile.decodeTokensPerSecond,
        expires_at: state.expiresAtMs === null ? null : new Date(state.expiresAtMs).toISOString(),
        loads: state.loads,
        evictions: state.evictions,
        completed: state.completed,
      })),
    };
  }

  /** Models resident or loading, most recently used first (what /api/ps lists). */
  residentModels(): Array<{ profile: SimModelProfile; expiresAtMs: number | null }> {
    return [...this.models.values()]
      .filter((state) => state.status === 'loading' || state.status === 'loaded')
      .sort((a, b) => b.lastUsedMs - a.lastUsedMs)
      .map((state) => ({ profile: state.profile, expiresAtMs: state.expiresAtMs }));
  }

  close(): void {
    this.closed = true;
    for (const state of this.models.values()) this.clearExpiry(state);
    for (const wake of this.memoryWaiters) wake();
  }

  private getState(name: string): ModelState {
    const state = this.models.get(toCanonicalModelName(name));
    if (!state) throw new Error(`model "${name}" not found`);
    return state;
  }

  private async ensureLoaded(state: ModelState, signal: AbortSignal): Promise<number> {
    if (this.loadQueueLength >= this.profile.maxLoadQueue) {
      this.counters.rejected++;
      this.changed();
      throw new SimBusyError();
    }
    if (state.status === 'unloaded') {
      if (state.profile.sizeGb > this.profile.memoryGb) {
        throw new SimMemoryError(
          `model requires more system memory (${state.profile.sizeGb} GB) than is available (${this.profile.memoryGb} GB)`,
        );
      }
      state.status = 'waiting';
      this.changed();
      state.loadPromise = this.runLoad(state);
      // A failed load is reported to every waiter; keep it from being an unhandled rejection.
      state.loadPromise.catch(() => {});
    }
    state.waitingForLoad++;
    this.loadQueueLength++;
    this.changed();
    try {
      await abortable(state.loadPromise!, signal);
    } finally {
      state.waitingForLoad--;
      this.loadQueueLength--;
    }
    return state.profile.loadMs;
  }

  private async runLoad(state: ModelState): Promise<void> {
    // Wait until evicting idle models makes room; memory counts from the moment loading starts.
    while (!this.makeRoom(state.profile.sizeGb)) {
      if (this.closed) throw new Error('simulator closed');
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.memoryWaiters.delete(wake);
          resolve();
        };
        this.memoryWaiters.add(wake);
      });
    }
    state.status = 'loading';
    state.loads++;
    state.lastUsedMs = Date.now();
    this.changed();
    await this.sleep(state.profile.loadMs, new AbortController().signal);
    state.status = 'loaded';
    this.changed();
  }

  /** Evicts least-recently-used idle models until `sizeGb` fits; false if it cannot fit yet. */
  private makeRoom(sizeGb: number): boolean {
    const budget = this.profile.memoryGb;
    let used = this.usedMemoryGb();
    if (used + sizeGb <= budget + 1e-9) return true;
    const idle = [...this.models.values()]
      .filter((state) => state.status === 'loaded' && state.pending === 0)
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    let freeable = 0;
    for (const state of idle) freeable += state.profile.sizeGb;
    if (used - freeable + sizeGb > budget + 1e-9) return false;
    for (const state of idle) {
      if (used + sizeGb <= budget + 1e-9) break;
      this.evict(state);
      state.evictions++;
      used -= state.profile.sizeGb;
    }
    return true;
  }

  private usedMemoryGb(): number {
    let used = 0;
    for (const state of this.models.values()) if (state.status === 'loading' || state.status === 'loaded') used += state.profile.sizeGb;
    return used;
  }

  private evict(state: ModelState): void {
    this.clearExpiry(state);
    state.status = 'unloaded';
    state.loadPromise = undefined;
    state.expiresAtMs = null;
    this.changed();
  }

  private takeSlot(state: ModelState, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (state.running < state.profile.slots && state.slotQueue.length === 0) {
      state.running++;
      this.changed();
      return Promise.resolve();
    }
    const maxQueue = state.profile.maxQueue;
    if (maxQueue !== undefined && state.slotQueue.length >= maxQueue) {
      this.counters.rejected++;
      this.changed();
      return Promise.reject(new SimBusyError());
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: SlotWaiter = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = (): void => {
        const index = state.slotQueue.indexOf(waiter);
        if (index >= 0) state.slotQueue.splice(index, 1);
        reject(signal.reason);
        this.changed();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      state.slotQueue.push(waiter);
      this.changed();
    });
  }

  private releaseSlot(state: ModelState): void {
    const next = state.slotQueue.shift();
    // The slot passes straight to the next waiter, so `running` stays the same.
    if (next) next.resolve();
    else state.running--;
    this.changed();
  }

  private afterRelease(state: ModelState): void {
    state.lastUsedMs = Date.now();
    if (state.pending > 0 || state.status !== 'loaded') return;
    this.clearExpiry(state);
    if (state.keepAliveMs === 0) {
      this.evict(state);
    } else if (state.keepAliveMs > 0) {
      state.expiresAtMs = Date.now() + state.keepAliveMs / this.speed;
      state.expiryTimer = setTimeout(() => {
        if (state.pending === 0 && state.status === 'loaded') this.evict(state);
        this.wakeMemoryWaiters();
      }, state.keepAliveMs / this.speed);
      state.expiryTimer.unref();
    } else {
      state.expiresAtMs = null;
    }
    this.wakeMemoryWaiters();
  }

  private clearExpiry(state: ModelState): void {
    if (state.expiryTimer) clearTimeout(state.expiryTimer);
    state.expiryTimer = undefined;
  }

  private wakeMemoryWaiters(): void {
    for (const wake of [...this.memoryWaiters]) wake();
  }
}
