import { Redis } from 'ioredis';
import { closeRedis, redisCall } from './redis-call.js';

/**
 * A named lock with a TTL and a fencing token, for leader election between gateway replicas: one
 * holder at a time, renewed while it lives, and free again `ttlMs` after a holder died. Each new
 * holder gets a larger token, so work a stale holder still finishes can be told apart (a job
 * that writes passes its token along, or checks `renew` before it commits).
 */
export interface LeaderLock {
  /** Takes the lock for `owner` or renews it if `owner` holds it: its fencing token, or undefined when another holds it. */
  acquire(name: string, owner: string, ttlMs: number): Promise<number | undefined>;
  /** Gives the lock up if `owner` holds it. */
  release(name: string, owner: string): Promise<void>;
  close(): Promise<void>;
}

/** One process: every lock is taken by whoever asks while nobody else in the process holds it. */
export class LocalLeaderLock implements LeaderLock {
  private readonly holders = new Map<string, { owner: string; token: number; expiresAtMs: number }>();
  private tokens = 0;

  constructor(private readonly nowMs: () => number = Date.now) {}

  acquire(name: string, owner: string, ttlMs: number): Promise<number | undefined> {
    const now = this.nowMs();
    const held = this.holders.get(name);
    if (held && held.owner !== owner && held.expiresAtMs > now) return Promise.resolve(undefined);
    const token = held?.owner === owner && held.expiresAtMs > now ? held.token : ++this.tokens;
    this.holders.set(name, { owner, token, expiresAtMs: now + ttlMs });
    return Promise.resolve(token);
  }

  release(name: string, owner: string): Promise<void> {
    if (this.holders.get(name)?.owner === owner) this.holders.delete(name);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

// KEYS: lock, fencing counter. ARGV: owner, ttlMs. The lock's value is `token:owner`.
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ':', 1, true)
  if string.sub(current, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(current, 1, sep - 1))
  end
  return -1
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], tostring(token) .. ':' .. ARGV[1], 'PX', ARGV[2])
return token
`;

// KEYS: lock. ARGV: owner.
const RELEASE = `
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, string.find(current, ':', 1, true) + 1) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

interface LockRedis extends Redis {
  flexiLockAcquire(lock: string, fence: string, owner: string, ttlMs: number): Promise<number>;
  flexiLockRelease(lock: string, owner: string): Promise<number>;
}

/** Leader locks in Redis (SET NX PX with an owner check in Lua, INCR for the fencing token). */
export class RedisLeaderLock implements LeaderLock {
  private readonly redis: LockRedis;

  constructor(url: string, options: { keyPrefix?: string } = {}) {
    this.redis = new Redis(url, { keyPrefix: options.keyPrefix ?? 'flexi:', maxRetriesPerRequest: 2 }) as LockRedis;
    this.redis.on('error', () => undefined);
    this.redis.defineCommand('flexiLockAcquire', { lua: ACQUIRE, numberOfKeys: 2 });
    this.redis.defineCommand('flexiLockRelease', { lua: RELEASE, numberOfKeys: 1 });
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<number | undefined> {
    const token = await redisCall(() => this.redis.flexiLockAcquire(`leader:${name}`, `leader-fence:${name}`, owner, Math.round(ttlMs)));
    return token < 0 ? undefined : Number(token);
  }

  async release(name: string, owner: string): Promise<void> {
    await redisCall(() => this.redis.flexiLockRelease(`leader:${name}`, owner));
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }

}
