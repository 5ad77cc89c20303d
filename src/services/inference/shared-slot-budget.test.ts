import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../backends/backend.js';
import { systemClock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import { Scheduler } from '../../scheduler/scheduler.js';
import { RedisSlotStore } from '../../store/redis-slot-store.js';
import { FlexiError } from '../../core/errors.js';
import { MemorySlotStore, type SlotStore } from '../../store/slot-store.js';
import type { NodeLease } from './dispatcher.js';
import type { ModelEntry } from './model-registry.service.js';
import { SchedulerDispatcher } from './scheduler-dispatcher.js';
import { SharedSlotBudget } from './shared-slot-budget.js';

/**
 * Several replicas (scheduler + dispatcher + budget each) in one process over one slot store:
 * the shared budget's invariants without processes. The HA test (test/integration/ha.test.ts)
 * does the same with `flexi serve` processes, Redis and PostgreSQL.
 */

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;
const stores: [string, (() => SlotStore) | undefined][] = [
  ['memory', () => new MemorySlotStore()],
  ['redis', redisUrl ? () => new RedisSlotStore(redisUrl, { keyPrefix: `flexi-test:${randomId(8)}:` }) : undefined],
];

const MODEL = 'm:latest';
const backend = { name: 'gpu1' } as Backend;
const entry = { name: MODEL, nodes: [backend], aliases: [] } as unknown as ModelEntry;

interface Replica {
  scheduler: Scheduler;
  budget: SharedSlotBudget;
  dispatcher: SchedulerDispatcher;
}

let replicas: Replica[] = [];
let store: SlotStore | undefined;

afterEach(async () => {
  for (const r of replicas) r.scheduler.close();
  await Promise.all(replicas.map((r) => r.budget.close()));
  replicas = [];
  await store?.close();
  store = undefined;
});

function startReplicas(count: number, slots: number, slotStore: SlotStore): Replica[] {
  store = slotStore;
  replicas = Array.from({ length: count }, (_, i) => {
    const scheduler = new Scheduler({
      clock: systemClock, sharedSlots: true,
      settings: { classes: [{ name: 'standard', maxWaitMs: 60_000 }], defaultClass: 'standard', maxInFlightPerUser: 100, preloadReplicas: false },
      nodes: [{ name: 'gpu1', type: 'sim', configuredSlots: slots, models: [{ name: MODEL }], resident: [{ name: MODEL }] }],
    });
    const budget = new SharedSlotBudget({ scheduler, store: slotStore, replicaId: `r${i}`, ttlMs: 10_000, pollMs: 5, newcomerReserve: 0.25 });
    return { scheduler, budget, dispatcher: new SchedulerDispatcher(scheduler, [backend], budget) };
  });
  return replicas;
}

const ask = (replica: Replica, subject: string): Promise<NodeLease> =>
  replica.dispatcher.acquire({ model: entry, requester: { subject }, signal: new AbortController().signal });

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`not reached: ${what}`);
}

for (const [name, create] of stores) {
  describe.skipIf(!create)(`SharedSlotBudget over three replicas [${name}]`, () => {
    it('never runs more requests on the node than its limit, and every request runs', async () => {
      const all = startReplicas(3, 3, create!());
      let inFlight = 0;
      let peak = 0;
      const runs = Array.from({ length: 60 }, async (_, i) => {
        const lease = await ask(all[i % 3]!, `user${i % 4}`);
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 1 + (i % 5)));
        inFlight--;
        lease.release({ ok: true });
      });
      await Promise.all(runs);
      expect(peak).toBe(3);
      await until(async () => Object.keys(await store!.heldPerNode(MODEL, Date.now())).length === 0, 'every slot returned');
      expect(all.map((r) => r.budget.heldSlots())).toEqual([0, 0, 0]);
    });

    it('gives the next free slot to a newcomer at another replica, not to the flooder queued everywhere', async () => {
      const all = startReplicas(3, 4, create!());
      const running: NodeLease[] = [];
      const flood = Array.from({ length: 12 }, (_, i) => ask(all[i % 3]!, 'flooder').then((lease) => {
        running.push(lease);
        return lease;
      }));
      await until(() => running.length === 4, 'the flooder fills the node');
      let newcomer: NodeLease | undefined;
      void ask(all[1]!, 'newcomer').then((lease) => {
        newcomer = lease;
      });
      // The newcomer's replica asked Redis at least once (and was told the node is full).
      await new Promise((r) => setTimeout(r, 50));
      const startedBefore = running.length;
      running.find((_, i) => i % 3 === 0)!.release({ ok: true });
      await until(() => newcomer !== undefined, 'the newcomer starts');
      // No flooder request took the freed slot first.
      expect(running.length).toBe(startedBefore);
      newcomer!.release({ ok: true });
      // The rest of the flood runs to its end.
      const drain = setInterval(() => running.forEach((lease) => lease.release({ ok: true })), 2);
      await Promise.all(flood);
      clearInterval(drain);
      running.forEach((lease) => lease.release({ ok: true }));
      await until(async () => Object.keys(await store!.heldPerNode(MODEL, Date.now())).length === 0, 'every slot returned');
    });
  });
}

describe('SharedSlotBudget when Redis fails', () => {
  it('starts nothing it cannot prove, reports the error, and the request is refused at its deadline', async () => {
    const failing: SlotStore = {
      take: () => Promise.reject(new FlexiError('store_unavailable')),
      release: () => Promise.resolve(),
      refresh: () => Promise.resolve(),
      heldPerNode: () => Promise.resolve({}),
      heldOnNodes: () => Promise.resolve(new Map()),
      close: () => Promise.resolve(),
    };
    const errors: unknown[] = [];
    const scheduler = new Scheduler({
      clock: systemClock, sharedSlots: true,
      settings: { classes: [{ name: 'standard', maxWaitMs: 200 }], defaultClass: 'standard', preloadReplicas: false },
      nodes: [{ name: 'gpu1', type: 'sim', configuredSlots: 2, models: [{ name: MODEL }], resident: [{ name: MODEL }] }],
    });
    const budget = new SharedSlotBudget({ scheduler, store: failing, replicaId: 'r', ttlMs: 10_000, pollMs: 5, newcomerReserve: 0.25, onError: (e) => errors.push(e) });
    replicas = [{ scheduler, budget, dispatcher: new SchedulerDispatcher(scheduler, [backend], budget) }];
    await expect(ask(replicas[0]!, 'u')).rejects.toMatchObject({ code: 'overloaded' });
    expect(errors[0]).toMatchObject({ code: 'store_unavailable' });
    expect(budget.heldSlots()).toBe(0);
  });
});
