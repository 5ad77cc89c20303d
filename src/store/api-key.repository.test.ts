import { expect, it } from 'vitest';
import { FlexiError } from '../core/errors.js';
import { describeEachDatabase } from '../../test/helpers/db.js';
import type { NewApiKey } from './api-key.repository.js';

let counter = 0;
function newKey(overrides: Partial<NewApiKey> = {}): NewApiKey {
  counter += 1;
  const n = String(counter).padStart(8, '0');
  return { name: `key-${n}`, prefix: `flx-${n}`, keyHash: n.padStart(64, 'f'), createdAt: `2026-01-01T00:00:${String(counter % 60).padStart(2, '0')}.000Z`, ...overrides };
}

describeEachDatabase('ApiKeyRepository', (getStore) => {
  it('finds a created key by its hash with every field', async () => {
    const repo = getStore().apiKeys;
    const input = newKey({ role: 'research', scopes: ['chat', 'embeddings'], userId: 'u1', expiresAt: '2027-01-01T00:00:00.000Z' });
    const created = await repo.create(input);
    const found = await repo.findByHash(input.keyHash);
    expect(found).toEqual(created);
    expect(found).toMatchObject({
      name: input.name, prefix: input.prefix, role: 'research', scopes: ['chat', 'embeddings'], userId: 'u1',
      createdAt: input.createdAt, expiresAt: '2027-01-01T00:00:00.000Z', lastUsedAt: null, revokedAt: null,
    });
    expect(found).not.toHaveProperty('keyHash');
  });

  it('returns undefined for an unknown hash', async () => {
    expect(await getStore().apiKeys.findByHash('0'.repeat(64))).toBeUndefined();
  });

  it('lists keys oldest first', async () => {
    const repo = getStore().apiKeys;
    await repo.create(newKey({ name: 'second', createdAt: '2026-02-01T00:00:00.000Z' }));
    await repo.create(newKey({ name: 'first', createdAt: '2026-01-01T00:00:00.000Z' }));
    expect((await repo.list()).map((k) => k.name)).toEqual(['first', 'second']);
  });

  it('revokes by id, by name and by prefix, and reports a repeated revoke', async () => {
    const repo = getStore().apiKeys;
    const a = await repo.create(newKey());
    const b = await repo.create(newKey({ name: 'by-name' }));
    const c = await repo.create(newKey());
    const at = '2026-03-01T00:00:00.000Z';
    expect(await repo.revoke(a.id, at)).toEqual({ record: { ...a, revokedAt: at }, alreadyRevoked: false });
    expect((await repo.revoke('by-name', at))?.record.id).toBe(b.id);
    expect((await repo.revoke(c.prefix, at))?.record.id).toBe(c.id);
    expect(await repo.revoke(a.id, '2026-04-01T00:00:00.000Z')).toEqual({ record: { ...a, revokedAt: at }, alreadyRevoked: true });
    expect((await repo.findById(b.id))?.revokedAt).toBe(at);
  });

  it('returns undefined when nothing matches the reference', async () => {
    expect(await getStore().apiKeys.revoke('nope', '2026-03-01T00:00:00.000Z')).toBeUndefined();
  });

  it('refuses to guess between several active keys with the same name', async () => {
    const repo = getStore().apiKeys;
    await repo.create(newKey({ name: 'twin' }));
    await repo.create(newKey({ name: 'twin' }));
    const error = await repo.revoke('twin', '2026-03-01T00:00:00.000Z').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlexiError);
    expect((error as FlexiError).code).toBe('conflict');
    expect((await repo.list()).every((k) => k.revokedAt === null)).toBe(true);
  });

  it('revokes the one active key of a name whose other keys are revoked', async () => {
    const repo = getStore().apiKeys;
    const old = await repo.create(newKey({ name: 'rotated' }));
    await repo.revoke(old.id, '2026-02-01T00:00:00.000Z');
    const current = await repo.create(newKey({ name: 'rotated' }));
    const result = await repo.revoke('rotated', '2026-03-01T00:00:00.000Z');
    expect(result).toMatchObject({ record: { id: current.id }, alreadyRevoked: false });
  });

  it('sets last_used_at for a batch of keys in one call', async () => {
    const repo = getStore().apiKeys;
    const a = await repo.create(newKey());
    const b = await repo.create(newKey());
    const c = await repo.create(newKey());
    await repo.touchLastUsed([a.id, b.id], '2026-05-01T00:00:00.000Z');
    await repo.touchLastUsed([], '2026-06-01T00:00:00.000Z');
    const byId = new Map((await repo.list()).map((k) => [k.id, k.lastUsedAt]));
    expect([byId.get(a.id), byId.get(b.id), byId.get(c.id)]).toEqual(['2026-05-01T00:00:00.000Z', '2026-05-01T00:00:00.000Z', null]);
  });
});
