import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Lease } from './lease.js';
import type { NodeInit } from './node-state.js';
import type { SchedulerSettings } from './settings.js';
import { Harness, settle, type Tracked } from './testing.js';

/**
 * Issue 13 §2: one user keeping 24 streams in flight on a one-node model with 4 slots must not
 * make another user's first token wait for one of those streams to end. Only the Harness is
 * used here, so the same scenarios run against a scheduler without the rule.
 */

const WINDOW_MS = 60_000;
const node = (slots: number): NodeInit => ({ name: 'gpu1', type: 'sim', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots });
const settings: Partial<SchedulerSettings> = {
  classes: [{ name: 'interactive', maxWaitMs: 1e9 }, { name: 'batch', maxWaitMs: 1e9 }],
  maxInFlightPerUser: 100,
  newcomerWindowMs: WINDOW_MS,
};

const running = (all: readonly Tracked[]) => all.filter((t) => t.lease && !t.lease.released);
const waiting = (all: readonly Tracked[]) => all.filter((t) => !t.lease && !t.error);

/** A chat user asks once and reads the answer: they were around on the model a moment ago. */
async function chatOnce(h: Harness, userId: string): Promise<void> {
  const question = h.submit({ userId });
  await settle();
  h.advance(1000);
  question.lease!.release();
}

async function flood(h: Harness, count: number): Promise<Tracked[]> {
  const all = Array.from({ length: count }, () => h.submit({ userId: 'flooder' }));
  await settle();
  return all;
}

describe('Scheduler newcomer reserve', () => {
  it('grants a newcomer a slot at once while one user keeps 24 requests in flight on 4 slots', async () => {
    const h = new Harness([node(4)], settings);
    await chatOnce(h, 'student');
    h.advance(5000);
    const flooder = await flood(h, 24);
    const newcomer = h.submit({ userId: 'student' });
    await settle();
    // No flooder request ended in between: the newcomer took the slot kept free for it.
    expect(newcomer.lease?.queueMs).toBe(0);
    expect(running(flooder)).toHaveLength(3);
    expect(waiting(flooder)).toHaveLength(21);
    expect(h.scheduler.snapshot().nodes[0]!.inFlight).toBe(4);
  });

  it('keeps only the reserve for newcomers: with a newcomer in it, the flooder refills its own freed slot', async () => {
    const h = new Harness([node(4)], settings);
    await chatOnce(h, 'student');
    const flooder = await flood(h, 24);
    const newcomer = h.submit({ userId: 'student' });
    await settle();
    running(flooder)[0]!.lease!.release();
    await settle();
    expect(running(flooder)).toHaveLength(3);
    // A second newcomer while the first still runs: the one reserved slot is taken, it waits its turn.
    const second = h.submit({ userId: 'second' });
    await settle();
    expect(second.lease).toBeUndefined();
    newcomer.lease!.release();
    await settle();
    expect(second.lease).toBeDefined();
    expect(running(flooder)).toHaveLength(3);
  });

  it('keeps the reserve when the flooder’s own request ends while someone else is around', async () => {
    const h = new Harness([node(4)], settings);
    await chatOnce(h, 'student');
    const flooder = await flood(h, 24);
    running(flooder)[0]!.lease!.release();
    await settle();
    expect(running(flooder)).toHaveLength(3);
    const second = h.submit({ userId: 'other' });
    await settle();
    expect(second.lease?.queueMs).toBe(0);
  });

  it('lends the reserve back when nobody else has asked for the window, and takes it back as requests end', async () => {
    const h = new Harness([node(4)], settings);
    await chatOnce(h, 'student');
    const flooder = await flood(h, 24);
    expect(running(flooder)).toHaveLength(3);
    // The student's answer ended when the flood began; the timer wakes the scheduler when their window closes.
    h.advance(WINDOW_MS - 1);
    await settle();
    expect(running(flooder)).toHaveLength(3);
    h.advance(1);
    await settle();
    expect(running(flooder)).toHaveLength(4);
    // The student returns: they wait for the first flooder request to end, then go first.
    const late = h.submit({ userId: 'student' });
    await settle();
    expect(late.lease).toBeUndefined();
    h.advance(2000);
    running(flooder)[0]!.lease!.release();
    await settle();
    expect(late.lease?.queueMs).toBe(2000);
    // The student holds the reserve: a flooder request ending may be refilled by the flooder...
    running(flooder)[0]!.lease!.release();
    await settle();
    expect(running(flooder)).toHaveLength(3);
    // ...but once the student's request ends, the flooder is held to 3 again while they are around,
    late.lease!.release();
    await settle();
    expect(running(flooder)).toHaveLength(3);
    expect(h.scheduler.snapshot().nodes[0]!.inFlight).toBe(3);
    // and the next newcomer finds a free slot at once.
    const third = h.submit({ userId: 'third' });
    await settle();
    expect(third.lease?.queueMs).toBe(0);
  });

  it('lends every slot to a user who is alone on the model (a single-key load test loses nothing)', async () => {
    const h = new Harness([node(4)], settings);
    const flooder = await flood(h, 24);
    expect(running(flooder)).toHaveLength(4);
  });

  it('lets two heavy users alone share every slot by their weights', async () => {
    const h = new Harness([node(4)], settings);
    const gold = Array.from({ length: 12 }, () => h.submit({ userId: 'gold', weight: 3 }));
    const plain = Array.from({ length: 12 }, () => h.submit({ userId: 'plain' }));
    await settle();
    expect(running(gold).length + running(plain).length).toBe(4);
  });

  it('reserves nothing on a one-slot model: the newcomer waits one request and goes before the flooder’s queue', async () => {
    const h = new Harness([node(1)], settings);
    await chatOnce(h, 'student');
    const flooder = await flood(h, 6);
    expect(running(flooder)).toHaveLength(1);
    // Once the flood runs from the queue, the flooder's next request carries a later start tag than a newcomer's.
    running(flooder)[0]!.lease!.release();
    await settle();
    const newcomer = h.submit({ userId: 'student' });
    await settle();
    expect(newcomer.lease).toBeUndefined();
    h.advance(3000);
    running(flooder)[0]!.lease!.release();
    await settle();
    expect(newcomer.lease?.queueMs).toBe(3000);
    expect(running(flooder)).toHaveLength(0);
  });

  it('reserves more slots on a bigger model and offers held-back requests again when its slots grow', async () => {
    const h = new Harness([{ name: 'gpu1', type: 'sim', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 16 }], settings);
    await chatOnce(h, 'student');
    const flooder = await flood(h, 30);
    expect(running(flooder)).toHaveLength(14);
    // The node now reports 32 slots (e.g. a learned limit grew): reserve 4, the parked flooder gets 14 more.
    h.scheduler.updateNode('gpu1', { slots: 32 });
    await settle();
    expect(running(flooder)).toHaveLength(28);
  });

  it('is off with newcomerReserve 0: the newcomer waits for a flooder request to end', async () => {
    const h = new Harness([node(4)], { ...settings, newcomerReserve: 0 });
    await chatOnce(h, 'student');
    const flooder = await flood(h, 24);
    expect(running(flooder)).toHaveLength(4);
    const newcomer = h.submit({ userId: 'student' });
    await settle();
    expect(newcomer.lease).toBeUndefined();
  });
});

const op = fc.oneof(
  fc.record({ kind: fc.constant('submit' as const), user: fc.integer({ min: 0, max: 5 }), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 90_000 }) }),
  fc.record({ kind: fc.constant('slots' as const), slots: fc.integer({ min: 1, max: 6 }) }),
);

describe('Scheduler newcomer reserve (randomized)', () => {
  it('never over-grants, never leaves a user with nothing in flight waiting beside a free slot, and releases every lease', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 80 }), async (ops) => {
      const h = new Harness([{ name: 'gpu1', type: 'sim', models: [{ name: 'm', slots: 4 }], resident: [{ name: 'm' }] }], settings);
      const tracked: Tracked[] = [];
      const controllers: AbortController[] = [];
      const leases = new Set<Lease>();
      const live = () => [...leases].filter((l) => !l.released);
      let before = 0;
      for (const o of ops) {
        if (o.kind === 'submit') {
          for (let i = 0; i < o.count; i++) {
            const controller = new AbortController();
            controllers.push(controller);
            tracked.push(h.submit({ userId: `u${o.user}`, signal: controller.signal }));
          }
        } else if (o.kind === 'release') {
          const now = live();
          if (now.length) now[o.pick % now.length]!.release();
        } else if (o.kind === 'abort') {
          if (controllers.length) controllers[o.pick % controllers.length]!.abort();
        } else if (o.kind === 'advance') {
          h.advance(o.ms);
        } else {
          h.scheduler.updateNode('gpu1', { models: [{ name: 'm', slots: o.slots }] });
        }
        await settle();
        for (const t of tracked) if (t.lease) leases.add(t.lease);
        const model = h.scheduler.snapshot().nodes[0]!.models['m']!;
        expect(model.inFlight).toBe(live().length);
        // Never granted beyond the slots (a shrinking slot count may leave more running, never more started).
        expect(model.inFlight <= model.slots || model.inFlight <= before).toBe(true);
        before = model.inFlight;
        if (model.inFlight < model.slots) {
          // A free slot: whoever waits already runs a request of the model (held for newcomers).
          const busy = new Set(tracked.filter((t) => t.lease && !t.lease.released).map((t) => t.request.userId));
          for (const t of waiting(tracked)) expect(busy.has(t.request.userId)).toBe(true);
          // And at most the reserve (1 slot of up to 6) is kept free.
          if (waiting(tracked).length > 0) expect(model.slots - model.inFlight).toBe(1);
        }
      }
      for (let round = 0; round < 200 && (live().length > 0 || waiting(tracked).length > 0); round++) {
        for (const lease of live()) lease.release();
        await settle();
        for (const t of tracked) if (t.lease) leases.add(t.lease);
      }
      const snapshot = h.scheduler.snapshot();
      expect(snapshot.nodes[0]!.inFlight).toBe(0);
      expect(snapshot.models[0]?.inFlight ?? 0).toBe(0);
      expect(snapshot.activeUsers).toBe(0);
      expect(tracked.every((t) => t.lease !== undefined || t.error !== undefined)).toBe(true);
      expect(h.pendingTimers()).toBe(0);
    }), { numRuns: 150 });
  });
});
