import { IndexedHeap } from './indexed-heap.js';

let arrivalCounter = 0;

/** One waiting request as the fair queue sees it; the scheduler extends it with its own fields. */
export class QueueEntry {
  /** Global arrival order: equal start tags go first-come first-served. */
  readonly arrival = ++arrivalCounter;
  flow: Flow | undefined;
  prev: QueueEntry | undefined;
  next: QueueEntry | undefined;
  /** Position in its flow when it arrived; with the head's, gives the implied start tag. */
  flowSeq = 0;

  constructor(
    readonly userId: string,
    readonly classIndex: number,
    readonly weight: number,
  ) {}
}

/** The waiting requests of one user in one priority class of one model, in arrival order. */
class Flow {
  head: QueueEntry | undefined;
  tail: QueueEntry | undefined;
  count = 0;
  nextSeq = 0;
  /** Start tag of the head request (virtual time). */
  headStart = 0;
  /** Finish tag of the last request this flow started. */
  lastFinish = 0;
  heapIndex = -1;
  blocked = false;
  weight = 1;
  /** While in the heap: the tag group it counts in, and its join order there. */
  groupKey = 0;
  groupSeq = 0;

  constructor(readonly userId: string, readonly classIndex: number, public backlog: UserBacklog) {}
}

/** A user's waiting requests across the classes of one model (fair share of the queue space). */
class UserBacklog {
  queued = 0;
  weight = 1;
  heapIndex = -1;
  readonly flows = new Set<Flow>();
  constructor(readonly userId: string) {}
}

/** Flows whose heads share one start tag; they start in arrival order. */
interface TagGroup {
  count: number;
  joins: number;
}

class ClassQueue {
  virtualTime = 0;
  /** Heads with equal start tags (common: many users with one request each) for position estimates. */
  readonly groups = new Map<number, TagGroup>();
  queued = 0;
  /** Σ weight of the flows in the heap: virtual time advances 1 per `activeWeight` starts. */
  activeWeight = 0;
  readonly flows = new Map<string, Flow>();
  readonly heap = new IndexedHeap<Flow>(
    (a, b) => a.headStart < b.headStart || (a.headStart === b.headStart && a.head!.arrival < b.head!.arrival),
    (f) => f.heapIndex,
    (f, i) => { f.heapIndex = i; },
  );
}

/**
 * The queue of one model: strict priority between classes, start-time fair queueing (SFQ,
 * Goyal et al. 1996) between users inside a class. Each request costs 1 / weight of virtual
 * time; the flow whose head has the smallest start tag goes next. Tags are computed lazily for
 * heads only, so a client that leaves from the middle of a flow costs O(1) and never leaves a
 * stale tag behind. Flows of users at their concurrency cap are parked ("blocked") until the
 * scheduler unblocks them, so a dispatch never scans past them twice.
 */
export class FairQueue<T extends QueueEntry> {
  private readonly classes: ClassQueue[];
  private readonly backlogs = new Map<string, UserBacklog>();
  private readonly backlogHeap = new IndexedHeap<UserBacklog>(
    (a, b) => a.queued / a.weight > b.queued / b.weight,
    (u) => u.heapIndex,
    (u, i) => { u.heapIndex = i; },
  );
  private total = 0;
  /** Σ weight of users with anything queued. */
  private backlogWeight = 0;

  constructor(classCount: number) {
    this.classes = Array.from({ length: classCount }, () => new ClassQueue());
  }

  get size(): number {
    return this.total;
  }

  queuedIn(classIndex: number): number {
    return this.classes[classIndex]?.queued ?? 0;
  }

  userQueued(userId: string): number {
    return this.backlogs.get(userId)?.queued ?? 0;
  }

  /** The share of `capacity` queue places that `userId` (with `weight`) may hold now. */
  fairShare(userId: string, weight: number, capacity: number): number {
    const backlog = this.backlogs.get(userId);
    const totalWeight = this.backlogWeight + (backlog ? weight - backlog.weight : weight);
    return (capacity * weight) / totalWeight;
  }

  /** The user holding the most queue places per unit of weight. */
  heaviestUser(): { userId: string; queued: number; weight: number } | undefined {
    return this.backlogHeap.peek();
  }

  enqueue(entry: T): void {
    const cls = this.classes[entry.classIndex]!;
    const backlog = this.backlogFor(entry.userId, entry.weight);
    let flow = cls.flows.get(entry.userId);
    if (!flow) {
      flow = new Flow(entry.userId, entry.classIndex, backlog);
      cls.flows.set(entry.userId, flow);
    }
    // An idle flow kept for its tags may outlive its user's backlog record.
    flow.backlog = backlog;
    this.setFlowWeight(cls, flow, entry.weight);
    entry.flow = flow;
    entry.flowSeq = flow.nextSeq++;
    entry.prev = flow.tail;
    entry.next = undefined;
    if (flow.tail) flow.tail.next = entry;
    else {
      flow.head = entry;
      flow.headStart = Math.max(cls.virtualTime, flow.lastFinish);
      backlog.flows.add(flow);
      if (!flow.blocked) this.heapPush(cls, flow);
    }
    flow.tail = entry;
    flow.count++;
    cls.queued++;
    this.total++;
    backlog.queued++;
    this.backlogHeap.push(backlog);
  }

  /**
   * The next request to start: highest class first, smallest start tag inside it. A flow
   * whose head `canStart` refuses (its user is at their cap) is parked until `unblockUser`.
   */
  peek(canStart: (head: T) => boolean, classOpen?: (classIndex: number) => boolean): T | undefined {
    for (let index = 0; index < this.classes.length; index++) {
      // A class at its slot share is skipped as a whole (its flows are not parked: any lease of
      // the class ending may reopen it).
      if (classOpen && !classOpen(index)) continue;
      const cls = this.classes[index]!;
      for (let flow = cls.heap.peek(); flow; flow = cls.heap.peek()) {
        if (canStart(flow.head as T)) return flow.head as T;
        this.heapRemove(cls, flow);
        flow.blocked = true;
      }
    }
    return undefined;
  }

  /** Removes the head `entry` because it starts now: advances virtual time and the flow's tags. */
  start(entry: T): void {
    const flow = entry.flow!;
    const cls = this.classes[flow.classIndex]!;
    cls.virtualTime = Math.max(cls.virtualTime, flow.headStart);
    flow.lastFinish = flow.headStart + 1 / flow.weight;
    this.unlink(entry);
    const inHeap = cls.heap.has(flow);
    if (inHeap) this.leaveGroup(cls, flow);
    flow.headStart = flow.lastFinish;
    if (inHeap) this.joinGroup(cls, flow);
    this.afterRemoval(cls, flow);
  }

  /** Removes a request that will not start (cancelled, expired, pushed out); it costs no share. */
  remove(entry: T): boolean {
    const flow = entry.flow;
    if (!flow) return false;
    this.unlink(entry);
    this.afterRemoval(this.classes[flow.classIndex]!, flow);
    return true;
  }

  /** The user may start requests again (below their concurrency cap). */
  unblockUser(userId: string): boolean {
    const backlog = this.backlogs.get(userId);
    if (!backlog) return false;
    let any = false;
    for (const flow of backlog.flows) {
      if (!flow.blocked) continue;
      const cls = this.classes[flow.classIndex]!;
      flow.blocked = false;
      // A parked flow earns no credit while parked: it rejoins at the current virtual time.
      flow.headStart = Math.max(flow.headStart, cls.virtualTime);
      this.heapPush(cls, flow);
      any = true;
    }
    return any;
  }

  /** The user's newest request in their lowest-priority class (the one to push out). */
  newestOf(userId: string): T | undefined {
    const backlog = this.backlogs.get(userId);
    let chosen: Flow | undefined;
    for (const flow of backlog?.flows ?? []) if (!chosen || flow.classIndex > chosen.classIndex) chosen = flow;
    return chosen?.tail as T | undefined;
  }

  /**
   * Estimated number of requests that start before `entry` (0 = next). Higher classes all go
   * first. Inside the class: the entry's predecessors in its own flow; from other flows, the
   * requests whose start tags lie between virtual time and the entry's tag (Σ weight × distance,
   * at most what they hold); and heads tied on exactly that tag that joined earlier.
   */
  aheadOf(entry: T): number {
    const flow = entry.flow;
    if (!flow) return 0;
    const cls = this.classes[flow.classIndex]!;
    const own = entry.flowSeq - flow.head!.flowSeq;
    const start = flow.headStart + own / flow.weight;
    const inHeap = cls.heap.has(flow);
    let ties: number;
    if (own === 0 && inHeap) {
      const group = cls.groups.get(flow.groupKey)!;
      ties = Math.min(group.count - 1, Math.max(0, flow.groupSeq - (group.joins - group.count)));
    } else {
      ties = cls.groups.get(start)?.count ?? 0;
    }
    const others = this.others(cls, start, inHeap ? flow.weight : 0, flow.count);
    return this.higherThan(flow.classIndex) + Math.min(cls.queued - 1, own + others + ties);
  }

  /** As `aheadOf`, for a request that would arrive now. */
  aheadOfNew(userId: string, classIndex: number): number {
    const cls = this.classes[classIndex]!;
    const flow = cls.flows.get(userId);
    const own = flow?.count ?? 0;
    const start = own > 0 ? flow!.headStart + own / flow!.weight : Math.max(cls.virtualTime, flow?.lastFinish ?? 0);
    const inHeap = flow !== undefined && cls.heap.has(flow);
    const ties = cls.groups.get(start)?.count ?? 0;
    const others = this.others(cls, start, inHeap ? flow.weight : 0, own);
    return this.higherThan(classIndex) + Math.min(cls.queued, own + others + ties);
  }

  /** Every waiting request, in no particular order. */
  *entries(): IterableIterator<T> {
    for (const cls of this.classes) {
      for (const flow of cls.flows.values()) {
        for (let e = flow.head; e; e = e.next) yield e as T;
      }
    }
  }

  private higherThan(classIndex: number): number {
    let ahead = 0;
    for (let i = 0; i < classIndex; i++) ahead += this.classes[i]!.queued;
    return ahead;
  }

  /** Requests of other flows with start tags in [virtual time, start). */
  private others(cls: ClassQueue, start: number, ownActiveWeight: number, ownQueued: number): number {
    const estimate = Math.max(0, start - cls.virtualTime) * (cls.activeWeight - ownActiveWeight);
    return Math.min(cls.queued - ownQueued, Math.round(estimate));
  }

  private backlogFor(userId: string, weight: number): UserBacklog {
    let backlog = this.backlogs.get(userId);
    if (!backlog) {
      backlog = new UserBacklog(userId);
      backlog.weight = weight;
      this.backlogs.set(userId, backlog);
      this.backlogWeight += weight;
    } else if (backlog.weight !== weight) {
      this.backlogWeight += weight - backlog.weight;
      backlog.weight = weight;
    }
    return backlog;
  }

  private setFlowWeight(cls: ClassQueue, flow: Flow, weight: number): void {
    if (cls.heap.has(flow)) cls.activeWeight += weight - flow.weight;
    flow.weight = weight;
  }

  private heapPush(cls: ClassQueue, flow: Flow): void {
    if (!cls.heap.has(flow)) {
      cls.activeWeight += flow.weight;
      this.joinGroup(cls, flow);
    }
    cls.heap.push(flow);
  }

  private heapRemove(cls: ClassQueue, flow: Flow): void {
    if (!cls.heap.remove(flow)) return;
    cls.activeWeight -= flow.weight;
    this.leaveGroup(cls, flow);
  }

  private joinGroup(cls: ClassQueue, flow: Flow): void {
    let group = cls.groups.get(flow.headStart);
    if (!group) {
      group = { count: 0, joins: 0 };
      cls.groups.set(flow.headStart, group);
    }
    flow.groupKey = flow.headStart;
    flow.groupSeq = group.joins++;
    group.count++;
  }

  private leaveGroup(cls: ClassQueue, flow: Flow): void {
    const group = cls.groups.get(flow.groupKey);
    if (!group) return;
    if (--group.count === 0) cls.groups.delete(flow.groupKey);
  }

  private unlink(entry: QueueEntry): void {
    const flow = entry.flow!;
    if (entry.prev) entry.prev.next = entry.next;
    else flow.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else flow.tail = entry.prev;
    entry.flow = entry.prev = entry.next = undefined;
    flow.count--;
    const cls = this.classes[flow.classIndex]!;
    cls.queued--;
    this.total--;
    const backlog = flow.backlog;
    backlog.queued--;
    if (backlog.queued === 0) {
      this.backlogHeap.remove(backlog);
      this.backlogs.delete(backlog.userId);
      this.backlogWeight -= backlog.weight;
    } else {
      this.backlogHeap.update(backlog);
    }
  }

  private afterRemoval(cls: ClassQueue, flow: Flow): void {
    if (flow.count > 0) {
      if (cls.heap.has(flow)) cls.heap.update(flow);
      return;
    }
    this.heapRemove(cls, flow);
    flow.blocked = false;
    flow.backlog.flows.delete(flow);
    // An idle flow is kept only while it still owes virtual time (it was just served).
    if (flow.lastFinish <= cls.virtualTime) cls.flows.delete(flow.userId);
    if (cls.queued === 0) {
      cls.flows.clear();
      cls.groups.clear();
      cls.virtualTime = 0;
      cls.activeWeight = 0;
    }
  }
}
