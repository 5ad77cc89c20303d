/**
 * Headroom for newcomers on one model (DESIGN §6: "a user with nothing in flight is never stuck
 * behind one heavy user"). LLM streams are not pre-empted, so once one user holds every slot
 * of a model, the next person waits for one of their requests to end — seconds. The rule:
 *
 * - the model keeps `reserveSlots(capacity)` slots for users with nothing in flight on it —
 *   free, or held by such users who started into them: a user who already runs a request of
 *   the model does not start another one into the reserve's free slots;
 * - only while someone else is around (`NewcomerReserve`): a newcomer waits, or a light user
 *   runs a request of the model or asked for it or finished one within `windowMs`. Otherwise
 *   the reserve is lent to whoever is there (a lone user, a single-key load test, gets every
 *   slot; so do heavy users among themselves), and a newcomer after such a stretch waits for
 *   the first slot to free, then goes before the heavy users' queued requests.
 *
 * Pure bookkeeping with times passed in; the scheduler asks `admits` before it starts a request.
 */
import type { NodeState } from './node-state.js';

export interface NewcomerReserveSettings {
  /** Share of a model's slots kept for newcomers (at least 1 slot for 2+ slots); 0 turns the rule off. */
  share: number;
  /** How long another user's last request keeps the reserve in place (ms). */
  windowMs: number;
}

/** Slots kept free for newcomers on a model of `capacity` slots: none for one slot, at least one above. */
export function reserveSlots(capacity: number, share: number): number {
  if (share <= 0 || capacity <= 1) return 0;
  // Never the whole model: the heavy user always keeps at least one slot.
  return Math.min(capacity - 1, Math.max(1, Math.floor(capacity * share)));
}

/** A model's slots over the nodes that may take new requests for it, and how many of them are free (to this replica, with `held`). */
export function modelSlots(nodes: Iterable<NodeState>, model: string, nowMs: number, held = false): { capacity: number; free: number } {
  let capacity = 0;
  let free = 0;
  for (const node of nodes) {
    if (!node.serves(model) || !node.isAvailable(nowMs)) continue;
    const slots = node.slotsFor(model);
    capacity += slots;
    // `held`: a shared budget's slots this replica holds (taken one at a time as requests wait).
    free += held ? node.freeSlotsFor(model) : Math.max(0, slots - node.inFlightFor(model));
  }
  return { capacity, free };
}

/** What the reserve needs of the model's queue. */
export interface QueuedCounts {
  userQueued(userId: string): number;
}

interface UserActivity {
  inFlight: number;
  /** Of those, requests that started into the reserve (as the user's only one, with at most the reserve free). */
  inReserve: number;
  /** Last time the user asked for the model or a request of theirs ended. */
  lastMs: number;
}

/**
 * One model's newcomer reserve. Who counts as "someone else around": a user with nothing
 * running who waits for the model (a newcomer in the queue — it may tie with a heavy user's
 * head in the fair queue and would lose on arrival order), and a user with nothing waiting who
 * runs a request of it or used it within the window (a chat user between two questions). Users
 * with requests both running and waiting do not count: two heavy users alone share every slot.
 */
export class NewcomerReserve {
  private readonly users = new Map<string, UserActivity>();
  /** Users whose queued requests `admits` held back (their flows are parked in the fair queue). */
  private readonly held = new Set<string>();
  /** Count of users around, valid until the next activity or dispatch (`undefined`: recount). */
  private around: { count: number; lendsAtMs: number | undefined } | undefined;
  private pruneAtSize = 64;
  /** Running requests that started into the reserve: the reserve they use need not stay free as well. */
  private inReserve = 0;

  constructor(private readonly settings: NewcomerReserveSettings, private readonly queue: QueuedCounts) {}

  /** The user asked for the model (scheduler time only moves forward). */
  noteActivity(userId: string, nowMs: number): void {
    const user = this.users.get(userId);
    if (user) user.lastMs = nowMs;
    else this.users.set(userId, { inFlight: 0, inReserve: 0, lastMs: nowMs });
    this.around = undefined;
    if (this.users.size >= this.pruneAtSize) this.prune(nowMs);
  }

  onStart(userId: string, nowMs: number): void {
    this.noteActivity(userId, nowMs);
    this.users.get(userId)!.inFlight++;
  }

  /**
   * A request of `userId` has just started with `free` slots free before it: if it was the
   * user's only one and took a reserved slot, the reserve is in use until one of theirs ends.
   */
  afterStart(userId: string, free: number, capacity: number): void {
    const user = this.users.get(userId);
    if (!user || user.inFlight !== 1 || free > reserveSlots(capacity, this.settings.share)) return;
    user.inReserve++;
    this.inReserve++;
  }

  onEnd(userId: string, nowMs: number): void {
    this.noteActivity(userId, nowMs);
    const user = this.users.get(userId)!;
    user.inFlight--;
    if (user.inReserve > 0) {
      user.inReserve--;
      this.inReserve--;
    }
  }

  inFlightOf(userId: string): number {
    return this.users.get(userId)?.inFlight ?? 0;
  }

  /**
   * May `userId`, whose request heads the queue, start it now with `free` of the model's
   * `capacity` slots free? A user who runs a request of the model does not take the reserve's
   * free slots — those not already held by newcomers who started into it. A refusal is remembered: the caller parks the user's flows and
   * calls `beginDispatch` before its next dispatch of the model to offer them again.
   */
  admits(userId: string, free: number, capacity: number, nowMs: number): boolean {
    if (this.inFlightOf(userId) === 0) return true;
    if (free + this.inReserve > reserveSlots(capacity, this.settings.share)) return true;
    if (this.countAround(nowMs).count === 0) return true;
    this.held.add(userId);
    return false;
  }

  /**
   * Starts a dispatch of the model: returns the users held back since the last one (forgotten
   * here; the caller unparks them) and recounts who is around at the next question, since
   * waiting requests may have left the queue meanwhile.
   */
  beginDispatch(): string[] {
    const users = [...this.held];
    this.held.clear();
    this.around = undefined;
    return users;
  }

  /**
   * When the reserve is next lent to a held-back user if nothing else happens (the scheduler's
   * timer wakes then); undefined while nobody is held or someone around has a request running
   * (its end is an event).
   */
  lendsAtMs(nowMs: number): number | undefined {
    return this.held.size > 0 ? this.countAround(nowMs).lendsAtMs : undefined;
  }

  /** Users around now (see the class comment), and when the last of them leaves the window. */
  private countAround(nowMs: number): { count: number; lendsAtMs: number | undefined } {
    const cached = this.around;
    if (cached && (cached.lendsAtMs === undefined || nowMs < cached.lendsAtMs)) return cached;
    let count = 0;
    let last: number | undefined = -Infinity;
    for (const [userId, user] of this.users) {
      const queued = this.queue.userQueued(userId) > 0;
      // Running and waiting: a heavy user, who competes in the fair queue instead.
      if (queued && user.inFlight > 0) continue;
      const recent = nowMs - user.lastMs < this.settings.windowMs;
      if (!queued && user.inFlight === 0 && !recent) continue;
      count++;
      // Someone running or waiting leaves by an event (a lease starting or ending), not by the clock.
      if (queued || user.inFlight > 0) last = undefined;
      else if (last !== undefined) last = Math.max(last, user.lastMs + this.settings.windowMs);
    }
    this.around = { count, lendsAtMs: count === 0 ? undefined : last };
    return this.around;
  }

  /** Forgets users idle for longer than the window; amortised O(1) per activity. */
  private prune(nowMs: number): void {
    for (const [userId, user] of this.users) {
      if (user.inFlight === 0 && nowMs - user.lastMs >= this.settings.windowMs) this.users.delete(userId);
    }
    this.pruneAtSize = Math.max(64, 2 * this.users.size);
  }
}
