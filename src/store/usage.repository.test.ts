import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/db.js';
import type { NewUsageRecord } from './usage.repository.js';

function usage(overrides: Partial<NewUsageRecord> = {}): NewUsageRecord {
  return {
    createdAt: '2026-01-01T10:00:00.000Z', requestId: 'req', endpoint: '/v1/chat/completions', protocol: 'openai',
    model: 'llama3:8b', status: 200, promptTokens: 10, completionTokens: 20, durationMs: 1500, ...overrides,
  };
}

describeEachDatabase('UsageRepository', (getStore) => {
  it('stores every field of a record', async () => {
    const store = getStore();
    await store.usage.insertMany([usage({
      apiKeyId: 'k1', subject: 'pseudo', node: 'gpu1', status: 499, errorCode: 'client_closed_request',
      ttftMs: 120.6, queueMs: 3, protocol: 'ollama', endpoint: '/api/chat',
    })]);
    const row = await store.db.selectFrom('usage_records').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      created_at: '2026-01-01T10:00:00.000Z', request_id: 'req', api_key_id: 'k1', subject: 'pseudo', endpoint: '/api/chat',
      protocol: 'ollama', model: 'llama3:8b', node: 'gpu1', status: 499, error_code: 'client_closed_request',
      prompt_tokens: 10, completion_tokens: 20, ttft_ms: 121, duration_ms: 1500, queue_ms: 3,
    });
  });

  it('writes batches larger than one statement allows', async () => {
    const store = getStore();
    const records = Array.from({ length: 2500 }, (_, i) => usage({ requestId: `r${i}` }));
    await store.usage.insertMany(records);
    const { count } = await store.db.selectFrom('usage_records').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    expect(Number(count)).toBe(2500);
  });

  it('writes nothing from a batch with one invalid record', async () => {
    const store = getStore();
    const bad = usage({ requestId: 'bad' }) as unknown as Record<string, unknown>;
    bad.model = null;
    await expect(store.usage.insertMany([usage(), bad as unknown as NewUsageRecord])).rejects.toThrow();
    const rows = await store.db.selectFrom('usage_records').select('id').execute();
    expect(rows).toEqual([]);
  });

  it('sums requests, errors and tokens per model and UTC day since a time', async () => {
    const store = getStore();
    await store.usage.insertMany([
      usage({ createdAt: '2025-12-31T23:59:59.999Z', model: 'a' }),
      usage({ createdAt: '2026-01-01T00:00:00.000Z', model: 'a', promptTokens: 1, completionTokens: 2 }),
      usage({ createdAt: '2026-01-01T23:00:00.000Z', model: 'a', promptTokens: 3, completionTokens: 4, status: 503 }),
      usage({ createdAt: '2026-01-01T12:00:00.000Z', model: 'b', promptTokens: 5, completionTokens: 6 }),
      usage({ createdAt: '2026-01-02T00:00:00.000Z', model: 'a', promptTokens: 7, completionTokens: 8 }),
    ]);
    expect(await store.usage.summarizeByModelDay('2026-01-01T00:00:00.000Z')).toEqual([
      { day: '2026-01-01', model: 'a', requests: 2, errors: 1, promptTokens: 4, completionTokens: 6 },
      { day: '2026-01-01', model: 'b', requests: 1, errors: 0, promptTokens: 5, completionTokens: 6 },
      { day: '2026-01-02', model: 'a', requests: 1, errors: 0, promptTokens: 7, completionTokens: 8 },
    ]);
  });

  it('summarises nothing as an empty list', async () => {
    expect(await getStore().usage.summarizeByModelDay('2026-01-01T00:00:00.000Z')).toEqual([]);
  });
});
