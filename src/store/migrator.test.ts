import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/db.js';
import { MIGRATIONS } from './migrator.js';

describeEachDatabase('migrations', (getStore) => {
  it('creates every table with its columns on an empty database', async () => {
    const store = getStore();
    const applied = await store.migrate();
    expect(applied).toEqual(Object.keys(MIGRATIONS));
    // PostgreSQL introspection sees every schema, including those of tests running in parallel.
    const schema = store.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0]?.schema
      : undefined;
    const tables = (await store.db.introspection.getTables()).filter((t) => t.schema === schema);
    const byName = new Map(tables.map((t) => [t.name, t.columns.map((c) => c.name).sort()]));
    expect(byName.get('api_keys')).toEqual([
      'created_at', 'expires_at', 'id', 'key_hash', 'last_used_at', 'name', 'prefix', 'revoked_at', 'role', 'scopes', 'user_id',
    ]);
    expect(byName.get('usage_records')).toEqual([
      'api_key_id', 'completion_tokens', 'created_at', 'duration_ms', 'endpoint', 'energy_wh', 'error_code', 'group_id', 'id', 'model', 'node',
      'prompt_tokens', 'protocol', 'queue_ms', 'request_id', 'status', 'subject', 'ttft_ms',
    ]);
    expect(byName.get('node_energy')).toEqual(['ended_at', 'energy_joules', 'gpus', 'idle_joules', 'node', 'started_at']);
  });

  it('applies nothing when run again', async () => {
    const store = getStore();
    await store.migrate();
    expect(await store.migrate()).toEqual([]);
  });

  it('rejects a second key with the same hash', async () => {
    const store = getStore();
    await store.migrate();
    const key = { name: 'a', prefix: 'flx-aaaaaaaa', keyHash: 'h'.repeat(64), createdAt: '2026-01-01T00:00:00.000Z' };
    await store.apiKeys.create(key);
    await expect(store.apiKeys.create({ ...key, name: 'b' })).rejects.toThrow();
  });

  it('numbers usage records itself', async () => {
    const store = getStore();
    await store.migrate();
    const base = {
      createdAt: '2026-01-01T00:00:00.000Z', requestId: 'r', endpoint: '/v1/chat/completions', protocol: 'openai' as const,
      model: 'm', status: 200, promptTokens: 1, completionTokens: 2, durationMs: 3,
    };
    await store.usage.insertMany([base, { ...base, requestId: 's' }]);
    const ids = (await store.db.selectFrom('usage_records').select('id').orderBy('id').execute()).map((r) => r.id);
    expect(ids).toHaveLength(2);
    expect(typeof ids[0]).toBe('number');
    expect(ids[1]).toBeGreaterThan(ids[0]!);
  });
}, { migrate: false });

describe('migration list', () => {
  it('is in name order, so the migrator applies it in the order written', () => {
    const names = Object.keys(MIGRATIONS);
    expect(names).toEqual([...names].sort());
  });
});
