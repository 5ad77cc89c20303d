import { describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import type { Lease } from './lease.js';
import { Scheduler } from './scheduler.js';
import { settle } from './testing.js';

/** The scheduler's side of the shared slot budget: it starts requests only in slots the replica holds. */
function sharedScheduler(): Scheduler {
  return new Scheduler({
    clock: new ManualClock(0), sharedSlots: true, setTimer: () => () => undefined,
    settings: { classes: [{ name: 'standard', maxWaitMs: 1e9 }], defaultClass: 'standard', maxInFlightPerUser: 100, newcomerWindowMs: 60_000 },
    nodes: [{ name: 'gpu1', type: 'sim', configuredSlots: 4, models: [{ name: 'm' }], resident: [{ name: 'm' }] }],
  });
}

describe('Scheduler with shared slots', () => {
  it('starts nothing until the replica holds a slot, then as many requests as it holds', async () => {
    const scheduler = sharedScheduler();
    const leases: Lease[] = [];
    for (let i = 0; i < 3; i++) void scheduler.acquire({ model: 'm', userId: 'u' }).then((l) => leases.push(l));
    await settle();
    expect(leases).toHaveLength(0);
    expect(scheduler.waitingFor('m')).toBe(3);
    expect(scheduler.slotCandidates('m')).toEqual([{ node: 'gpu1', model: 'm', limit: 4, inFlight: 0, held: 0 }]);
    scheduler.setSharedSlots('gpu1', 'm', 2);
    await settle();
    expect(leases).toHaveLength(2);
    expect(scheduler.sharedHoldings()).toEqual([{ node: 'gpu1', model: 'm', limit: 4, inFlight: 2, held: 2 }]);
    // The slot goes back before the lease ends: the waiting request does not take it.
    scheduler.setSharedSlots('gpu1', 'm', 1);
    leases[0]!.release();
    await settle();
    expect(leases).toHaveLength(2);
    expect(scheduler.waitingFor('m')).toBe(1);
  });

  it('never holds more than the limit: a candidate list ends at the learned limit', async () => {
    const scheduler = sharedScheduler();
    scheduler.setSharedSlots('gpu1', 'm', 9);
    const leases: Lease[] = [];
    for (let i = 0; i < 6; i++) void scheduler.acquire({ model: 'm', userId: `u${i}` }).then((l) => leases.push(l));
    await settle();
    expect(leases).toHaveLength(4);
    expect(scheduler.slotCandidates('m')).toEqual([]);
  });

  it('starts a newcomer first in the next slot it holds (its start tag is lower than the heavy user\'s next)', async () => {
    const scheduler = sharedScheduler();
    const started: string[] = [];
    scheduler.setSharedSlots('gpu1', 'm', 3);
    for (let i = 0; i < 6; i++) void scheduler.acquire({ model: 'm', userId: 'heavy' }).then(() => started.push('heavy'));
    await settle();
    expect(started).toEqual(['heavy', 'heavy', 'heavy']);
    void scheduler.acquire({ model: 'm', userId: 'newcomer' }).then(() => started.push('newcomer'));
    scheduler.setSharedSlots('gpu1', 'm', 4);
    await settle();
    expect(started).toEqual(['heavy', 'heavy', 'heavy', 'newcomer']);
  });

  it('lets a user fill every slot it holds while another is around (the reserve across replicas is the budget\'s)', async () => {
    const scheduler = sharedScheduler();
    const started: string[] = [];
    const light = scheduler.acquire({ model: 'm', userId: 'light' });
    scheduler.setSharedSlots('gpu1', 'm', 1);
    (await light).release();
    for (let i = 0; i < 6; i++) void scheduler.acquire({ model: 'm', userId: 'heavy' }).then(() => started.push('heavy'));
    for (let held = 1; held <= 4; held++) {
      scheduler.setSharedSlots('gpu1', 'm', held);
      await settle();
      expect(started).toHaveLength(held);
    }
  });
});
