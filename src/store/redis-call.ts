import type { Redis } from 'ioredis';
import { FlexiError } from '../core/errors.js';

/**
 * Runs one Redis operation; a connection failure becomes a 503 `store_unavailable` the client can
 * retry (limits, budgets, slot leases and leader locks cannot be proven without Redis).
 */
export async function redisCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new FlexiError('store_unavailable', undefined, { retryAfterSeconds: 5, cause: error });
  }
}

/** Closes a connection politely, or drops it when Redis does not answer. */
export async function closeRedis(redis: Redis): Promise<void> {
  await redis.quit().catch(() => redis.disconnect());
}
