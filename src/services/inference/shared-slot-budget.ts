import { createHash, randomBytes } from 'node:crypto';
import { reserveSlots } from '../../scheduler/newcomer-reserve.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { HeldSlot, SlotStore } from '../../store/slot-store.js';

export interface SharedSlotBudgetOptions {
  /** A scheduler built with `sharedSlots: true`: it starts requests only in slots given here. */
  scheduler: Scheduler;
  store: SlotStore;
  /** Names this replica's slots (`cluster.replica_id`). */
  replicaId: string;
  /** `cluster.slot_lease_ttl_ms`: a slot not refreshed for this long is free again. */
  ttlMs: number;
  /** `cluster.slot_poll_ms`: how often waiting requests ask for a slot again. */
  pollMs: number;
  /** `scheduler.newcomer_reserve`: share of a node's slots kept for users holding none while one waits. */
  newcomerReserve: number;
  nowMs?: () => number;
  onError?: (error: unknown) => void;
}

interface Slot extends HeldSlot {
  model: string;
}

/** Users are opaque in Redis: a short hash of the subject is all the newcomer rule needs to compare. */
function opaqueUser(subject: string): string {
  return createHash('sha256').update(subject).digest('base64url').slice(0, 16);
}

/**
 * This replica's side of the shared slot budget (several gateway replicas over the same nodes).
 * The scheduler stays pure and decides who runs next among this replica's waiting requests; this
 * class decides how many slots of each node the replica may fill, by taking them from the
 * `SlotStore` (Redis) one at a time and giving each back when its request ends. So the sum of
 * requests in flight on a node, over all replicas, never exceeds its limit.
 *
 * Fair share across replicas: the take names the users waiting here, newcomers first; Redis
 * keeps who holds slots and who waits, and refuses a take for users who already hold one when
 * only the node's newcomer reserve is left and a user with nothing running waits at another
 * replica. A slot always goes back to Redis when its request ends (never straight to the next
 * local request), so every replica's waiting requests compete for it. See docs/operations.md.
 */
export class SharedSlotBudget {
  private readonly held = new Map<string, Slot>();
  /** Waiting and running requests here per model and user (opaque ids), for the takes' user lists. */
  private readonly waiting = new Map<string, Map<string, number>>();
  private readonly running = new Map<string, Map<string, number>>();
  private readonly pumping = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  /** Held slots that were idle at the last tick (returned if still idle at the next). */
  private idleAtLastTick = new Set<string>();
  private readonly nowMs: () => number;
  private readonly pollTimer: NodeJS.Timeout;
  private readonly refreshTimer: NodeJS.Timeout;
  private sequence = 0;
  private readonly slotPrefix: string;
  private closed = false;
  private lastErrorAtMs = -Infinity;

  constructor(private readonly options: SharedSlotBudgetOptions) {
    this.nowMs = options.nowMs ?? Date.now;
    this.slotPrefix = `${options.replicaId}.${randomBytes(4).toString('hex')}`;
    this.pollTimer = setInterval(() => this.tick(), options.pollMs);
    this.pollTimer.unref();
    this.refreshTimer = setInterval(() => void this.refresh(), Math.max(100, Math.floor(options.ttlMs / 3)));
    this.refreshTimer.unref();
  }

  /** A request for `model` waits here; call the returned function once it stops waiting. */
  noteWaiting(model: string, subject: string): () => void {
    const done = this.count(this.waiting, model, opaqueUser(subject));
    this.pump(model);
    return done;
  }

  /** A request for `model` runs here; call the returned function once it ends. */
  noteRunning(model: string, subject: string): () => void {
    return this.count(this.running, model, opaqueUser(subject));
  }

  /**
   * A lease on `node` is about to end: one slot goes back to the budget first, so the scheduler
   * cannot hand it to the next local request without asking Redis (which would starve the other
   * replicas' waiting users).
   */
  giveBack(node: string, model: string): void {
    const slot = [...this.held.values()].find((s) => s.node === node && s.model === model);
    if (!slot) return;
    this.held.delete(slot.slotId);
    this.options.scheduler.setSharedSlots(node, model, this.heldOn(node, model));
    this.options.store.release(model, [slot.slotId]).catch((error: unknown) => this.fail(error));
    this.pump(model);
  }

  /** Returns slots held beyond the requests running (a lease that ended by its client's abort). */
  settle(node: string, model: string): void {
    const holding = this.options.scheduler.holding(node, model);
    for (let surplus = holding.held - holding.inFlight; surplus > 0; surplus--) this.giveBack(node, model);
  }

  /** What the ids of this replica's slots start with (to tell them from the other replicas' in the store). */
  get slotIdPrefix(): string {
    return `${this.slotPrefix}.`;
  }

  /** Slots held here now (status, tests). */
  heldSlots(): number {
    return this.held.size;
  }

  /** Slots held here now per node and model (`flexi_cluster_slots_local`). */
  heldPerNodeModel(): { node: string; model: string; slots: number }[] {
    const counts = new Map<string, { node: string; model: string; slots: number }>();
    for (const slot of this.held.values()) {
      const key = `${slot.node}\n${slot.model}`;
      const entry = counts.get(key) ?? { node: slot.node, model: slot.model, slots: 0 };
      entry.slots++;
      counts.set(key, entry);
    }
    return [...counts.values()];
  }

  /** Stops asking for slots and gives back every slot held (shutdown: requests have ended). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearInterval(this.refreshTimer);
    await Promise.all(this.pumping.values());
    const byModel = new Map<string, string[]>();
    for (const slot of this.held.values()) byModel.set(slot.model, [...(byModel.get(slot.model) ?? []), slot.slotId]);
    this.held.clear();
    await Promise.all([...byModel].map(([model, ids]) => this.options.store.release(model, ids).catch(() => undefined)));
  }

  /** Asks for slots for `model` while requests wait for it here; one pump per model at a time. */
  pump(model: string): void {
    if (this.closed) return;
    if (this.pumping.has(model)) {
      this.again.add(model);
      return;
    }
    const run = this.takeWhileWaiting(model)
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.pumping.delete(model);
        if (this.again.delete(model)) this.pump(model);
      });
    this.pumping.set(model, run);
  }

  private async takeWhileWaiting(model: string): Promise<void> {
    const scheduler = this.options.scheduler;
    // Bounded: each round takes a slot (then the scheduler starts a request in it) or stops.
    const idle = () => [...this.held.values()].filter((s) => s.model === model).length
      - scheduler.sharedHoldings().filter((h) => h.model === model).reduce((sum, h) => sum + h.inFlight, 0);
    for (let round = 0; round < 256 && !this.closed; round++) {
      const before = Math.max(0, idle());
      if (scheduler.waitingFor(model) - before <= 0) return;
      if (!(await this.takeOne(model))) return;
      // The scheduler started nothing in the new slot (users at their cap, a class at its share, the
      // reserve): taking more now would only keep slots from the other replicas. The tick returns it.
      if (Math.max(0, idle()) > before) return;
    }
  }

  /** Tries the candidate nodes in the scheduler's order; true when a slot was taken. */
  private async takeOne(model: string): Promise<boolean> {
    const scheduler = this.options.scheduler;
    for (const candidate of scheduler.slotCandidates(model)) {
      const slotId = `${this.slotPrefix}.${++this.sequence}`;
      const users = this.usersFor(model);
      const result = await this.options.store.take({
        model, node: candidate.node, limit: candidate.limit, reserve: reserveSlots(candidate.limit, this.options.newcomerReserve),
        slotId, users, nowMs: this.nowMs(), ttlMs: this.options.ttlMs, waitTtlMs: Math.max(250, 4 * this.options.pollMs),
      });
      if (!result.ok) continue;
      if (this.closed) {
        await this.options.store.release(model, [slotId]);
        return false;
      }
      this.held.set(slotId, { slotId, model, node: candidate.node, user: users[0] ?? '' });
      scheduler.setSharedSlots(candidate.node, model, this.heldOn(candidate.node, model), result.heldOnNode);
      return true;
    }
    return false;
  }

  /** Users waiting here for `model`, those with nothing running here first (the newcomers), at most 32. */
  private usersFor(model: string): string[] {
    const waiting = [...(this.waiting.get(model)?.keys() ?? [])];
    const running = this.running.get(model);
    const newcomers = waiting.filter((u) => !running?.has(u));
    const others = waiting.filter((u) => running?.has(u));
    return [...newcomers, ...others].slice(0, 32);
  }

  private heldOn(node: string, model: string): number {
    let count = 0;
    for (const slot of this.held.values()) if (slot.node === node && slot.model === model) count++;
    return count;
  }

  /**
   * Every poll: ask again for models with requests waiting (a slot another replica freed is not
   * announced), and give back slots idle for a whole poll (the scheduler could not use them:
   * users at their cap, classes at their share).
   */
  private tick(): void {
    const scheduler = this.options.scheduler;
    for (const model of scheduler.waitingModels()) this.pump(model);
    const idleNow = new Set<string>();
    for (const holding of scheduler.sharedHoldings()) {
      if (holding.held <= holding.inFlight) continue;
      const key = `${holding.node}\t${holding.model}`;
      if (this.idleAtLastTick.has(key)) this.settle(holding.node, holding.model);
      else idleNow.add(key);
    }
    this.idleAtLastTick = idleNow;
  }

  /** Extends the expiry of every slot held, one call per model. */
  private async refresh(): Promise<void> {
    const byModel = new Map<string, Slot[]>();
    for (const slot of this.held.values()) byModel.set(slot.model, [...(byModel.get(slot.model) ?? []), slot]);
    const now = this.nowMs();
    await Promise.all([...byModel].map(([model, slots]) => this.options.store.refresh(model, slots, now, this.options.ttlMs)
      .catch((error: unknown) => this.fail(error))));
  }

  private count(counts: Map<string, Map<string, number>>, model: string, user: string): () => void {
    let perUser = counts.get(model);
    if (!perUser) counts.set(model, (perUser = new Map()));
    perUser.set(user, (perUser.get(user) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (perUser.get(user) ?? 1) - 1;
      if (left > 0) perUser.set(user, left);
      else perUser.delete(user);
      if (perUser.size === 0 && counts.get(model) === perUser) counts.delete(model);
    };
  }

  /** Redis errors are reported at most once a second: requests keep waiting and the next poll tries again. */
  private fail(error: unknown): void {
    const now = this.nowMs();
    if (now - this.lastErrorAtMs < 1000) return;
    this.lastErrorAtMs = now;
    this.options.onError?.(error);
  }
}
