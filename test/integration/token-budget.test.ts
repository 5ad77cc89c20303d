import { afterEach, describe, expect, it } from 'vitest';
import { randomId } from '../../src/lib/ids.js';
import type { ChatRequest, CompletionRequest } from '../../src/core/types.js';
import type { CounterStore } from '../../src/store/counter-store.js';
import { RedisCounterStore } from '../../src/store/redis-counter-store.js';
import { openDatabase } from '../../src/store/store.js';
import { createPostgresTestSchema, openTestStore, postgresTestUrl } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * Issue 12, finding 4: token budgets overran 24× because the reservation under-counted the
 * input (chars ÷ 4, no per-message cost) and a request was admitted however big it was.
 */

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;

const CONFIG = `
roles:
  capped: { models: ['*'], tokens_per_day: 2000 }
  small_input: { models: ['*'], max_input_tokens: 1000 }
  short_budget: { models: ['*'], tokens_per_day: 400 }
`;

/** What a Llama 3 chat template makes of a request: 6 tokens per short message, plus BOS. */
function llama3PromptTokens(request: ChatRequest | CompletionRequest): number {
  return 'messages' in request ? 1 + request.messages.length * 6 : 1 + request.prompt.length;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const oneCharMessages = (count: number) => Array.from({ length: count }, () => ({ role: 'user', content: 'x' }));

function post(url: string, key: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { ...bearer(key), 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function sqliteGateway(backend: ScriptedBackend): Promise<IdentityGateway> {
  const store = await openTestStore('sqlite');
  cleanups.push(() => store.close());
  const gateway = await startIdentityGateway([backend], { store, configText: CONFIG });
  cleanups.push(() => gateway.close());
  return gateway;
}

/** Twenty requests of 100 one-character messages and max_tokens 20 at once: the tokens the node reports. */
async function twentyInParallel(urls: string[], key: string): Promise<{ tokens: number; served: number; codes: Set<string> }> {
  const body = { model: 'tiny', messages: oneCharMessages(100), max_tokens: 20 };
  const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => post(urls[i % urls.length]!, key, '/v1/chat/completions', body)));
  let tokens = 0;
  let served = 0;
  const codes = new Set<string>();
  for (const response of responses) {
    const json = (await response.json()) as { usage?: { total_tokens: number }; error?: { code: string } };
    if (response.status === 200) {
      tokens += json.usage!.total_tokens;
      served++;
    } else {
      codes.add(`${response.status} ${json.error!.code}`);
    }
  }
  return { tokens, served, codes };
}

const twentyWords = Array.from({ length: 20 }, () => 'a');

describe('token budgets hold against what a node really counts', () => {
  it('refuses 2,000 one-character messages against tokens_per_day 2000 with 429 and the numbers; nothing reaches the node', async () => {
    const backend = new ScriptedBackend({ promptTokens: llama3PromptTokens });
    const gateway = await sqliteGateway(backend);
    const { key } = await userWithKey(gateway.identity, 'a@uni.example', ['capped']);
    const response = await post(gateway.url, key, '/v1/chat/completions', { model: 'tiny', messages: oneCharMessages(2000), max_tokens: 10 });
    expect(response.status).toBe(429);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('insufficient_quota');
    expect(error.message).toMatch(/^This request needs up to 26026 tokens \(input bound \+ max_tokens\), but your daily token budget of 2000 tokens has 2000 left; it resets at /);
    expect(response.headers.get('x-flexi-budget-needed')).toBe('26026');
    expect(response.headers.get('x-flexi-budget-left')).toBe('2000');
    expect(backend.seen).toHaveLength(0);
  });

  it('twenty parallel requests cannot jointly spend more than the budget (in-process counters)', async () => {
    const backend = new ScriptedBackend({ promptTokens: llama3PromptTokens, words: twentyWords });
    const gateway = await sqliteGateway(backend);
    const { key } = await userWithKey(gateway.identity, 'b@uni.example', ['capped']);
    const { tokens, served, codes } = await twentyInParallel([gateway.url], key);
    expect(served).toBeGreaterThanOrEqual(1);
    expect(tokens).toBeLessThanOrEqual(2000);
    expect([...codes]).toEqual(['429 insufficient_quota']);
  });

  it.skipIf(!postgresTestUrl || !redisUrl)('twenty parallel requests across two replicas sharing Redis cannot jointly spend more than the budget', async () => {
    const schema = await createPostgresTestSchema();
    cleanups.push(() => schema.drop());
    const stores = [await openDatabase(schema.url), await openDatabase(schema.url)];
    cleanups.push(async () => {
      for (const store of stores) await store.close();
    });
    await stores[0]!.migrate();
    const prefix = `flexi-test:${randomId(8)}:`;
    const counters: CounterStore[] = [new RedisCounterStore(redisUrl!, { keyPrefix: prefix }), new RedisCounterStore(redisUrl!, { keyPrefix: prefix })];
    cleanups.push(async () => {
      for (const c of counters) await c.close();
    });
    const gateways: IdentityGateway[] = [];
    for (const [i, store] of stores.entries()) {
      const backend = new ScriptedBackend({ promptTokens: llama3PromptTokens, words: twentyWords });
      const gateway = await startIdentityGateway([backend], { store, configText: CONFIG, counters: counters[i] });
      cleanups.push(() => gateway.close());
      gateways.push(gateway);
    }
    const { key } = await userWithKey(gateways[0]!.identity, 'c@uni.example', ['capped']);
    const { tokens, served, codes } = await twentyInParallel(gateways.map((g) => g.url), key);
    expect(served).toBeGreaterThanOrEqual(1);
    expect(tokens).toBeLessThanOrEqual(2000);
    expect([...codes]).toEqual(['429 insufficient_quota']);
  });

  it('answers a 3 MiB prompt against a 100,000-token budget with 429 before it reaches the node', async () => {
    const backend = new ScriptedBackend();
    const gateway = await sqliteGateway(backend);
    const { key } = await userWithKey(gateway.identity, 'd@uni.example', ['student']);
    const response = await post(gateway.url, key, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(3 * 1024 * 1024) }] });
    expect(response.status).toBe(429);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('insufficient_quota');
    expect(backend.seen).toHaveLength(0);
  });

  it('caps the input per role: max_input_tokens answers 400 input_too_long naming the field, in both protocols', async () => {
    const backend = new ScriptedBackend();
    const gateway = await sqliteGateway(backend);
    const { key } = await userWithKey(gateway.identity, 'e@uni.example', ['small_input']);
    const openai = await post(gateway.url, key, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(1000) }] });
    expect(openai.status).toBe(400);
    expect(((await openai.json()) as { error: unknown }).error).toEqual({
      message: 'The input counts up to 1028 tokens (UTF-8 bytes plus per-message overhead, a bound that never under-counts); your role allows 1000 (max_input_tokens).',
      type: 'invalid_request_error', param: 'messages', code: 'input_too_long',
    });
    const ollama = await post(gateway.url, key, '/api/generate', { model: 'tiny', prompt: 'x'.repeat(1000), stream: false });
    expect(ollama.status).toBe(400);
    expect(((await ollama.json()) as { error: string }).error).toMatch(/counts up to 1016 tokens .* your role allows 1000 \(max_input_tokens\)/);
    expect(backend.seen).toHaveLength(0);
    expect((await post(gateway.url, key, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(900) }] })).status).toBe(200);
  });

  it('runs a request without max_tokens on what is left of the budget, its answer capped there', async () => {
    const backend = new ScriptedBackend();
    const gateway = await sqliteGateway(backend);
    const { key } = await userWithKey(gateway.identity, 'f@uni.example', ['short_budget']);
    const response = await post(gateway.url, key, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });
    expect(response.status).toBe(200);
    // 400 left, the input bound is 16 + 8 + 4 + 2 = 30: the node is asked for at most 370 tokens.
    expect((backend.seen[0] as ChatRequest).options).toMatchObject({ maxTokens: 370 });
  });
});
