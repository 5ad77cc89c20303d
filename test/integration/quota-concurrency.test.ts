import { afterEach, describe, expect, it } from 'vitest';
import { randomId } from '../../src/lib/ids.js';
import { pseudonymFor } from '../../src/services/identity/pseudonym.js';
import type { CounterStore } from '../../src/store/counter-store.js';
import { RedisCounterStore } from '../../src/store/redis-counter-store.js';
import { openDatabase, type Store } from '../../src/store/store.js';
import { createPostgresTestSchema, openTestStore, postgresTestUrl } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;

const BUDGET = 100;
const CONFIG = `
roles:
  student: { models: ['*'], tokens_per_day: ${BUDGET} }
  limited: { models: ['*'], requests_per_minute: 5, max_concurrent: 2 }
`;
// The reservation bounds the input from above (src/services/token-estimate.ts): 16 per request
// + 8 per message + 4 bytes of role + 20 bytes of text, plus max_tokens 3 = 51. The scripted
// backend reports 5 prompt tokens, so a request really uses 5 + 3 = 8.
const PROMPT = 'hello there, flexi!!';
const RESERVATION = 16 + 8 + 4 + 20 + 3;
const USED_PER_REQUEST = 5 + 3;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function chat(url: string, key: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...bearer(key), 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: PROMPT }], max_tokens: 3 }),
  });
}

async function fire(urls: string[], key: string, count: number) {
  const responses = await Promise.all(Array.from({ length: count }, (_, i) => chat(urls[i % urls.length]!, key)));
  let tokens = 0;
  const statuses = new Map<number, number>();
  const errors = new Set<string>();
  for (const response of responses) {
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    const body = (await response.json()) as { usage?: { total_tokens: number }; error?: { code: string; message: string } };
    if (response.status === 200) tokens += body.usage!.total_tokens;
    else errors.add(`${response.status} ${body.error!.code} ${/resets at \d{4}-\d{2}-\d{2}T/.test(body.error!.message) ? 'with reset time' : body.error!.message}`);
  }
  return { tokens, statuses, errors };
}

/** Sequential requests until the budget refuses one: the tokens they used. */
async function useUp(url: string, key: string): Promise<number> {
  let tokens = 0;
  for (let i = 0; i < 50; i++) {
    const response = await chat(url, key);
    const body = (await response.json()) as { usage?: { total_tokens: number } };
    if (response.status === 429) return tokens;
    tokens += body.usage!.total_tokens;
  }
  throw new Error('the budget never refused a request');
}

async function recordedTokens(store: Store, userId: string, secret: string): Promise<number> {
  return store.usage.sumTokensSince(pseudonymFor(userId, secret), '2000-01-01T00:00:00.000Z');
}

const DEV_SECRET = 'flexi-dev-pseudonym-secret-change-me';

describe('token budgets under concurrency', () => {
  it('200 parallel requests in one process never spend more than the budget', async () => {
    const store = await openTestStore('sqlite');
    cleanups.push(() => store.close());
    const gateway = await startIdentityGateway([new ScriptedBackend({ words: ['a', 'b', 'c'] })], { store, configText: CONFIG });
    cleanups.push(() => gateway.close());
    const { user, key } = await userWithKey(gateway.identity, 'stud@uni.example', ['student']);

    const { tokens, statuses, errors } = await fire([gateway.url], key, 200);
    expect(tokens).toBeGreaterThanOrEqual(USED_PER_REQUEST);
    expect(tokens).toBeLessThanOrEqual(BUDGET);
    expect(statuses.get(200)! + statuses.get(429)!).toBe(200);
    expect([...errors]).toEqual(['429 insufficient_quota with reset time']);
    // What the parallel burst left is used up one by one, never beyond the budget.
    const total = tokens + await useUp(gateway.url, key);
    expect(total).toBeGreaterThan(BUDGET - RESERVATION);
    expect(total).toBeLessThanOrEqual(BUDGET);
    await gateway.usage.flush();
    expect(await recordedTokens(store, user.id, DEV_SECRET)).toBe(total);
  });

  it('limits requests per minute and concurrent requests with Retry-After and x-ratelimit headers', async () => {
    const store = await openTestStore('sqlite');
    cleanups.push(() => store.close());
    const gateway = await startIdentityGateway([new ScriptedBackend({ words: ['a', 'b', 'c'] })], { store, configText: CONFIG });
    cleanups.push(() => gateway.close());
    const { key } = await userWithKey(gateway.identity, 'lim@uni.example', ['limited']);
    const first = await chat(gateway.url, key);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('5');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('4');
    const rest = await Promise.all(Array.from({ length: 6 }, () => chat(gateway.url, key)));
    const limited = rest.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(2);
    for (const response of limited) {
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    }
    expect(limited.some((r) => r.headers.get('x-ratelimit-remaining-requests') === '0')).toBe(true);
  });

  it('answers 503 store_unavailable with Retry-After when Redis is unreachable; nothing reaches the model', async () => {
    const store = await openTestStore('sqlite');
    cleanups.push(() => store.close());
    // Port 1 on the loopback: nothing listens, every connection is refused.
    const counters = new RedisCounterStore('redis://127.0.0.1:1', { keyPrefix: 'flexi-test-down:' });
    cleanups.push(() => counters.close());
    const backend = new ScriptedBackend({ words: ['a', 'b', 'c'] });
    const gateway = await startIdentityGateway([backend], { store, configText: CONFIG, counters });
    cleanups.push(() => gateway.close());
    const { key } = await userWithKey(gateway.identity, 'down@uni.example', ['limited']);
    const response = await chat(gateway.url, key);
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('store_unavailable');
    expect(body.error.message).toMatch(/unreachable/);
    expect(backend.seen).toHaveLength(0);
  });

  it.skipIf(!postgresTestUrl || !redisUrl)('two Flexi processes sharing PostgreSQL and Redis never spend more than the budget together', async () => {
    const schema = await createPostgresTestSchema();
    cleanups.push(() => schema.drop());
    const storeA = await openDatabase(schema.url);
    cleanups.push(() => storeA.close());
    await storeA.migrate();
    const storeB = await openDatabase(schema.url);
    cleanups.push(() => storeB.close());
    const prefix = `flexi-test:${randomId(8)}:`;
    const counters: CounterStore[] = [new RedisCounterStore(redisUrl!, { keyPrefix: prefix }), new RedisCounterStore(redisUrl!, { keyPrefix: prefix })];
    cleanups.push(async () => {
      for (const c of counters) await c.close();
    });
    const gatewayA = await startIdentityGateway([new ScriptedBackend({ words: ['a', 'b', 'c'] })], { store: storeA, configText: CONFIG, counters: counters[0] });
    cleanups.push(() => gatewayA.close());
    const gatewayB = await startIdentityGateway([new ScriptedBackend({ words: ['a', 'b', 'c'] })], { store: storeB, configText: CONFIG, counters: counters[1] });
    cleanups.push(() => gatewayB.close());
    const { user, key } = await userWithKey(gatewayA.identity, 'stud@uni.example', ['student']);

    const { tokens, statuses, errors } = await fire([gatewayA.url, gatewayB.url], key, 200);
    expect(tokens).toBeGreaterThanOrEqual(USED_PER_REQUEST);
    expect(tokens).toBeLessThanOrEqual(BUDGET);
    expect(statuses.get(200)! + statuses.get(429)!).toBe(200);
    expect([...errors]).toEqual(['429 insufficient_quota with reset time']);
    // What the parallel burst left is used up one by one, never beyond the budget.
    const total = tokens + await useUp(gatewayB.url, key);
    expect(total).toBeGreaterThan(BUDGET - RESERVATION);
    expect(total).toBeLessThanOrEqual(BUDGET);
    await gatewayA.usage.flush();
    await gatewayB.usage.flush();
    expect(await recordedTokens(storeA, user.id, DEV_SECRET)).toBe(total);
  });

  it.skipIf(!postgresTestUrl)('seeds a budget from usage records after a restart', async () => {
    const schema = await createPostgresTestSchema();
    cleanups.push(() => schema.drop());
    const store = await openDatabase(schema.url);
    cleanups.push(() => store.close());
    await store.migrate();
    const first = await startIdentityGateway([new ScriptedBackend({ words: ['a', 'b', 'c'] })], { store, configText: CONFIG });
    const { key } = await userWithKey(first.identity, 'stud@uni.example', ['student']);
    expect(await useUp(first.url, key)).toBeGreaterThan(BUDGET - RESERVATION);
    await first.close();
    // A fresh process: in-memory counters are empty, the budget comes from usage_records.
    const second = await startIdentityGateway([new ScriptedBackend({ words: ['a', 'b', 'c'] })], { store, configText: CONFIG });
    cleanups.push(() => second.close());
    const after = await fire([second.url], key, 3);
    expect(after.statuses.get(429)).toBe(3);
  });
});
