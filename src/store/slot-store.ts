/**
 * The shared slot budget of the inference nodes, for several gateway replicas (issue 19): a node's
 * limit per model is one budget that every replica takes slots from and gives them back to. One
 * process needs none of this (its scheduler counts by itself); several replicas keep it in Redis
 * (`RedisSlotStore`). `MemorySlotStore` is the same rules in one process, for tests that run
 * several schedulers side by side. Every take is one atomic check-and-add, and every slot carries
 * an expiry that its holder refreshes while its request runs, so a replica that dies gives its
 * slots back within the TTL.
 */

export interface SlotTakeSpec {
  model: string;
  node: string;
  /** The node's limit for the model: a take fails when this many slots are held there. */
  limit: number;
  /** Slots of the node kept for newcomers (users holding no slot of the model) while one waits. */
  reserve: number;
  /** Unique id of the new slot (the holder releases and refreshes it by this id). */
  slotId: string;
  /**
   * Users waiting for the model at this replica (opaque ids; pseudonymous is enough), newcomers
   * first. The slot is for the first who holds no slot of the model anywhere; if all hold one,
   * the take may not use the last `reserve` free slots while another user waits elsewhere.
   */
  users: readonly string[];
  nowMs: number;
  ttlMs: number;
  /** How long this replica's waiting users stay visible to the others without another take. */
  waitTtlMs: number;
}

export type SlotTakeResult =
  | { ok: true; heldOnNode: number }
  /** `full`: the node's limit is reached; `reserved`: only newcomers' slots are left and one waits elsewhere. */
  | { ok: false; reason: 'full' | 'reserved'; heldOnNode: number };

export interface HeldSlot {
  slotId: string;
  node: string;
  user: string;
}

export interface SlotStore {
  take(spec: SlotTakeSpec): Promise<SlotTakeResult>;
  release(model: string, slotIds: readonly string[]): Promise<void>;
  /** Extends the expiry of the holder's slots (and re-adds any that expired meanwhile: their requests still run). */
  refresh(model: string, slots: readonly HeldSlot[], nowMs: number, ttlMs: number): Promise<void>;
  /** Live slots per node of a model (status, tests). */
  heldPerNode(model: string, nowMs: number): Promise<Record<string, number>>;
  /**
   * Live slots per node over all models, in one consistent read (the energy meter asks once per telemetry
   * round, never on the request path). Slots whose id starts with `exceptIdPrefix` are left out: a replica
   * passes its own prefix to learn how many requests the *other* replicas run on each node.
   */
  heldOnNodes(nowMs: number, exceptIdPrefix?: string): Promise<Map<string, number>>;
  close(): Promise<void>;
}

interface SlotEntry {
  node: string;
  user: string;
  expiresAtMs: number;
}

/** The rules of the shared slot budget in one process (the Redis scripts do the same in Redis). */
export class MemorySlotStore implements SlotStore {
  private readonly slots = new Map<string, Map<string, SlotEntry>>();
  private readonly waiting = new Map<string, Map<string, number>>();

  take(spec: SlotTakeSpec): Promise<SlotTakeResult> {
    const slots = this.live(spec.model, spec.nowMs);
    const waiting = this.waitingOf(spec.model, spec.nowMs);
    for (const user of spec.users) waiting.set(user, spec.nowMs + spec.waitTtlMs);
    const holding = new Set([...slots.values()].map((s) => s.user));
    const heldOnNode = [...slots.values()].filter((s) => s.node === spec.node).length;
    if (heldOnNode >= spec.limit) return Promise.resolve({ ok: false, reason: 'full', heldOnNode });
    let user = spec.users.find((u) => !holding.has(u));
    if (user === undefined) {
      const mine = new Set(spec.users);
      const newcomerElsewhere = [...waiting.keys()].some((u) => !mine.has(u) && !holding.has(u));
      if (spec.limit - heldOnNode <= spec.reserve && newcomerElsewhere) return Promise.resolve({ ok: false, reason: 'reserved', heldOnNode });
      user = spec.users[0] ?? '';
    }
    slots.set(spec.slotId, { node: spec.node, user, expiresAtMs: spec.nowMs + spec.ttlMs });
    return Promise.resolve({ ok: true, heldOnNode: heldOnNode + 1 });
  }

  release(model: string, slotIds: readonly string[]): Promise<void> {
    const slots = this.slots.get(model);
    for (const id of slotIds) slots?.delete(id);
    return Promise.resolve();
  }

  refresh(model: string, held: readonly HeldSlot[], nowMs: number, ttlMs: number): Promise<void> {
    const slots = this.live(model, nowMs);
    for (const slot of held) slots.set(slot.slotId, { node: slot.node, user: slot.user, expiresAtMs: nowMs + ttlMs });
    return Promise.resolve();
  }

  heldPerNode(model: string, nowMs: number): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const slot of this.live(model, nowMs).values()) counts[slot.node] = (counts[slot.node] ?? 0) + 1;
    return Promise.resolve(counts);
  }

  heldOnNodes(nowMs: number, exceptIdPrefix?: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const model of this.slots.keys()) {
      for (const [id, slot] of this.live(model, nowMs)) {
        if (exceptIdPrefix && id.startsWith(exceptIdPrefix)) continue;
        counts.set(slot.node, (counts.get(slot.node) ?? 0) + 1);
      }
    }
    return Promise.resolve(counts);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private live(model: string, nowMs: number): Map<string, SlotEntry> {
    let slots = this.slots.get(model);
    if (!slots) this.slots.set(model, (slots = new Map()));
    for (const [id, slot] of slots) if (slot.expiresAtMs <= nowMs) slots.delete(id);
    return slots;
  }

  private waitingOf(model: string, nowMs: number): Map<string, number> {
    let waiting = this.waiting.get(model);
    if (!waiting) this.waiting.set(model, (waiting = new Map()));
    for (const [user, until] of waiting) if (until <= nowMs) waiting.delete(user);
    return waiting;
  }
}
