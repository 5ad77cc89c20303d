import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomId } from '../lib/ids.js';
import { createMigratedPostgresUrl, postgresTestUrl } from '../../test/helpers/db.js';
import { LocalLeaderLock, RedisLeaderLock, type LeaderLock } from './leader-lock.js';
import { PostgresLeaderLock } from './postgres-leader-lock.js';
import { RedisSlotStore } from './redis-slot-store.js';
import { MemorySlotStore, type SlotStore, type SlotTakeSpec } from './slot-store.js';

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const prefix = () => `flexi-test:${randomId(8)}:`;

const slotStores: [string, (() => SlotStore) | undefined][] = [
  ['memory', () => new MemorySlotStore()],
  ['redis', redisUrl ? () => new RedisSlotStore(redisUrl, { keyPrefix: prefix() }) : undefined],
];

let sequence = 0;
const spec = (over: Partial<SlotTakeSpec> = {}): SlotTakeSpec => ({
  model: 'llama3:8b', node: 'gpu1', limit: 2, reserve: 0, slotId: `s${++sequence}`, users: ['u1'], nowMs: T0, ttlMs: 10_000, waitTtlMs: 1000, ...over,
});

for (const [name, create] of slotStores) {
  describe.skipIf(!create)(`SlotStore [${name}]`, () => {
    let store: SlotStore;
    beforeEach(() => {
      store = create!();
    });
    afterEach(() => store.close());

    it('counts live slots per node over all models, and leaves out the slots of one replica when asked', async () => {
      await store.take(spec({ slotId: 'a.1' }));
      await store.take(spec({ slotId: 'b.1', node: 'gpu2' }));
      await store.take(spec({ slotId: 'b.2', model: 'qwen3:32b', ttlMs: 1000 }));
      expect(await store.heldOnNodes(T0)).toEqual(new Map([['gpu1', 2], ['gpu2', 1]]));
      expect(await store.heldOnNodes(T0, 'b.')).toEqual(new Map([['gpu1', 1]]));
      expect(await store.heldOnNodes(T0, 'a.')).toEqual(new Map([['gpu1', 1], ['gpu2', 1]]));
      // The qwen slot was not refreshed: past its TTL it is no longer counted.
      expect(await store.heldOnNodes(T0 + 2000)).toEqual(new Map([['gpu1', 1], ['gpu2', 1]]));
      await store.release('llama3:8b', ['a.1']);
      expect(await store.heldOnNodes(T0 + 2000, 'b.')).toEqual(new Map());
    });

    it('grants slots up to the node limit and refuses the next, per node', async () => {
      expect(await store.take(spec())).toEqual({ ok: true, heldOnNode: 1 });
      expect(await store.take(spec())).toEqual({ ok: true, heldOnNode: 2 });
      expect(await store.take(spec())).toEqual({ ok: false, reason: 'full', heldOnNode: 2 });
      expect((await store.take(spec({ node: 'gpu2' }))).ok).toBe(true);
      expect(await store.heldPerNode('llama3:8b', T0)).toEqual({ gpu1: 2, gpu2: 1 });
    });

    it('never grants more than the limit to concurrent takes', async () => {
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => store.take(spec({ limit: 7, users: [`u${i}`] }))));
      expect(results.filter((r) => r.ok)).toHaveLength(7);
      expect(await store.heldPerNode('llama3:8b', T0)).toEqual({ gpu1: 7 });
    });

    it('frees a released slot at once and an unrefreshed one after its TTL', async () => {
      const a = spec();
      const b = spec();
      await store.take(a);
      await store.take(b);
      await store.release('llama3:8b', [a.slotId]);
      expect((await store.take(spec({ nowMs: T0 + 1 }))).ok).toBe(true);
      // b was never refreshed: gone once its TTL passed; a refreshed slot stays.
      const c = spec({ nowMs: T0 + 5000 });
      await store.refresh('llama3:8b', [{ slotId: b.slotId, node: 'gpu1', user: 'u1' }], T0 + 5000, 10_000);
      expect(await store.take(c)).toMatchObject({ ok: false, reason: 'full' });
      expect(await store.heldPerNode('llama3:8b', T0 + 12_000)).toEqual({ gpu1: 1 });
      expect((await store.take(spec({ nowMs: T0 + 12_000 }))).ok).toBe(true);
    });

    it('keeps the reserve for a newcomer waiting at another replica, and lets the newcomer take it', async () => {
      for (let i = 0; i < 3; i++) await store.take(spec({ limit: 4, reserve: 1, users: ['flooder'] }));
      // A newcomer waits at another replica: the node is not full yet, but only the reserve is left.
      const newcomerFull = await store.take(spec({ limit: 4, reserve: 1, users: ['newcomer'], node: 'gpu9', nowMs: T0 + 1 }));
      expect(newcomerFull.ok).toBe(true);
      await store.release('llama3:8b', [newcomerFull.ok ? `s${sequence}` : '']);
      // Register the newcomer as waiting (a take that found the node full does that too).
      await store.take(spec({ limit: 3, reserve: 1, users: ['newcomer'], nowMs: T0 + 2 }));
      expect(await store.take(spec({ limit: 4, reserve: 1, users: ['flooder'], nowMs: T0 + 3 }))).toMatchObject({ ok: false, reason: 'reserved' });
      expect(await store.take(spec({ limit: 4, reserve: 1, users: ['newcomer'], nowMs: T0 + 4 }))).toMatchObject({ ok: true, heldOnNode: 4 });
    });

    it('lends the reserve when no newcomer waits any more', async () => {
      for (let i = 0; i < 3; i++) await store.take(spec({ limit: 4, reserve: 1, users: ['flooder'] }));
      await store.take(spec({ limit: 3, reserve: 1, users: ['newcomer'], waitTtlMs: 100 }));
      expect((await store.take(spec({ limit: 4, reserve: 1, users: ['flooder'], nowMs: T0 + 50 }))).ok).toBe(false);
      expect((await store.take(spec({ limit: 4, reserve: 1, users: ['flooder'], nowMs: T0 + 200 }))).ok).toBe(true);
    });
  });
}

const locks: [string, (() => LeaderLock | Promise<LeaderLock>) | undefined][] = [
  ['local', () => new LocalLeaderLock()],
  ['redis', redisUrl ? () => new RedisLeaderLock(redisUrl, { keyPrefix: prefix() }) : undefined],
  ['postgres', postgresTestUrl ? async () => new PostgresLeaderLock(await createMigratedPostgresUrl()) : undefined],
];

for (const [name, create] of locks) {
  describe.skipIf(!create)(`LeaderLock [${name}]`, () => {
    let lock: LeaderLock;
    beforeEach(async () => {
      lock = await create!();
    });
    afterEach(() => lock.close());

    it('has one holder; renewing keeps its fencing token; a new holder gets a larger one', async () => {
      const first = await lock.acquire('retention', 'a', 10_000);
      expect(first).toBeGreaterThan(0);
      expect(await lock.acquire('retention', 'b', 10_000)).toBeUndefined();
      expect(await lock.acquire('retention', 'a', 10_000)).toBe(first);
      // Another job's lock is independent.
      expect(await lock.acquire('discovery', 'b', 10_000)).toBeGreaterThan(0);
      await lock.release('retention', 'b');
      expect(await lock.acquire('retention', 'b', 10_000)).toBeUndefined();
      await lock.release('retention', 'a');
      const second = await lock.acquire('retention', 'b', 10_000);
      expect(second).toBeGreaterThan(first!);
    });
  });
}

describe.skipIf(!redisUrl)('RedisSlotStore.heldOnNodes', () => {
  it('counts the slots another replica took, also of models this one never saw, in one consistent read', async () => {
    const keyPrefix = prefix();
    const mine = new RedisSlotStore(redisUrl!, { keyPrefix });
    const other = new RedisSlotStore(redisUrl!, { keyPrefix });
    try {
      await other.take(spec({ slotId: 'other.1' }));
      await mine.take(spec({ slotId: 'mine.1' }));
      expect(await mine.heldOnNodes(T0, 'mine.')).toEqual(new Map([['gpu1', 1]]));
      // A model only the other replica serves shows up at the next count.
      await other.take(spec({ slotId: 'other.2', model: 'qwen3:32b', node: 'gpu2' }));
      expect(await mine.heldOnNodes(T0, 'mine.')).toEqual(new Map([['gpu1', 1], ['gpu2', 1]]));
      await other.release('qwen3:32b', ['other.2']);
      expect(await mine.heldOnNodes(T0, 'mine.')).toEqual(new Map([['gpu1', 1]]));
      // Another key prefix is another cluster.
      const elsewhere = new RedisSlotStore(redisUrl!, { keyPrefix: prefix() });
      expect(await elsewhere.heldOnNodes(T0)).toEqual(new Map());
      await elsewhere.close();
    } finally {
      await mine.close();
      await other.close();
    }
  });
});
