import { afterEach, describe, expect, it } from 'vitest';
import { randomId } from '../lib/ids.js';
import { LocalLeaderLock, RedisLeaderLock, type LeaderLock } from '../store/leader-lock.js';
import { LeaderElection } from './leader-election.js';

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;
const elections: LeaderElection[] = [];

afterEach(async () => {
  await Promise.all(elections.splice(0).map((e) => e.stop()));
});

function elect(lock: LeaderLock, owner: string, nowMs: () => number, ttlMs = 1000): LeaderElection {
  const election = new LeaderElection({ lock, name: 'retention', owner, ttlMs, nowMs });
  elections.push(election);
  return election;
}

describe('LeaderElection', () => {
  it('lets one replica lead; a dead leader is replaced after the TTL, with a larger fencing token', async () => {
    let now = 0;
    const lock = new LocalLeaderLock(() => now);
    const a = elect(lock, 'a', () => now);
    const b = elect(lock, 'b', () => now);
    await a.tryLead();
    await b.tryLead();
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    const first = a.fencingToken!;
    // a renews while alive…
    now = 900;
    await a.tryLead();
    now = 1500;
    await b.tryLead();
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    // …then dies (stops renewing): by its own clock it stops leading when its lock expires, and b takes over.
    now = 1901;
    expect(a.isLeader).toBe(false);
    await b.tryLead();
    expect(b.isLeader).toBe(true);
    expect(b.fencingToken!).toBeGreaterThan(first);
  });

  it('hands over at once when the leader stops (SIGTERM)', async () => {
    const now = () => 0;
    const lock = new LocalLeaderLock(now);
    const a = elect(lock, 'a', now);
    const b = elect(lock, 'b', now);
    await a.tryLead();
    await a.stop();
    await b.tryLead();
    expect(b.isLeader).toBe(true);
  });

  it.skipIf(!redisUrl)('hands over through Redis within the TTL when the leader dies', async () => {
    const keyPrefix = `flexi-test:${randomId(8)}:`;
    const lockA = new RedisLeaderLock(redisUrl!, { keyPrefix });
    const lockB = new RedisLeaderLock(redisUrl!, { keyPrefix });
    try {
      const a = new LeaderElection({ lock: lockA, name: 'retention', owner: 'a', ttlMs: 1000 });
      const b = elect(lockB, 'b', Date.now, 1000);
      await a.tryLead();
      await b.tryLead();
      expect([a.isLeader, b.isLeader]).toEqual([true, false]);
      // a dies without releasing: b leads once Redis expired a's lock (polling, no fixed sleep).
      const deadline = Date.now() + 10_000;
      while (!b.isLeader && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        await b.tryLead();
      }
      expect(b.isLeader).toBe(true);
      expect(a.isLeader).toBe(false);
    } finally {
      await lockA.close();
      await lockB.close();
    }
  });
});
