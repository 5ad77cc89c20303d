import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FlexiError } from '../../core/errors.js';
import { ManualClock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import { MemoryCounterStore, type CounterStore } from '../../store/counter-store.js';
import { RedisCounterStore } from '../../store/redis-counter-store.js';
import { LoginThrottle } from './login-throttle.js';

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;
const WINDOW_MS = 15 * 60_000;

const implementations: [string, (() => CounterStore) | undefined][] = [
  ['memory', () => new MemoryCounterStore()],
  ['redis', redisUrl ? () => new RedisCounterStore(redisUrl, { keyPrefix: `flexi-test:${randomId(8)}:` }) : undefined],
];

async function refusal(check: Promise<void>): Promise<FlexiError | undefined> {
  try {
    await check;
    return undefined;
  } catch (error) {
    return error as FlexiError;
  }
}

for (const [name, create] of implementations) {
  describe.skipIf(!create)(`LoginThrottle [${name}]`, () => {
    let counters: CounterStore;
    let clock: ManualClock;
    let throttle: LoginThrottle;
    // Two replicas share one counter store: what one counts, the other enforces.
    let otherReplica: LoginThrottle;
    beforeEach(() => {
      counters = create!();
      clock = new ManualClock();
      const options = { counters, freeAttempts: 5, backoffMs: 1000, windowMs: WINDOW_MS, failuresPerAddress: 20, clock };
      throttle = new LoginThrottle(options);
      otherReplica = new LoginThrottle(options);
    });
    afterEach(() => counters.close());

    it('stops one address spraying one password over many accounts with 429 and Retry-After, across replicas', async () => {
      const ip = '203.0.113.7';
      for (let i = 0; i < 20; i++) {
        const replica = i % 2 === 0 ? throttle : otherReplica;
        await replica.check(`student${i}@uni.example`, ip);
        await replica.failed(`student${i}@uni.example`, ip);
        clock.advance(1000);
      }
      // The 21st account, never tried before, is refused: the address is what is limited.
      const refused = await refusal(otherReplica.check('student20@uni.example', ip));
      expect(refused?.code).toBe('rate_limit_exceeded');
      expect(refused?.retryAfterSeconds).toBeGreaterThan(WINDOW_MS / 1000 - 2);
      expect(refused?.retryAfterSeconds).toBeLessThanOrEqual(WINDOW_MS / 1000);
      // Other addresses are not affected.
      await expect(throttle.check('student20@uni.example', '203.0.113.8')).resolves.toBeUndefined();
      // One valid account on the sprayed list does not reset the address.
      await throttle.succeeded('student3@uni.example', ip);
      expect((await refusal(throttle.check('student21@uni.example', ip)))?.code).toBe('rate_limit_exceeded');
      // The window after the last failure passes: the address may try again.
      clock.advance(WINDOW_MS);
      await expect(throttle.check('student21@uni.example', ip)).resolves.toBeUndefined();
    });

    it('lets an address with fewer failures than the limit go on', async () => {
      const ip = '203.0.113.9';
      for (let i = 0; i < 19; i++) await throttle.failed(`user${i}@uni.example`, ip);
      await expect(throttle.check('user19@uni.example', ip)).resolves.toBeUndefined();
    });

    it('keeps the per-account backoff for guesses on one account', async () => {
      const ip = '203.0.113.10';
      for (let i = 0; i < 5; i++) await throttle.failed('anna@uni.example', ip);
      const refused = await refusal(throttle.check('anna@uni.example', ip));
      expect(refused?.code).toBe('rate_limit_exceeded');
      expect(refused?.retryAfterSeconds).toBe(1);
      await expect(throttle.check('ben@uni.example', ip)).resolves.toBeUndefined();
    });

    it('does not limit addresses when failuresPerAddress is 0', async () => {
      const open = new LoginThrottle({ counters, freeAttempts: 5, backoffMs: 1000, windowMs: WINDOW_MS, failuresPerAddress: 0, clock });
      for (let i = 0; i < 50; i++) await open.failed(`x${i}@uni.example`, '203.0.113.11');
      await expect(open.check('x50@uni.example', '203.0.113.11')).resolves.toBeUndefined();
    });
  });
}
