import { Redis } from 'ioredis';
import { closeRedis, redisCall } from './redis-call.js';
import type { HeldSlot, SlotStore, SlotTakeResult, SlotTakeSpec } from './slot-store.js';

/*
 * The shared slot budget in Redis (rules in slot-store.ts). Per model, one hash of live slots
 * `slotId → node \t user \t expiresAtMs` and one sorted set of waiting users (score: until when
 * they count as waiting); one set `slot-models` names the models that had a take, so the slots of
 * every model can be counted without scanning the key space. Each operation is one Lua script, so
 * Redis runs it atomically: two replicas can never both take the last slot of a node. Times come
 * from the replicas' clocks (NTP-synchronised); only the keys' own TTLs are relative.
 */

/**
 * How long the set of models outlives the last take. A model's slots are only counted by `heldOnNodes` while it
 * is in the set, so this must exceed any request's run time (a slot is refreshed, not taken again, while it runs).
 */
const MODELS_TTL_MS = 7 * 24 * 3600_000;

const PARSE = `
local function parse(value)
  local a = string.find(value, '\\t', 1, true)
  local b = string.find(value, '\\t', a + 1, true)
  return string.sub(value, 1, a - 1), string.sub(value, a + 1, b - 1), tonumber(string.sub(value, b + 1))
end
`;

// KEYS: slots hash, waiting zset, models set. ARGV: now, ttlMs, node, limit, reserve, slotId, waitTtlMs, model, users…
const TAKE = `${PARSE}
local MODELS_TTL_MS = ${MODELS_TTL_MS}
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local node = ARGV[3]
local limit = tonumber(ARGV[4])
local reserve = tonumber(ARGV[5])
local waitTtl = tonumber(ARGV[7])
local entries = redis.call('HGETALL', KEYS[1])
local onNode = 0
local holding = {}
for i = 1, #entries, 2 do
  local slotNode, user, expires = parse(entries[i + 1])
  if expires <= now then
    redis.call('HDEL', KEYS[1], entries[i])
  else
    if slotNode == node then onNode = onNode + 1 end
    holding[user] = true
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local mine = {}
for i = 9, #ARGV do
  mine[ARGV[i]] = true
  redis.call('ZADD', KEYS[2], now + waitTtl, ARGV[i])
end
if #ARGV >= 9 then redis.call('PEXPIRE', KEYS[2], 2 * waitTtl) end
if onNode >= limit then return {'full', onNode} end
local user = nil
for i = 9, #ARGV do
  if not holding[ARGV[i]] then user = ARGV[i]; break end
end
if user == nil then
  if limit - onNode <= reserve then
    for _, other in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      if not mine[other] and not holding[other] then return {'reserved', onNode} end
    end
  end
  user = ARGV[9] or ''
end
redis.call('HSET', KEYS[1], ARGV[6], node .. '\\t' .. user .. '\\t' .. tostring(now + ttl))
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('SADD', KEYS[3], ARGV[8])
if redis.call('PTTL', KEYS[3]) < MODELS_TTL_MS then redis.call('PEXPIRE', KEYS[3], MODELS_TTL_MS) end
return {'ok', onNode + 1}
`;

// KEYS: slots hash. ARGV: now, ttlMs, then (slotId, node, user) triples.
const REFRESH = `
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '\\t' .. ARGV[i + 2] .. '\\t' .. tostring(now + ttl))
end
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

// Live slots per node in the slot hashes KEYS[from..], leaving out ids that start with `except` (when not empty).
const COUNT_NODES = `
local function count_nodes(from, now, except)
  local counts = {}
  for k = from, #KEYS do
    local entries = redis.call('HGETALL', KEYS[k])
    for i = 1, #entries, 2 do
      local slotNode, _, expires = parse(entries[i + 1])
      local excluded = except ~= '' and string.sub(entries[i], 1, #except) == except
      if expires > now and not excluded then counts[slotNode] = (counts[slotNode] or 0) + 1 end
    end
  end
  local out = {}
  for slotNode, count in pairs(counts) do out[#out + 1] = slotNode; out[#out + 1] = count end
  return out
end
`;

// KEYS: slots hash. ARGV: now. Returns node, count pairs of live slots.
const COUNT = `${PARSE}${COUNT_NODES}
return count_nodes(1, tonumber(ARGV[1]), '')
`;

// KEYS: models set, then the slots hash of every model the caller knows of. ARGV: now, prefix of ids to leave out.
// Returns the set's members (the caller asks again if it did not know all of them) and node, count pairs.
const COUNT_ALL = `${PARSE}${COUNT_NODES}
return {redis.call('SMEMBERS', KEYS[1]), count_nodes(2, tonumber(ARGV[1]), ARGV[2])}
`;

interface SlotRedis extends Redis {
  flexiSlotTake(...args: (string | number)[]): Promise<[string, number]>;
  flexiSlotRefresh(...args: (string | number)[]): Promise<number>;
  flexiSlotCount(...args: (string | number)[]): Promise<(string | number)[]>;
  flexiSlotCountAll(...args: (string | number)[]): Promise<[string[], (string | number)[]]>;
}

const slotsKey = (model: string) => `slots:${model}`;
const waitingKey = (model: string) => `slots-waiting:${model}`;
const MODELS_KEY = 'slot-models';

/** Slot leases in Redis, shared by every replica that points at the same server and key prefix. */
export class RedisSlotStore implements SlotStore {
  private readonly redis: SlotRedis;
  /** Models seen in `slot-models` at the last count: their hashes are read in the same script. */
  private knownModels: string[] = [];

  constructor(url: string, options: { keyPrefix?: string } = {}) {
    this.redis = new Redis(url, { keyPrefix: options.keyPrefix ?? 'flexi:', maxRetriesPerRequest: 2, enableOfflineQueue: true }) as SlotRedis;
    // Errors surface on the commands that fail; without a listener ioredis would also print them.
    this.redis.on('error', () => undefined);
    this.redis.defineCommand('flexiSlotTake', { lua: TAKE, numberOfKeys: 3 });
    this.redis.defineCommand('flexiSlotRefresh', { lua: REFRESH, numberOfKeys: 1 });
    this.redis.defineCommand('flexiSlotCount', { lua: COUNT, numberOfKeys: 1 });
    // The number of keys varies (one hash per model): it is the command's first argument.
    this.redis.defineCommand('flexiSlotCountAll', { lua: COUNT_ALL });
  }

  async take(spec: SlotTakeSpec): Promise<SlotTakeResult> {
    const [kind, heldOnNode] = await redisCall(() => this.redis.flexiSlotTake(
      slotsKey(spec.model), waitingKey(spec.model), MODELS_KEY, Math.round(spec.nowMs), Math.round(spec.ttlMs), spec.node, spec.limit, spec.reserve,
      spec.slotId, Math.round(spec.waitTtlMs), spec.model, ...spec.users,
    ));
    if (kind === 'ok') return { ok: true, heldOnNode: Number(heldOnNode) };
    return { ok: false, reason: kind === 'full' ? 'full' : 'reserved', heldOnNode: Number(heldOnNode) };
  }

  async release(model: string, slotIds: readonly string[]): Promise<void> {
    if (slotIds.length === 0) return;
    await redisCall(() => this.redis.hdel(slotsKey(model), ...slotIds));
  }

  async refresh(model: string, slots: readonly HeldSlot[], nowMs: number, ttlMs: number): Promise<void> {
    if (slots.length === 0) return;
    const args = slots.flatMap((s) => [s.slotId, s.node, s.user]);
    await redisCall(() => this.redis.flexiSlotRefresh(slotsKey(model), Math.round(nowMs), Math.round(ttlMs), ...args));
  }

  async heldPerNode(model: string, nowMs: number): Promise<Record<string, number>> {
    const flat = await redisCall(() => this.redis.flexiSlotCount(slotsKey(model), Math.round(nowMs)));
    return Object.fromEntries(nodeCounts(flat));
  }

  /**
   * One round trip as a rule: the hashes of the models known from the last call are counted together with
   * reading the set of models; only when that set names a model not known yet is it counted again at once.
   */
  async heldOnNodes(nowMs: number, exceptIdPrefix = ''): Promise<Map<string, number>> {
    for (let attempt = 0; ; attempt++) {
      const known = this.knownModels;
      const [models, flat] = await redisCall(() => this.redis.flexiSlotCountAll(
        1 + known.length, MODELS_KEY, ...known.map(slotsKey), Math.round(nowMs), exceptIdPrefix,
      ));
      this.knownModels = [...models].sort();
      const complete = models.every((model) => known.includes(model));
      if (complete || attempt > 0) return nodeCounts(flat);
    }
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }
}

/** The scripts' flat `node, count, node, count…` answer as a map. */
function nodeCounts(flat: readonly (string | number)[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) counts.set(String(flat[i]), Number(flat[i + 1]));
  return counts;
}
