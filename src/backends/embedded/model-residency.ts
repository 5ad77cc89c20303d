import type { Llama } from 'node-llama-cpp';
import { FlexiError } from '../../core/errors.js';
import type { LoadedModel } from '../../core/types.js';
import type { Clock } from '../../lib/clock.js';
import type { GgufModelFile } from './gguf-metadata.js';
import { estimateModelBytes, LoadedLlamaModel, type LoadOptions } from './loaded-model.js';

/** Timer functions, injected so keep_alive expiry can be tested without waiting. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    // An idle model must not keep the process alive.
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ResidencyOptions extends LoadOptions {
  getLlama(): Promise<Llama>;
  memoryBudgetBytes: number;
  defaultKeepAliveSeconds: number;
  timers: Timers;
  clock: Clock;
}

interface Entry {
  file: GgufModelFile;
  estimatedBytes: number;
  loading: Promise<LoadedLlamaModel>;
  loaded?: LoadedLlamaModel;
  /** Requests holding the model (generating or waiting for a slot). */
  active: number;
  keepAliveSeconds: number;
  timer?: unknown;
  expiresAt?: Date;
  lastUsedMs: number;
}

export interface ModelSlotState {
  name: string;
  slots: number;
  /** Slots generating now. */
  busySlots: number;
  /** Requests waiting for a free slot. */
  waiting: number;
  /** Requests holding the model (generating, waiting for a slot, or embedding). */
  activeRequests: number;
}

/** A model held for one request; `release` applies the request's keep_alive. */
export interface ModelLease {
  model: LoadedLlamaModel;
  /** Time this request waited for the load (0 when the model was resident). */
  loadNs: number;
  release(): void;
}

/**
 * Owns load and unload decisions for one embedded node: models load on first use (concurrent
 * first requests share one load), unload after keep_alive (Ollama semantics: seconds, 0 = after
 * the reply, negative = never), and idle models are evicted, least recently used first, when a
 * new one would exceed the memory budget. A model in use is never unloaded under a request.
 */
export class ModelResidency {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: ResidencyOptions) {}

  async acquire(file: GgufModelFile, keepAliveSeconds: number | undefined): Promise<ModelLease> {
    const startNs = process.hrtime.bigint();
    let entry = this.entries.get(file.name);
    const wasResident = entry?.loaded !== undefined;
    if (!entry) entry = this.startLoad(file);
    entry.active += 1;
    entry.keepAliveSeconds = keepAliveSeconds ?? this.options.defaultKeepAliveSeconds;
    this.cancelTimer(entry);
    let model: LoadedLlamaModel;
    try {
      model = await entry.loading;
    } catch (error) {
      entry.active -= 1;
      throw error;
    }
    const loadNs = wasResident ? 0 : Number(process.hrtime.bigint() - startNs);
    const held = entry;
    let released = false;
    return {
      model,
      loadNs,
      release: () => {
        if (released) return;
        released = true;
        held.active -= 1;
        held.lastUsedMs = this.options.clock.monotonicMs();
        if (held.active === 0) this.scheduleExpiry(held);
      },
    };
  }

  /** Load without generating (keepAlive ≠ 0) or unload (keepAlive 0). */
  async setResidency(file: GgufModelFile, keepAliveSeconds: number): Promise<void> {
    if (keepAliveSeconds === 0) {
      const entry = this.entries.get(file.name);
      if (!entry) return;
      entry.keepAliveSeconds = 0;
      if (entry.active === 0) await this.unload(entry);
      return;
    }
    const lease = await this.acquire(file, keepAliveSeconds);
    lease.release();
  }

  loadedModels(): LoadedModel[] {
    return [...this.entries.values()].filter((entry) => entry.loaded).map((entry) => ({
      name: entry.file.name,
      sizeBytes: entry.estimatedBytes,
      sizeVramBytes: 0,
      expiresAt: entry.active > 0 ? undefined : entry.expiresAt,
      contextLength: entry.loaded!.contextSize,
    }));
  }

  /** Slot use of every loaded model (requests generating and waiting for a slot). */
  slotStates(): ModelSlotState[] {
    return [...this.entries.values()].flatMap((entry) => (entry.loaded ? [{
      name: entry.file.name,
      slots: entry.loaded.slots.size,
      busySlots: entry.loaded.slots.size - entry.loaded.slots.available,
      waiting: entry.loaded.slots.waiting,
      activeRequests: entry.active,
    }] : []));
  }

  isLoaded(name: string): boolean {
    return this.entries.get(name)?.loaded !== undefined;
  }

  async unloadAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map((entry) => this.unload(entry)));
  }

  private startLoad(file: GgufModelFile): Entry {
    const estimatedBytes = estimateModelBytes(file, this.options);
    const budget = this.options.memoryBudgetBytes;
    if (estimatedBytes > budget) {
      throw new FlexiError('backend_error',
        `Model ${file.name} needs about ${mib(estimatedBytes)} MiB (weights + KV cache for ${this.options.slots} slots × ${this.options.contextSize} tokens), more than embedded.memory_budget_bytes allows (${mib(budget)} MiB). Raise the budget or lower embedded.context_size or the node's slots.`);
    }
    this.makeRoom(file, estimatedBytes);
    const entry: Entry = {
      file, estimatedBytes, active: 0,
      keepAliveSeconds: this.options.defaultKeepAliveSeconds,
      lastUsedMs: this.options.clock.monotonicMs(),
      loading: Promise.resolve(undefined as unknown as LoadedLlamaModel),
    };
    entry.loading = this.options.getLlama()
      .then((llama) => LoadedLlamaModel.load(llama, file, this.options))
      .then((model) => {
        entry.loaded = model;
        return model;
      }, (error: unknown) => {
        if (this.entries.get(file.name) === entry) this.entries.delete(file.name);
        throw error;
      });
    this.entries.set(file.name, entry);
    return entry;
  }

  /** Unloads idle models, least recently used first, until `bytes` more fit the budget. */
  private makeRoom(file: GgufModelFile, bytes: number): void {
    const used = () => [...this.entries.values()].reduce((sum, entry) => sum + entry.estimatedBytes, 0);
    const idle = [...this.entries.values()]
      .filter((entry) => entry.active === 0 && entry.loaded)
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    while (used() + bytes > this.options.memoryBudgetBytes) {
      const victim = idle.shift();
      if (!victim) {
        throw new FlexiError('overloaded',
          `Model ${file.name} (about ${mib(bytes)} MiB) does not fit the memory budget (${mib(this.options.memoryBudgetBytes)} MiB) next to the models in use; retry when they are idle.`,
          { retryAfterSeconds: 5 });
      }
      // Leaves the map at once so its bytes count as freed; the native memory follows.
      void this.unload(victim);
    }
  }

  private scheduleExpiry(entry: Entry): void {
    this.cancelTimer(entry);
    const seconds = entry.keepAliveSeconds;
    if (seconds === 0) {
      void this.unload(entry);
      return;
    }
    if (seconds < 0) {
      entry.expiresAt = undefined;
      return;
    }
    const ms = seconds * 1000;
    entry.expiresAt = new Date(this.options.clock.now() + ms);
    entry.timer = this.options.timers.setTimeout(() => {
      entry.timer = undefined;
      if (entry.active === 0) void this.unload(entry);
    }, ms);
  }

  private cancelTimer(entry: Entry): void {
    if (entry.timer !== undefined) this.options.timers.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.expiresAt = undefined;
  }

  private async unload(entry: Entry): Promise<void> {
    this.cancelTimer(entry);
    if (this.entries.get(entry.file.name) === entry) this.entries.delete(entry.file.name);
    const model = await entry.loading.catch(() => undefined);
    await model?.dispose();
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / (1024 * 1024));
}
