import { FlexiError } from '../core/errors.js';
import type { Clock } from '../lib/clock.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { IndexedHeap } from './indexed-heap.js';
import { Lease, type LeaseOutcome, type LeaseOwner, type LeaseUsage } from './lease.js';
import { NodeState, type NodeInit, type NodeUpdate } from './node-state.js';
import { choosePlacement, choosePreloadNode, noIdleReplica, type Placement, type PlacementMode } from './placement.js';
import {
  ModelState, Waiter, emptyCounters, type AcquireRequest, type QueuePosition, type RefusalReason,
  type SchedulerCounters, type SchedulerSnapshot, type SetTimer, type Ticket,
} from './scheduler-types.js';
import { DEFAULT_SETTINGS, type SchedulerSettings } from './settings.js';
import { WaitHistograms } from './wait-histogram.js';
import { Alarm, realTimer } from './alarm.js';
import { snapshotOf } from './snapshot.js';
import { modelSlots } from './newcomer-reserve.js';
import { FALLBACK_RETRY_AFTER_S, clampRetryAfter, drainPerSecond, estimateWaitMs, userBacklogSeconds, validateRequest } from './estimates.js';

/** A request may be placed twice at most: once, and once more after failing before its first byte. */
const MAX_ATTEMPTS = 2;

export interface SchedulerOptions {
  clock: Clock;
  settings?: Partial<SchedulerSettings>;
  nodes?: readonly NodeInit[];
  /** Timer for deadlines and breaker cool-downs; default `setTimeout` (unref'd). Tests call `tick()`. */
  setTimer?: SetTimer;
  /**
   * Node I/O: load `model` on `node` without a request; resolves once loaded, rejects if it
   * failed, resolves `'skipped'` when it sent nothing because another replica is loading the
   * same model there. Without it (or with `settings.preloadReplicas` false) nothing is preloaded.
   */
  preload?: (node: string, model: string) => Promise<void | 'skipped'>;
  /**
   * Several gateway replicas share every node's slots (shared-slots.md): a request starts only
   * in a slot this replica holds in the shared budget, given with `setSharedSlots`.
   */
  sharedSlots?: boolean;
}

/** One node's slots of one model, as the shared slot budget sees them. */
export interface SlotHolding {
  node: string;
  model: string;
  /** The node's learned (or configured) limit for the model. */
  limit: number;
  /** Requests of the model running there from this replica. */
  inFlight: number;
  /** Slots of the shared budget this replica holds there. */
  held: number;
}


/**
 * Admission, fair queueing, placement and node health for every model. Pure logic: time comes
 * from the injected clock, node facts from `updateNode`, and nothing here does I/O. See README.md.
 */
export class Scheduler implements LeaseOwner {
  readonly settings: SchedulerSettings;
  private readonly clock: Clock;
  private readonly nodes = new Map<string, NodeState>();
  private readonly models = new Map<string, ModelState>();
  /** Models with anyone waiting: the only ones a freed slot is offered to. */
  private readonly backlogged = new Set<ModelState>();
  private readonly userInFlight = new Map<string, number>();
  private readonly deadlines = new IndexedHeap<Waiter>(
    (a, b) => a.deadlineAtMs < b.deadlineAtMs,
    (w) => w.deadlineIndex,
    (w, i) => { w.deadlineIndex = i; },
  );
  private readonly histograms = new WaitHistograms();
  private readonly counters: SchedulerCounters = emptyCounters();
  private elapsedMs = 0;
  private lastClockMs: number | undefined;
  private readonly alarm: Alarm;
  private closed = false;
  private readonly preload: SchedulerOptions['preload'];
  private readonly sharedSlots: boolean;

  constructor(options: SchedulerOptions) {
    this.clock = options.clock;
    this.sharedSlots = options.sharedSlots ?? false;
    this.preload = options.preload;
    this.alarm = new Alarm(options.setTimer ?? realTimer, (dueAtMs) => this.onTimer(dueAtMs));
    this.settings = { ...DEFAULT_SETTINGS, ...options.settings };
    if (!this.settings.classes.some((c) => c.name === this.settings.defaultClass)) {
      throw new Error(`scheduler: default class "${this.settings.defaultClass}" is not one of the classes`);
    }
    for (const node of options.nodes ?? []) this.addNode(node);
  }

  /** Queues a request; the ticket's `lease` settles when it starts or is refused. */
  enqueue(request: AcquireRequest): Ticket {
    const now = this.begin();
    let waiter: Waiter | undefined;
    const lease = new Promise<Lease>((resolve, reject) => {
      try {
        waiter = this.admit(request, now, resolve, reject);
      } catch (error) {
        reject(error);
      }
    });
    this.rearm();
    return { lease, position: () => (waiter ? this.positionOf(waiter) : undefined) };
  }

  acquire(request: AcquireRequest): Promise<Lease> {
    return this.enqueue(request).lease;
  }

  addNode(init: NodeInit): void {
    if (this.nodes.has(init.name)) throw new FlexiError('conflict', `A node named "${init.name}" already exists.`);
    const breaker = new CircuitBreaker(this.settings.breakerFailures, this.settings.breakerCooldownMs);
    this.nodes.set(init.name, new NodeState({ ...init, sharedSlots: this.sharedSlots }, breaker, this.begin()));
    this.dispatchAll();
  }

  /** New facts about a node: probe result, discovered models, /api/ps residency, memory. */
  updateNode(name: string, update: NodeUpdate): void {
    const now = this.begin();
    this.getNode(name).apply(update, now);
    this.dispatchAll();
  }

  /** The node is gone: running leases still release normally; waiters no node can serve are refused. */
  removeNode(name: string): void {
    this.getNode(name);
    this.nodes.delete(name);
    for (const state of [...this.backlogged]) {
      if ([...this.nodes.values()].some((n) => n.serves(state.name))) continue;
      const error = new FlexiError('backend_unavailable', `No node serves ${state.name} any more.`, { retryAfterSeconds: FALLBACK_RETRY_AFTER_S });
      for (const w of [...state.queue.entries(), ...state.retryLane]) this.giveUp(w, error);
    }
    this.dispatchAll();
  }

  /** No new requests go to the node; running ones finish. */
  drain(name: string): void {
    this.begin();
    this.getNode(name).draining = true;
    this.rearm();
  }

  undrain(name: string): void {
    this.begin();
    this.getNode(name).draining = false;
    this.dispatchAll();
  }

  /**
   * Shared slot budget: this replica now holds `count` slots of `model` on `node`; waiting requests
   * may start in them. `heldByAll`: the slots all replicas hold there after a take (the node's real
   * concurrency, which the limit learner needs: it would otherwise see only this replica's share).
   */
  setSharedSlots(node: string, model: string, count: number, heldByAll?: number): void {
    this.begin();
    this.getNode(node).setHeldSlots(model, count, heldByAll);
    this.dispatchAll(this.models.get(model));
  }

  /** Requests of `model` waiting here (queue and retry lane): the demand for shared slots. */
  waitingFor(model: string): number {
    return this.models.get(model)?.waiting ?? 0;
  }

  /** Models with requests waiting. */
  waitingModels(): string[] {
    return [...this.backlogged].map((state) => state.name);
  }

  /**
   * Nodes where a waiting request of `model` could start if this replica held one more slot:
   * serving, available, the model resident or loadable; ready replicas first, then least loaded.
   */
  slotCandidates(model: string): SlotHolding[] {
    const now = this.begin();
    const candidates = [...this.nodes.values()].filter((node) => node.serves(model) && node.canTakeNew(now)
      && node.inFlightFor(model) < node.slotsFor(model) && (node.isResident(model) || node.planLoad(model) !== undefined));
    const load = (node: NodeState) => (node.isReady(model) ? 0 : 1e3) + node.inFlightFor(model) / node.slotsFor(model);
    return candidates.sort((a, b) => load(a) - load(b)).map((node) => this.holdingOf(node, model));
  }

  /** Every node and model where this replica holds shared slots. */
  sharedHoldings(): SlotHolding[] {
    const holdings: SlotHolding[] = [];
    for (const node of this.nodes.values()) {
      for (const model of node.heldModels()) holdings.push(this.holdingOf(node, model));
    }
    return holdings;
  }

  /** The holding of one node and model (held 0 when none). */
  holding(node: string, model: string): SlotHolding {
    return this.holdingOf(this.getNode(node), model);
  }

  private holdingOf(node: NodeState, model: string): SlotHolding {
    return { node: node.name, model, limit: node.slotsFor(model), inFlight: node.inFlightFor(model), held: node.heldSlotsFor(model) };
  }

  /** Expires waiters whose deadline passed and offers slots freed by breaker cool-downs. */
  tick(): void {
    this.begin();
    this.dispatchAll();
  }

  private onTimer(dueAtMs: number): void {
    // The timer proves that much time passed even if the clock was set back meanwhile.
    this.begin(dueAtMs);
    this.dispatchAll();
  }

  snapshot(): SchedulerSnapshot {
    const now = this.begin();
    return snapshotOf({
      atMs: this.clock.now(), nowMs: now, nodes: this.nodes.values(), models: this.models.values(),
      classes: this.settings.classes, activeUsers: this.userInFlight.size, counters: this.counters,
      histograms: this.histograms, drainPerSecond: (state) => this.drainPerSecond(state, now),
    });
  }

  /** Refuses everything waiting and new requests (shutdown). Running leases may still release. */
  close(): void {
    this.begin();
    this.closed = true;
    const error = new FlexiError('backend_unavailable', 'Flexi is shutting down.', { retryAfterSeconds: FALLBACK_RETRY_AFTER_S });
    for (const state of [...this.backlogged]) {
      for (const w of [...state.queue.entries(), ...state.retryLane]) this.giveUp(w, error);
    }
    this.alarm.set(undefined, this.elapsedMs);
  }

  /** @internal via Lease */
  markFirstToken(lease: Lease): void {
    const context = lease.context;
    if (context.firstTokenAtMs !== undefined) return;
    const now = this.begin();
    context.firstTokenAtMs = now;
    const sample = { concurrency: context.concurrency, ttftMs: now - context.startedAtMs, cold: context.cold };
    // A higher limit frees slots now: waiting requests start without waiting for a release.
    if (context.nodeState.observeFirstToken(lease.model, sample)) this.dispatchAll(this.models.get(lease.model));
  }

  /** @internal via Lease */
  finishLease(lease: Lease, outcome: LeaseOutcome, usage?: LeaseUsage): void {
    const now = this.begin();
    const context = lease.context;
    context.detach?.();
    context.detach = undefined;
    const node = context.nodeState;
    if (outcome === 'ok') observeLimit(lease, usage, now);
    node.end(lease.model, now);
    if (outcome === 'ok') node.breaker.onSuccess();
    else if (outcome === 'failed') node.breaker.onFailure(now, context.isProbe);
    else node.breaker.onNeutral(context.isProbe);
    const state = this.models.get(lease.model)!;
    state.inFlight--;
    state.inFlightByClass[context.classIndex]!--;
    state.reserve.onEnd(context.userId, now);
    // Failed requests free slots fast and would flatter the drain rate; cancelled ones did free a slot.
    if (outcome !== 'failed') state.drain.recordCompletion(now, outcome === 'ok' ? now - context.startedAtMs : undefined);
    if (outcome === 'ok') this.counters.completed++;
    else if (outcome === 'failed') this.counters.failed++;
    else this.counters.cancelledRunning++;
    const running = (this.userInFlight.get(context.userId) ?? 1) - 1;
    if (running > 0) this.userInFlight.set(context.userId, running);
    else this.userInFlight.delete(context.userId);
    for (const other of this.backlogged) other.queue.unblockUser(context.userId);
    this.dispatchAll(state);
  }

  /** @internal via Lease */
  retryLease(lease: Lease, beforeFirstByte: boolean): Promise<Lease | undefined> {
    const now = this.begin();
    const context = lease.context;
    const exclude = new Set(context.exclude ?? []);
    exclude.add(lease.node);
    const retry = beforeFirstByte && this.settings.retryBeforeFirstByte && lease.attempt < MAX_ATTEMPTS
      && !this.closed && !context.signal?.aborted
      && [...this.nodes.values()].some((n) => n.serves(lease.model) && !exclude.has(n.name) && n.isAvailable(now));
    let result: Promise<Lease | undefined> = Promise.resolve(undefined);
    if (retry) {
      this.counters.retries++;
      const state = this.models.get(lease.model)!;
      result = new Promise((resolve) => {
        // Executor runs now: the waiter is in the retry lane before finishLease offers the freed slot.
        const waiter = new Waiter({
          userId: context.userId, classIndex: context.classIndex, weight: context.weight, maxInFlight: context.maxInFlight,
          state, enqueuedAtMs: now, deadlineAtMs: now + this.settings.classes[context.classIndex]!.maxWaitMs,
          signal: context.signal, exclude, attempt: lease.attempt + 1, onGrant: resolve, onGiveUp: () => resolve(undefined),
        });
        state.retryLane.add(waiter);
        this.wait(waiter);
      });
    }
    this.finishLease(lease, 'failed');
    return result;
  }

  private admit(request: AcquireRequest, now: number, resolve: (lease: Lease) => void, reject: (error: FlexiError) => void): Waiter {
    const invalid = validateRequest(request, this.settings);
    if (invalid) this.refuse('invalid', new FlexiError('invalid_request', invalid.message, { param: invalid.param }));
    const classIndex = this.settings.classes.findIndex((c) => c.name === (request.priorityClass ?? this.settings.defaultClass));
    const weight = request.weight ?? 1;
    const maxInFlight = request.maxInFlight ?? this.settings.maxInFlightPerUser;
    if (request.signal?.aborted) this.refuse('aborted', new FlexiError('client_closed_request'));
    const model = request.model;
    const serving = [...this.nodes.values()].filter((n) => n.serves(model));
    if (serving.length === 0) {
      this.refuse('unknown_model', new FlexiError('model_not_found', `No node serves the model "${model}".`, { param: 'model' }));
    }
    if (this.closed) this.refuse('no_backend', new FlexiError('backend_unavailable', 'Flexi is shutting down.', { retryAfterSeconds: FALLBACK_RETRY_AFTER_S }));
    if (!serving.some((n) => n.isAvailable(now))) {
      const reopen = Math.min(...serving.map((n) => (n.healthy && !n.draining ? n.breaker.reopensAtMs() ?? Infinity : Infinity)));
      const seconds = Number.isFinite(reopen) ? (reopen - now) / 1000 : undefined;
      this.refuse('no_backend', new FlexiError('backend_unavailable', `Every node serving "${model}" is down, draining or failing.`, { retryAfterSeconds: this.clampRetryAfter(seconds) }));
    }
    const state = this.modelState(model);
    state.lastAskedByClass[classIndex] = now;
    state.reserve.noteActivity(request.userId, now);
    const queue = state.queue;
    const userQueued = queue.userQueued(request.userId);
    const priorityClass = this.settings.classes[classIndex]!;
    const maxWaitMs = request.maxWaitMs ?? priorityClass.maxWaitMs;
    const ahead = queue.aheadOfNew(request.userId, classIndex);
    const waitMs = this.estimateWaitMs(state, now, ahead);
    if (waitMs !== undefined && waitMs > maxWaitMs) {
      if (userQueued > 0 && userQueued >= queue.fairShare(request.userId, weight, queue.size + 1)) {
        this.refuse('over_fair_share', this.overShareError(state, now, request.userId, weight));
      }
      this.refuse('deadline', new FlexiError('overloaded', `"${model}" cannot start within ${maxWaitMs} ms (estimated wait ${Math.round(waitMs)} ms).`, { retryAfterSeconds: this.overloadRetryAfter(state, now, ahead) }));
    }
    if (queue.size >= this.settings.maxQueuePerModel) {
      if (userQueued >= queue.fairShare(request.userId, weight, this.settings.maxQueuePerModel)) {
        this.refuse('over_fair_share', this.overShareError(state, now, request.userId, weight));
      }
      const heaviest = queue.heaviestUser();
      if (!heaviest || heaviest.queued / heaviest.weight <= (userQueued + 1) / weight) {
        this.refuse('queue_full', new FlexiError('overloaded', `The queue for "${model}" is full.`, { retryAfterSeconds: this.overloadRetryAfter(state, now, ahead) }));
      }
      const victim = queue.newestOf(heaviest.userId)!;
      this.counters.refused.pushed_out++;
      this.giveUp(victim, this.overShareError(state, now, heaviest.userId, heaviest.weight));
    }
    const waiter = new Waiter({
      userId: request.userId, classIndex, weight, maxInFlight, state, enqueuedAtMs: now, deadlineAtMs: now + maxWaitMs,
      signal: request.signal, attempt: 1, onGrant: resolve, onGiveUp: reject,
    });
    queue.enqueue(waiter);
    this.counters.admitted++;
    this.wait(waiter);
    this.dispatch(state, now);
    return waiter;
  }

  private refuse(reason: RefusalReason, error: FlexiError): never {
    this.counters.refused[reason]++;
    throw error;
  }

  /** Registers a new waiter's deadline and abort listener. */
  private wait(waiter: Waiter): void {
    this.deadlines.push(waiter);
    const signal = waiter.signal;
    if (!signal) return;
    const onAbort = () => {
      this.begin();
      this.counters.cancelledWaiting++;
      this.giveUp(waiter, new FlexiError('client_closed_request'));
      this.rearm();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    waiter.detach = () => signal.removeEventListener('abort', onAbort);
  }

  /** Takes a waiter out of wherever it waits and settles it with `error`. */
  private giveUp(waiter: Waiter, error: FlexiError): void {
    const state = waiter.state;
    if (!state.queue.remove(waiter) && !state.retryLane.delete(waiter)) return;
    this.deadlines.remove(waiter);
    waiter.detach?.();
    waiter.detach = undefined;
    this.touch(state);
    waiter.onGiveUp(error);
  }

  private dispatchAll(first?: ModelState): void {
    const now = this.elapsedMs;
    if (first) this.dispatch(first, now);
    for (const state of [...this.backlogged]) if (state !== first) this.dispatch(state, now);
    this.rearm();
  }

  /** Starts waiters of one model while a node can take them: retry lane first, then the fair queue. */
  private dispatch(state: ModelState, now: number): void {
    for (const waiter of state.retryLane) {
      const placement = choosePlacement(this.nodes.values(), state.name, now, { exclude: waiter.exclude, waiting: state.waiting, mode: this.modeOf(waiter) });
      if (placement) {
        state.retryLane.delete(waiter);
        this.grant(waiter, placement, now);
      }
    }
    // Users the newcomer reserve held back last time are offered again: slots or company may have changed.
    for (const userId of state.reserve.beginDispatch()) state.queue.unblockUser(userId);
    const slots = this.settings.newcomerReserve > 0 ? modelSlots(this.nodes.values(), state.name, now, this.sharedSlots) : undefined;
    const canStart = (w: Waiter) => (this.userInFlight.get(w.userId) ?? 0) < w.maxInFlight
      && (!slots || state.reserve.admits(w.userId, slots.free, slots.capacity, now));
    const classOpen = (classIndex: number) => {
      const share = this.settings.classes[classIndex]!.maxShare ?? 1;
      if (share >= 1 || this.lendsIdle(state, classIndex, now)) return true;
      const capacity = this.modelCapacity(state.name, now);
      return capacity === 0 || state.inFlightByClass[classIndex]! < Math.max(1, Math.floor(share * capacity));
    };
    for (let head = state.queue.peek(canStart, classOpen); head; head = state.queue.peek(canStart, classOpen)) {
      const placement = choosePlacement(this.nodes.values(), state.name, now, { waiting: state.waiting, mode: this.modeOf(head) });
      if (!placement) break;
      state.queue.start(head);
      this.grant(head, placement, now);
      if (!slots) continue;
      state.reserve.afterStart(head.userId, slots.free, slots.capacity);
      slots.free--;
    }
    this.touch(state);
  }

  /** When a class now held back by its share, with requests waiting, may next borrow idle slots. */
  private nextLendAtMs(now: number): number | undefined {
    const after = this.settings.lendIdleAfterMs;
    if (after <= 0) return undefined;
    let next: number | undefined;
    for (const state of this.backlogged) {
      this.settings.classes.forEach((c, classIndex) => {
        if ((c.maxShare ?? 1) >= 1 || state.queue.queuedIn(classIndex) === 0) return;
        const lendAt = Math.max(...state.lastAskedByClass.slice(0, classIndex)) + after;
        if (lendAt > now && (next === undefined || lendAt < next)) next = lendAt;
      });
    }
    return next;
  }

  /** No higher class has asked for the model for `lendIdleAfterMs`: its share does not bind. */
  private lendsIdle(state: ModelState, classIndex: number, now: number): boolean {
    const after = this.settings.lendIdleAfterMs;
    if (after <= 0) return false;
    for (let higher = 0; higher < classIndex; higher++) if (now - state.lastAskedByClass[higher]! < after) return false;
    return true;
  }

  private modeOf(waiter: Waiter): PlacementMode {
    return this.settings.classes[waiter.classIndex]!.placement ?? 'spread';
  }

  /**
   * A `spread` request just started and no ready replica of its model is idle any more: load the
   * model on one more node ahead of demand, if one takes it without evicting anything. The
   * node counts the model as resident (memory taken) but not ready until the load is done, so
   * requests keep going to ready replicas meanwhile. One preload per such start at most.
   */
  private maybePreload(model: string, now: number): void {
    const preload = this.preload;
    if (!preload || !this.settings.preloadReplicas || this.closed) return;
    if (!noIdleReplica(this.nodes.values(), model, now)) return;
    const node = choosePreloadNode(this.nodes.values(), model, now);
    if (!node) return;
    node.beginPreload(model, now);
    this.counters.preloads++;
    const finish = (outcome: 'loaded' | 'failed' | 'skipped') => {
      this.begin();
      if (outcome === 'failed') this.counters.preloadsFailed++;
      if (outcome === 'skipped') this.counters.preloadsSkipped++;
      // A node removed meanwhile is no longer ours to update.
      if (this.nodes.get(node.name) !== node) return;
      // Skipped: another replica's load is under way; this one keeps requests off the node until its probe sees the model.
      node.endPreload(model, outcome === 'loaded');
      this.dispatchAll();
    };
    Promise.resolve().then(() => preload(node.name, model))
      .then((result) => finish(result === 'skipped' ? 'skipped' : 'loaded'), () => finish('failed'));
  }

  /** Slots of a model over the nodes that may take new requests for it now. */
  private modelCapacity(model: string, now: number): number {
    let slots = 0;
    for (const node of this.nodes.values()) if (node.serves(model) && node.isAvailable(now)) slots += node.slotsFor(model);
    return slots;
  }

  private grant(waiter: Waiter, placement: Placement, now: number): void {
    const state = waiter.state;
    this.deadlines.remove(waiter);
    waiter.detach?.();
    waiter.detach = undefined;
    const node = placement.node;
    const cold = !node.isReady(state.name);
    node.begin(state.name, placement.plan, now);
    this.counters.evictionsImplied += placement.plan.evict.length;
    const isProbe = node.breaker.onPlaced(now);
    state.inFlight++;
    state.inFlightByClass[waiter.classIndex]!++;
    state.reserve.onStart(waiter.userId, now);
    this.userInFlight.set(waiter.userId, (this.userInFlight.get(waiter.userId) ?? 0) + 1);
    const queueMs = now - waiter.enqueuedAtMs;
    this.histograms.observe(state.name, this.settings.classes[waiter.classIndex]!.name, queueMs);
    this.counters.started++;
    const lease = new Lease(this, node.name, state.name, queueMs, waiter.attempt, {
      nodeState: node, userId: waiter.userId, classIndex: waiter.classIndex, weight: waiter.weight,
      maxInFlight: waiter.maxInFlight, signal: waiter.signal, startedAtMs: now, isProbe, exclude: waiter.exclude, detach: undefined,
      concurrency: node.concurrencyFor(state.name), cold, firstTokenAtMs: undefined,
    });
    const signal = waiter.signal;
    if (signal) {
      const onAbort = () => lease.abandon();
      signal.addEventListener('abort', onAbort, { once: true });
      lease.context.detach = () => signal.removeEventListener('abort', onAbort);
    }
    waiter.onGrant(lease);
    if (this.modeOf(waiter) === 'spread') this.maybePreload(state.name, now);
  }

  private touch(state: ModelState): void {
    if (state.waiting > 0) this.backlogged.add(state);
    else this.backlogged.delete(state);
    state.drain.setBacklogged(this.elapsedMs, state.queue.size > 0);
  }

  private positionOf(waiter: Waiter): QueuePosition | undefined {
    if (!waiter.flow) return undefined;
    const now = this.begin();
    const ahead = waiter.state.queue.aheadOf(waiter);
    return { ahead, estimatedWaitMs: this.estimateWaitMs(waiter.state, now, ahead) };
  }

  private estimateWaitMs(state: ModelState, now: number, ahead: number): number | undefined {
    return estimateWaitMs(this.nodes.values(), state, now, ahead);
  }

  private drainPerSecond(state: ModelState, now: number): number | undefined {
    return drainPerSecond(this.nodes.values(), state, now);
  }

  /** 503: the backlog ahead of a new request drains at the measured rate. */
  private overloadRetryAfter(state: ModelState, now: number, ahead: number): number {
    const rate = this.drainPerSecond(state, now);
    return this.clampRetryAfter(rate === undefined ? undefined : (ahead + 1) / rate);
  }

  /** 429: the user's own backlog drains at their share (weight ÷ Σ weights) of the rate. */
  private overShareError(state: ModelState, now: number, userId: string, weight: number): FlexiError {
    const queued = state.queue.userQueued(userId);
    const seconds = userBacklogSeconds(this.drainPerSecond(state, now), queued, state.queue.fairShare(userId, weight, 1));
    return new FlexiError('rate_limit_exceeded', `You already have ${queued} requests waiting for "${state.name}", your fair share of the queue.`, { retryAfterSeconds: this.clampRetryAfter(seconds) });
  }

  private clampRetryAfter(seconds: number | undefined): number {
    return clampRetryAfter(seconds, this.settings.maxRetryAfterSeconds);
  }

  private modelState(model: string): ModelState {
    let state = this.models.get(model);
    if (!state) {
      // Shared slots: the reserve decides who gets a slot this replica holds, so only users running or
      // waiting here now count as around; a slot held back goes to another replica, not idle (README).
      state = new ModelState(model, this.settings.classes.length, this.settings.drainRateWindowMs, {
        share: this.settings.newcomerReserve, windowMs: this.sharedSlots ? 0 : this.settings.newcomerWindowMs,
      });
      this.models.set(model, state);
    }
    return state;
  }

  private getNode(name: string): NodeState {
    const node = this.nodes.get(name);
    if (!node) throw new FlexiError('not_found', `No node named "${name}".`);
    return node;
  }

  /**
   * Reads the clock and expires waiters whose deadline passed. Scheduler time only moves
   * forward: a clock that jumps back stalls nothing and shortens nothing, it just adds no time.
   */
  private begin(atLeastMs = 0): number {
    const clockMs = this.clock.monotonicMs();
    if (this.lastClockMs !== undefined) this.elapsedMs += Math.max(0, clockMs - this.lastClockMs);
    this.elapsedMs = Math.max(this.elapsedMs, atLeastMs);
    this.lastClockMs = clockMs;
    const now = this.elapsedMs;
    for (let w = this.deadlines.peek(); w && w.deadlineAtMs <= now; w = this.deadlines.peek()) {
      this.counters.expired++;
      const priorityClass = this.settings.classes[w.classIndex]!;
      const ahead = w.state.queue.aheadOfNew(w.userId, w.classIndex);
      this.giveUp(w, new FlexiError('overloaded', `No slot for "${w.state.name}" within ${Math.round(w.deadlineAtMs - w.enqueuedAtMs)} ms (class ${priorityClass.name}).`, { retryAfterSeconds: this.overloadRetryAfter(w.state, now, ahead) }));
    }
    return now;
  }

  /** Keeps one timer, set for the next deadline or breaker cool-down that could change anything. */
  private rearm(): void {
    const now = this.elapsedMs;
    let next = this.deadlines.peek()?.deadlineAtMs;
    if (this.backlogged.size > 0) {
      for (const node of this.nodes.values()) {
        const reopen = node.breaker.reopensAtMs();
        if (reopen !== undefined && reopen > now && (next === undefined || reopen < next)) next = reopen;
      }
      const lendAt = this.nextLendAtMs(now);
      if (lendAt !== undefined && (next === undefined || lendAt < next)) next = lendAt;
      for (const state of this.backlogged) {
        const reserveLendAt = state.reserve.lendsAtMs(now);
        if (reserveLendAt !== undefined && (next === undefined || reserveLendAt < next)) next = reserveLendAt;
      }
    }
    this.alarm.set(this.closed ? undefined : next, now);
  }
}

/** A request that ran to its end teaches its node's limit for the model (see concurrency-limit.ts). */
function observeLimit(lease: Lease, usage: LeaseUsage | undefined, now: number): void {
  const { firstTokenAtMs, startedAtMs, concurrency, cold, nodeState } = lease.context;
  if (!usage || firstTokenAtMs === undefined) return;
  const ttftMs = firstTokenAtMs - startedAtMs;
  // A load the placement did not foresee (the node had unloaded the model) is not a queue either.
  const loaded = usage.loadMs !== undefined && usage.loadMs > ttftMs / 2;
  nodeState.observe(lease.model, {
    concurrency, cold: cold || loaded, ttftMs, decodeMs: now - firstTokenAtMs,
    completionTokens: usage.completionTokens, promptTokens: usage.promptTokens,
  });
}
