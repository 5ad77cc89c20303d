import { Redis } from 'ioredis';
import { FlexiError } from '../core/errors.js';
import { closeRedis, redisCall } from './redis-call.js';
import {
  bucketKey, bucketStartMs, type CounterStore, type KeyRevokedListener, type ReserveOutcome, type ReserveSpec, type SettleSpec, type Strikes, type WindowState,
} from './counter-store.js';

/*
 * Each operation is one Lua script, so Redis runs it atomically: concurrent requests on any
 * number of replicas see each other's reservations. Times come from the caller (the replicas'
 * clocks, NTP-synchronised); only TTLs are relative. Reservations are hash fields
 * `id → tokens:expiresAtMs`, so a replica that dies mid-request stops holding budget once its
 * reservations expire.
 */

const SLIDING = `
local function estimate(prev, curr, now, windowMs)
  local start = math.floor(now / windowMs) * windowMs
  return math.max(prev, 0) * (1 - (now - start) / windowMs) + math.max(curr, 0)
end
local function resetMs(curr, now, windowMs)
  local start = math.floor(now / windowMs) * windowMs
  if curr > 0 then return start + 2 * windowMs - now end
  return start + windowMs - now
end
local function retryAfter(prev, curr, limit, now, windowMs)
  local start = math.floor(now / windowMs) * windowMs
  prev = math.max(prev, 0)
  curr = math.max(curr, 0)
  if curr >= limit then return start + windowMs - now + math.ceil(windowMs * (1 - limit / curr)) + 1 end
  if prev <= 0 then return 1 end
  return math.max(1, math.ceil(start + windowMs * (1 - (limit - curr) / prev) - now) + 1)
end
`;

// KEYS: inflight, then per window (current bucket, previous bucket), then budgets.
// ARGV: now, id, tokens, leaseMs, maxInflight (-1: none), #windows, #budgets,
//       per window (windowMs, limit, cost), per budget (limit), minTokens (-1: all or nothing).
const RESERVE = `${SLIDING}
local now = tonumber(ARGV[1])
local nw = tonumber(ARGV[6])
local nb = tonumber(ARGV[7])
local missing = {}
for i = 1, nb do
  local key = KEYS[1 + 2 * nw + i]
  if redis.call('EXISTS', key) == 0 then missing[#missing + 1] = key end
end
if #missing > 0 then return {'unseeded', missing} end
local entries = redis.call('HGETALL', KEYS[1])
local count, reserved = 0, 0
for i = 1, #entries, 2 do
  local value = entries[i + 1]
  local sep = string.find(value, ':', 1, true)
  local tokens = tonumber(string.sub(value, 1, sep - 1))
  local expires = tonumber(string.sub(value, sep + 1))
  if expires <= now then redis.call('HDEL', KEYS[1], entries[i]) else count = count + 1; reserved = reserved + tokens end
end
local maxInflight = tonumber(ARGV[5])
if maxInflight >= 0 and count >= maxInflight then return {'concurrency', count} end
local granted = tonumber(ARGV[3])
local minTokens = tonumber(ARGV[8 + 3 * nw + nb])
for i = 1, nb do
  local limit = tonumber(ARGV[7 + 3 * nw + i])
  local used = tonumber(redis.call('GET', KEYS[1 + 2 * nw + i]))
  local left = limit - used - reserved
  if left < granted then
    if left <= 0 or minTokens < 0 or left < minTokens then return {'budget', i - 1, used, reserved} end
    granted = left
  end
end
local states = {}
local blocked, retry = -1, 0
for i = 1, nw do
  local windowMs = tonumber(ARGV[8 + 3 * (i - 1)])
  local limit = tonumber(ARGV[9 + 3 * (i - 1)])
  local cost = tonumber(ARGV[10 + 3 * (i - 1)])
  local curr = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  local prev = tonumber(redis.call('GET', KEYS[2 * i + 1]) or '0')
  local est = estimate(prev, curr, now, windowMs)
  if blocked < 0 and est >= limit then
    blocked = i
    retry = retryAfter(prev, curr, limit, now, windowMs)
  end
  if blocked < 0 then
    states[#states + 1] = tostring(est + cost)
    states[#states + 1] = tostring(resetMs(curr + cost, now, windowMs))
  else
    states[#states + 1] = tostring(est)
    states[#states + 1] = tostring(resetMs(curr, now, windowMs))
  end
end
if blocked >= 0 then return {'window', blocked - 1, tostring(retry), states} end
for i = 1, nw do
  local windowMs = tonumber(ARGV[8 + 3 * (i - 1)])
  local cost = tonumber(ARGV[10 + 3 * (i - 1)])
  if cost ~= 0 then
    redis.call('INCRBY', KEYS[2 * i], cost)
    redis.call('PEXPIRE', KEYS[2 * i], 2 * windowMs)
  end
end
local lease = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[2], tostring(granted) .. ':' .. tostring(now + lease))
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return {'ok', states, granted}
`;

// KEYS: inflight, budgets…, window buckets…  ARGV: id, tokens, #budgets, then per window (delta, windowMs).
const SETTLE = `
redis.call('HDEL', KEYS[1], ARGV[1])
local tokens = tonumber(ARGV[2])
local nb = tonumber(ARGV[3])
for i = 1, nb do
  if tokens ~= 0 and redis.call('EXISTS', KEYS[1 + i]) == 1 then redis.call('INCRBY', KEYS[1 + i], tokens) end
end
for i = 2 + nb, #KEYS do
  local j = 4 + 2 * (i - 2 - nb)
  local delta = tonumber(ARGV[j])
  if delta ~= 0 then
    redis.call('INCRBY', KEYS[i], delta)
    redis.call('PEXPIRE', KEYS[i], 2 * tonumber(ARGV[j + 1]))
  end
end
return 1
`;

// KEYS: strikes hash. ARGV: now, ttlMs.
const STRIKE = `
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return count
`;

interface FlexiRedis extends Redis {
  flexiReserve(...args: (string | number)[]): Promise<unknown[]>;
  flexiSettle(...args: (string | number)[]): Promise<number>;
  flexiStrike(...args: (string | number)[]): Promise<number>;
}

function toStates(raw: string[], offset: number, count: number): WindowState[] {
  const states: WindowState[] = [];
  for (let i = 0; i < count; i++) states.push({ used: Number(raw[offset + 2 * i]), resetMs: Number(raw[offset + 2 * i + 1]) });
  return states;
}

/** Counters in Redis, shared by every replica that points at the same server. */
export class RedisCounterStore implements CounterStore {
  private readonly redis: FlexiRedis;
  private lastConnectionError: Error | undefined;
  /** Channels are not prefixed by ioredis: the key prefix keeps deployments (and tests) sharing a Redis apart. */
  private readonly revocationChannel: string;
  private readonly revokedListeners: KeyRevokedListener[] = [];
  private subscriber: Redis | undefined;
  private subscribed: Promise<void> = Promise.resolve();

  constructor(url: string, options: { keyPrefix?: string } = {}) {
    this.redis = new Redis(url, { keyPrefix: options.keyPrefix ?? 'flexi:', maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false }) as FlexiRedis;
    // Errors surface on the commands that fail; without a listener ioredis would also print them.
    // The last one is kept: a failed command only says that it ran out of retries.
    this.redis.on('error', (error: Error) => {
      this.lastConnectionError = error;
    });
    this.redis.on('ready', () => {
      this.lastConnectionError = undefined;
    });
    this.revocationChannel = `${options.keyPrefix ?? 'flexi:'}keys:revoked`;
    this.redis.defineCommand('flexiReserve', { lua: RESERVE });
    this.redis.defineCommand('flexiSettle', { lua: SETTLE });
    this.redis.defineCommand('flexiStrike', { lua: STRIKE, numberOfKeys: 1 });
  }

  async reserve(spec: ReserveSpec): Promise<ReserveOutcome> {
    const keys = [spec.inflightKey];
    for (const window of spec.windows) {
      const start = bucketStartMs(spec.nowMs, window.windowMs);
      keys.push(bucketKey(window.key, start), bucketKey(window.key, start - window.windowMs));
    }
    for (const budget of spec.budgets) keys.push(budget.key);
    const args: (string | number)[] = [
      spec.nowMs, spec.id, Math.max(0, Math.round(spec.tokens)), spec.leaseMs, spec.maxInflight ?? -1, spec.windows.length, spec.budgets.length,
    ];
    for (const window of spec.windows) args.push(window.windowMs, window.limit, Math.round(window.cost));
    for (const budget of spec.budgets) args.push(budget.limit);
    args.push(spec.minTokens === undefined ? -1 : Math.max(0, Math.round(spec.minTokens)));
    const result = await redisCall(() => this.redis.flexiReserve(keys.length, ...keys, ...args));
    const kind = result[0] as string;
    const prefix = this.redis.options.keyPrefix ?? '';
    switch (kind) {
      case 'ok':
        return { ok: true, windows: toStates(result[1] as string[], 0, spec.windows.length), tokens: Number(result[2]) };
      case 'unseeded':
        return { ok: false, reason: 'unseeded', keys: (result[1] as string[]).map((k) => k.slice(prefix.length)) };
      case 'concurrency':
        return { ok: false, reason: 'concurrency', inflight: Number(result[1]) };
      case 'budget':
        return { ok: false, reason: 'budget', index: Number(result[1]), used: Number(result[2]), reserved: Number(result[3]) };
      case 'window':
        return { ok: false, reason: 'window', index: Number(result[1]), retryAfterMs: Number(result[2]), windows: toStates(result[3] as string[], 0, spec.windows.length) };
      default:
        throw new Error(`unexpected reply from the reserve script: ${String(kind)}`);
    }
  }

  async settle(spec: SettleSpec): Promise<void> {
    const keys = [spec.inflightKey, ...spec.budgetKeys];
    const args: (string | number)[] = [spec.id, Math.max(0, Math.round(spec.tokens)), spec.budgetKeys.length];
    for (const window of spec.windows) {
      keys.push(bucketKey(window.key, bucketStartMs(spec.nowMs, window.windowMs)));
      args.push(Math.round(window.delta), window.windowMs);
    }
    await redisCall(() => this.redis.flexiSettle(keys.length, ...keys, ...args));
  }

  async seed(key: string, value: number, _nowMs: number, ttlMs: number): Promise<void> {
    await redisCall(() => this.redis.set(key, Math.round(value), 'PX', Math.max(1, Math.round(ttlMs)), 'NX'));
  }

  async addStrike(key: string, nowMs: number, ttlMs: number): Promise<Strikes> {
    const count = await redisCall(() => this.redis.flexiStrike(key, nowMs, ttlMs));
    return { count: Number(count), lastAtMs: nowMs };
  }

  async getStrikes(key: string): Promise<Strikes | undefined> {
    const values = await redisCall(() => this.redis.hgetall(key));
    if (!values.count) return undefined;
    return { count: Number(values.count), lastAtMs: Number(values.last) };
  }

  async clearStrikes(key: string): Promise<void> {
    await redisCall(() => this.redis.del(key));
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (error) {
      throw new FlexiError('store_unavailable', undefined, { retryAfterSeconds: 5, cause: this.lastConnectionError ?? error });
    }
  }


  async publishKeyRevoked(keyId: string): Promise<void> {
    await redisCall(() => this.redis.publish(this.revocationChannel, keyId));
  }

  /**
   * Pub/sub needs a connection of its own. ioredis subscribes again after a reconnect, but what
   * was published meanwhile is lost: each reconnect tells the listeners to forget every key.
   */
  async onKeyRevoked(listener: KeyRevokedListener): Promise<void> {
    this.revokedListeners.push(listener);
    if (this.subscriber) return this.subscribed;
    const subscriber = this.redis.duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', () => {});
    let readyBefore = false;
    subscriber.on('ready', () => {
      if (readyBefore) for (const each of this.revokedListeners) each(undefined);
      readyBefore = true;
    });
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.revocationChannel) for (const each of this.revokedListeners) each(message);
    });
    // Not fatal when Redis is down at start: key caches then rely on their TTL until it is back.
    this.subscribed = subscriber.subscribe(this.revocationChannel).then(() => undefined, () => undefined);
    return this.subscribed;
  }

  async close(): Promise<void> {
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
    await closeRedis(this.redis);
  }
}

/** Redis when a URL is configured, else memory. */
export async function createCounterStore(redisUrl: string | undefined, keyPrefix?: string): Promise<CounterStore> {
  if (!redisUrl) {
    const { MemoryCounterStore } = await import('./counter-store.js');
    return new MemoryCounterStore();
  }
  return new RedisCounterStore(redisUrl, { keyPrefix });
}
