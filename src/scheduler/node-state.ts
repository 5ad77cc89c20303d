import type { CircuitBreaker } from './circuit-breaker.js';
import { ConcurrencyLimit, DEFAULT_MAX_CONCURRENCY, type ConcurrencyLimitState, type FirstTokenSample, type LimitSample } from './concurrency-limit.js';

export type NodeKind = 'ollama' | 'openai' | 'sim' | 'embedded';

/**
 * Where the learned limit per model starts when neither the config nor the node says (config
 * schema `nodes[].slots`); `openai` nodes (continuous batching) start at the learner's maximum.
 */
export const DEFAULT_SLOTS: Readonly<Record<NodeKind, number>> = { ollama: 1, openai: 8, sim: 4, embedded: 1 };

/** A model a node can serve, as discovery reports it. */
export interface ModelSpec {
  name: string;
  sizeBytes?: number;
  /** Parallel requests the node runs for this model, if it says. */
  slots?: number;
}

/** A model resident in a node's memory (Ollama /api/ps). */
export interface ResidentModel {
  name: string;
  sizeBytes?: number;
}

/** What the outside world (discovery, /api/ps polls, probes, GPU sampling) reports about a node. */
export interface NodeUpdate {
  /** Result of the last health probe. */
  healthy?: boolean;
  /** Models the node can serve (discovery). */
  models?: readonly ModelSpec[];
  /** Models in memory now. Ignored for `openai` nodes, whose served models are assumed resident. */
  resident?: readonly ResidentModel[];
  /** Parallelism the node reports (e.g. OLLAMA_NUM_PARALLEL); the config's `slots` wins. */
  slots?: number;
  /** Memory budget for models (VRAM), if known. */
  memoryBytes?: number;
  /** Most models the node keeps loaded at once (OLLAMA_MAX_LOADED_MODELS), if known. */
  maxLoadedModels?: number;
}

export interface NodeInit extends NodeUpdate {
  name: string;
  type: NodeKind;
  /** `nodes[].slots` from the config: overrides whatever the node reports. */
  configuredSlots?: number;
  /** `nodes[].models` from the config: the node is only used for these. */
  allowedModels?: readonly string[];
  /**
   * Several gateway replicas share the node's slots: this replica may run only as many requests
   * of a model as it holds slots in the shared budget (`setSharedSlots`), starting from none.
   */
  sharedSlots?: boolean;
}

interface Residency {
  sizeBytes: number | undefined;
  lastUsedMs: number;
  /** Flexi asked the node to load the model ahead of demand and the load has not finished. */
  preloading?: boolean;
}

/** A plan to run a model on a node: which idle models must leave memory first. */
export interface LoadPlan {
  evict: string[];
}

/** Flexi's own view of one node: health, breaker, drain flag, residency and its in-flight count. */
export class NodeState {
  readonly name: string;
  readonly type: NodeKind;
  readonly breaker: CircuitBreaker;
  healthy: boolean;
  draining = false;
  inFlight = 0;
  memoryBytes: number | undefined;
  maxLoadedModels: number | undefined;
  private readonly configuredSlots: number | undefined;
  private reportedSlots: number | undefined;
  private readonly allowed: ReadonlySet<string> | undefined;
  private available: Map<string, ModelSpec> | undefined;
  private readonly resident = new Map<string, Residency>();
  private readonly inFlightByModel = new Map<string, number>();
  private readonly limits = new Map<string, ConcurrencyLimit>();
  /** Slots per model this replica holds in the shared budget; undefined when the node is not shared. */
  private readonly held: Map<string, number> | undefined;
  /** Slots of each model all replicas held at this replica's last take (shared budget only). */
  private readonly heldByAll = new Map<string, number>();

  constructor(init: NodeInit, breaker: CircuitBreaker, nowMs: number) {
    this.held = init.sharedSlots ? new Map() : undefined;
    this.name = init.name;
    this.type = init.type;
    this.breaker = breaker;
    this.healthy = init.healthy ?? true;
    this.configuredSlots = init.configuredSlots;
    this.allowed = init.allowedModels ? new Set(init.allowedModels) : undefined;
    this.apply(init, nowMs);
  }

  apply(update: NodeUpdate, nowMs: number): void {
    if (update.healthy !== undefined) this.healthy = update.healthy;
    if (update.slots !== undefined) this.reportedSlots = update.slots;
    if (update.slots !== undefined || update.models) this.forgetUntrainedLimits();
    if (update.memoryBytes !== undefined) this.memoryBytes = update.memoryBytes;
    if (update.maxLoadedModels !== undefined) this.maxLoadedModels = update.maxLoadedModels;
    if (update.models) this.available = new Map(update.models.map((m) => [m.name, m]));
    if (update.resident) this.applyResident(update.resident, nowMs);
  }

  serves(model: string): boolean {
    if (this.allowed && !this.allowed.has(model)) return false;
    return this.available ? this.available.has(model) : this.allowed !== undefined;
  }

  servedModels(): string[] {
    if (this.available) return [...this.available.keys()].filter((m) => this.serves(m));
    return [...(this.allowed ?? [])];
  }

  /** Healthy, not draining, breaker not open: may get new requests (a half-open one: its probe). */
  isAvailable(nowMs: number): boolean {
    return this.healthy && !this.draining && this.breaker.state(nowMs) !== 'open';
  }

  canTakeNew(nowMs: number): boolean {
    return this.healthy && !this.draining && this.breaker.canAdmit(nowMs);
  }

  /** Requests of `model` this node may run at once now: the learned limit (see concurrency-limit.ts). */
  slotsFor(model: string): number {
    return this.limitFor(model).limit;
  }

  /** The learned limit of `model` here, for status and metrics. */
  concurrencyOf(model: string): ConcurrencyLimitState {
    return this.limitFor(model).state();
  }

  /** A request of `model` got its first token here; true when the limit grew. */
  observeFirstToken(model: string, sample: FirstTokenSample): boolean {
    return this.limitFor(model).observeFirstToken(sample);
  }

  /** A request of `model` finished here: learn from its timings. */
  observe(model: string, sample: LimitSample): void {
    this.limitFor(model).observe(sample);
  }

  /**
   * The operator's `slots` is both the maximum and the start (it is what they expect to run);
   * without it, a number the node reports is the start, else the kind's default, and the
   * learner may go up to `DEFAULT_MAX_CONCURRENCY`. The embedded engine's slots are Flexi's own
   * setting, so nothing is learned there.
   */
  private limitFor(model: string): ConcurrencyLimit {
    let limit = this.limits.get(model);
    if (limit) return limit;
    const reported = this.available?.get(model)?.slots ?? this.reportedSlots;
    const max = this.configuredSlots ?? (this.type === 'embedded' ? reported ?? DEFAULT_SLOTS.embedded : DEFAULT_MAX_CONCURRENCY);
    const initial = this.configuredSlots ?? reported ?? (this.type === 'openai' ? max : DEFAULT_SLOTS[this.type]);
    limit = new ConcurrencyLimit({ initial, max, fixed: this.type === 'embedded' });
    this.limits.set(model, limit);
    return limit;
  }

  /** New facts from the node change where a limit starts; keep only what was learned from requests. */
  private forgetUntrainedLimits(): void {
    for (const [model, limit] of this.limits) if (limit.state().samples === 0) this.limits.delete(model);
  }

  inFlightFor(model: string): number {
    return this.inFlightByModel.get(model) ?? 0;
  }

  hasFreeSlot(model: string): boolean {
    return this.freeSlotsFor(model) > 0;
  }

  /**
   * Requests of `model` that may start here now: the learned limit less those running; with a
   * shared budget, also no more than the slots this replica holds in it.
   */
  freeSlotsFor(model: string): number {
    const limit = this.slotsFor(model);
    const cap = this.held ? Math.min(limit, this.held.get(model) ?? 0) : limit;
    return Math.max(0, cap - this.inFlightFor(model));
  }

  get isShared(): boolean {
    return this.held !== undefined;
  }

  /** Slots of `model` this replica holds in the shared budget (only for a shared node). */
  heldSlotsFor(model: string): number {
    return this.held?.get(model) ?? 0;
  }

  /** Models of which this replica holds shared slots here. */
  heldModels(): string[] {
    return [...(this.held?.keys() ?? [])];
  }

  setHeldSlots(model: string, count: number, heldByAll?: number): void {
    if (!this.held) throw new Error(`node ${this.name} does not share its slots`);
    if (count > 0) this.held.set(model, count);
    else this.held.delete(model);
    if (heldByAll !== undefined) this.heldByAll.set(model, heldByAll);
  }

  /**
   * Requests of `model` on the node as the limit learner should see them: with a shared budget,
   * all replicas' (as Redis counted them at this replica's last take), else this replica's own.
   */
  concurrencyFor(model: string): number {
    return Math.max(this.inFlightFor(model), this.heldByAll.get(model) ?? 0);
  }

  /** In memory or on its way there (a preload counts: its memory is taken). OpenAI-compatible servers (vLLM, llama.cpp server) keep their models loaded. */
  isResident(model: string): boolean {
    return this.type === 'openai' ? this.serves(model) : this.resident.has(model);
  }

  /** Resident and not still being preloaded: a request placed here starts without a load. */
  isReady(model: string): boolean {
    return this.isResident(model) && !this.resident.get(model)?.preloading;
  }

  isPreloading(model: string): boolean {
    return this.resident.get(model)?.preloading === true;
  }

  /** Models this node is preloading now. */
  preloadingModels(): string[] {
    return [...this.resident.entries()].filter(([, r]) => r.preloading).map(([name]) => name);
  }

  /** Flexi starts loading `model` here without a request: it takes memory now, and is ready when `endPreload(…, true)`. */
  beginPreload(model: string, nowMs: number): void {
    this.resident.set(model, { sizeBytes: this.available?.get(model)?.sizeBytes, lastUsedMs: nowMs, preloading: true });
  }

  /** The preload finished (`loaded`) or failed; a failed one leaves memory unless requests hold the model. */
  endPreload(model: string, loaded: boolean): void {
    const residency = this.resident.get(model);
    if (!residency?.preloading) return;
    if (loaded || this.inFlightFor(model) > 0) residency.preloading = undefined;
    else this.resident.delete(model);
  }

  residentModels(): string[] {
    return this.type === 'openai' ? this.servedModels() : [...this.resident.keys()];
  }

  residentBytes(): number {
    let used = 0;
    for (const r of this.resident.values()) used += r.sizeBytes ?? 0;
    return used;
  }

  /**
   * How `model` could run here: resident → no eviction; otherwise it must fit in memory and
   * under the loaded-model limit, after evicting idle models (least recently used first) if
   * needed. Busy models (and models being preloaded) are never evicted: undefined means the request waits. Unknown sizes
   * count as 0 — the node's own scheduler is the last line of defence.
   */
  planLoad(model: string): LoadPlan | undefined {
    if (this.isResident(model)) return { evict: [] };
    const size = this.available?.get(model)?.sizeBytes ?? 0;
    let used = this.residentBytes();
    let count = this.resident.size;
    const fits = () => (this.memoryBytes === undefined || used + size <= this.memoryBytes)
      && (this.maxLoadedModels === undefined || count + 1 <= this.maxLoadedModels);
    if (fits()) return { evict: [] };
    const idle = [...this.resident.entries()]
      .filter(([name, residency]) => this.inFlightFor(name) === 0 && !residency.preloading)
      .sort((a, b) => a[1].lastUsedMs - b[1].lastUsedMs);
    const evict: string[] = [];
    for (const [name, residency] of idle) {
      evict.push(name);
      used -= residency.sizeBytes ?? 0;
      count--;
      if (fits()) return { evict };
    }
    return undefined;
  }

  /** A request starts: the model becomes (or stays) resident; the plan's evictions are assumed done. */
  begin(model: string, plan: LoadPlan, nowMs: number): void {
    for (const name of plan.evict) this.resident.delete(name);
    const residency = this.resident.get(model);
    if (residency) residency.lastUsedMs = nowMs;
    else if (this.type !== 'openai') {
      this.resident.set(model, { sizeBytes: this.available?.get(model)?.sizeBytes, lastUsedMs: nowMs });
    }
    this.inFlightByModel.set(model, this.inFlightFor(model) + 1);
    this.inFlight++;
  }

  end(model: string, nowMs: number): void {
    const count = this.inFlightFor(model);
    if (count <= 1) this.inFlightByModel.delete(model);
    else this.inFlightByModel.set(model, count - 1);
    if (count > 0) this.inFlight--;
    const residency = this.resident.get(model);
    if (residency) residency.lastUsedMs = nowMs;
  }

  private applyResident(list: readonly ResidentModel[], nowMs: number): void {
    const previous = new Map(this.resident);
    this.resident.clear();
    for (const model of list) {
      this.resident.set(model.name, {
        sizeBytes: model.sizeBytes ?? this.available?.get(model.name)?.sizeBytes,
        lastUsedMs: previous.get(model.name)?.lastUsedMs ?? nowMs,
      });
    }
    // A model still loading does not show in /api/ps yet, but its requests or a preload hold it in memory.
    for (const [name, residency] of previous) {
      // Once the node lists a preloading model, it is there: ready, whatever the preload call says later.
      if (!this.resident.has(name) && (this.inFlightFor(name) > 0 || residency.preloading)) this.resident.set(name, residency);
    }
  }
}
