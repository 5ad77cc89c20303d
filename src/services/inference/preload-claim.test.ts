import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMigratedPostgresUrl, postgresTestUrl } from '../../../test/helpers/db.js';
import { randomId } from '../../lib/ids.js';
import { LocalLeaderLock, RedisLeaderLock, type LeaderLock } from '../../store/leader-lock.js';
import { PostgresLeaderLock } from '../../store/postgres-leader-lock.js';
import type { NodeInit } from '../../scheduler/node-state.js';
import { Harness, settle } from '../../scheduler/testing.js';
import { claimedPreloader } from './preload-claim.js';

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;

/** Two replicas' locks over one shared backing store (one instance for the local lock: one process). */
const lockPairs: [string, (() => Promise<[LeaderLock, LeaderLock]>) | undefined][] = [
  ['local', () => {
    const lock = new LocalLeaderLock();
    return Promise.resolve([lock, lock]);
  }],
  ['redis', redisUrl ? () => {
    const keyPrefix = `flexi-test:${randomId(8)}:`;
    return Promise.resolve([new RedisLeaderLock(redisUrl, { keyPrefix }), new RedisLeaderLock(redisUrl, { keyPrefix })]);
  } : undefined],
  ['postgres', postgresTestUrl ? async () => {
    const url = await createMigratedPostgresUrl();
    return [new PostgresLeaderLock(url), new PostgresLeaderLock(url)];
  } : undefined],
];

/** A node that records the loads it was sent and finishes each when the test says so. */
function recordingNode() {
  const loads: string[] = [];
  const pending: (() => void)[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const preload = (node: string, model: string) => {
    loads.push(`${node}/${model}`);
    for (const waiter of waiters.filter((w) => loads.length >= w.count)) waiter.resolve();
    return new Promise<void>((resolve) => pending.push(resolve));
  };
  /** Resolves once the node has received `count` loads in all. */
  const received = (count: number) => new Promise<void>((resolve) => {
    if (loads.length >= count) resolve();
    else waiters.push({ count, resolve });
  });
  return { loads, preload, received, finishAll: () => pending.splice(0).forEach((resolve) => resolve()) };
}

for (const [name, createPair] of lockPairs) {
  describe.skipIf(!createPair)(`claimedPreloader [${name}]`, () => {
    let locks: [LeaderLock, LeaderLock];
    beforeEach(async () => {
      locks = await createPair!();
    });
    afterEach(async () => {
      await Promise.all([...new Set(locks)].map((lock) => lock.close()));
    });

    it('sends one load per node and model at a time across replicas, and lets the next one claim after it ended', async () => {
      const node = recordingNode();
      const a = claimedPreloader(node.preload, { lock: locks[0], owner: 'replica-a', ttlMs: 60_000 });
      const b = claimedPreloader(node.preload, { lock: locks[1], owner: 'replica-b', ttlMs: 60_000 });
      const first = a('gpu1', 'llama3:8b');
      // Wait until replica a's load reached the node (its claim is taken by then).
      await node.received(1);
      expect(await b('gpu1', 'llama3:8b')).toBe('skipped');
      expect(node.loads).toEqual(['gpu1/llama3:8b']);

      // Other pairs are independent.
      const other = b('gpu2', 'llama3:8b');
      await node.received(2);
      expect(node.loads).toEqual(['gpu1/llama3:8b', 'gpu2/llama3:8b']);

      node.finishAll();
      await Promise.all([first, other]);
      const again = b('gpu1', 'llama3:8b');
      await node.received(3);
      node.finishAll();
      await again;
      expect(node.loads).toEqual(['gpu1/llama3:8b', 'gpu2/llama3:8b', 'gpu1/llama3:8b']);
    });

    it('gives the claim back when the load fails', async () => {
      const failing = claimedPreloader(() => Promise.reject(new Error('out of memory')), { lock: locks[0], owner: 'replica-a', ttlMs: 60_000 });
      await expect(failing('gpu1', 'llama3:8b')).rejects.toThrow('out of memory');
      const node = recordingNode();
      const b = claimedPreloader(node.preload, { lock: locks[1], owner: 'replica-b', ttlMs: 60_000 });
      const loading = b('gpu1', 'llama3:8b');
      await node.received(1);
      node.finishAll();
      await loading;
      expect(node.loads).toEqual(['gpu1/llama3:8b']);
    });
  });
}

describe('two replicas\' schedulers over one lock', () => {
  const busy: NodeInit = { name: 'n1', type: 'ollama', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 4 };
  const empty: NodeInit = { name: 'n2', type: 'ollama', models: [{ name: 'm' }], slots: 4 };

  it('send the node one load of a model when both want a replica of it at once', async () => {
    const lock = new LocalLeaderLock();
    const node = recordingNode();
    const replicas = ['r1', 'r2'].map((owner) => new Harness([busy, empty], {}, claimedPreloader(node.preload, { lock, owner, ttlMs: 60_000 })));
    // Each replica's only idle copy of the model gets busy: each wants to load one more on n2.
    for (const replica of replicas) await replica.scheduler.acquire({ model: 'm', userId: 'a' });
    await settle();
    expect(node.loads).toEqual(['n2/m']);
    // The replica that lost the claim sent nothing and keeps its requests off n2 meanwhile.
    expect(replicas[1]!.scheduler.snapshot().nodes[1]!.models.m).toMatchObject({ resident: false });
    expect(replicas[1]!.scheduler.snapshot().counters).toMatchObject({ preloads: 1, preloadsFailed: 0, preloadsSkipped: 1 });
    expect(replicas[0]!.scheduler.snapshot().nodes[1]!.models.m).toMatchObject({ resident: true, preloading: true });
    node.finishAll();
    await settle();
    expect(replicas[0]!.scheduler.snapshot().nodes[1]!.models.m).toMatchObject({ resident: true, preloading: false });
  });
});
