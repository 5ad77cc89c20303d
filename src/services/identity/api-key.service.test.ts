import { afterEach, describe, expect, it, vi } from 'vitest';
import { FlexiError } from '../../core/errors.js';
import { ManualClock } from '../../lib/clock.js';
import { describeEachDatabase } from '../../../test/helpers/db.js';
import type { ApiKeyRepository } from '../../store/api-key.repository.js';
import { MemoryCounterStore } from '../../store/counter-store.js';
import { ApiKeyService, hashApiKey, type RevocationChannel } from './api-key.service.js';

const DAY_MS = 86_400_000;

describeEachDatabase('ApiKeyService', (getStore) => {
  const services: ApiKeyService[] = [];
  afterEach(async () => {
    for (const service of services.splice(0)) await service.close();
  });
  const setup = (options: { cacheTtlMs?: number; revocations?: RevocationChannel } = {}) => {
    const clock = new ManualClock();
    const repository = getStore().apiKeys;
    const findByHash = vi.spyOn(repository, 'findByHash');
    const service = new ApiKeyService(repository, { clock, revocations: new MemoryCounterStore(), ...options });
    services.push(service);
    return { clock, repository, service, findByHash };
  };

  it('creates a flx- key of 44 characters and stores only its hash and first 12 characters', async () => {
    const { service, repository } = setup();
    const { key, record } = await service.create({ name: 'project-a', role: 'research' });
    expect(key).toMatch(/^flx-[A-Za-z0-9]{40}$/);
    expect(record).toMatchObject({ name: 'project-a', role: 'research', prefix: key.slice(0, 12), revokedAt: null, expiresAt: null });
    const row = await getStore().db.selectFrom('api_keys').selectAll().executeTakeFirstOrThrow();
    expect(row.key_hash).toBe(hashApiKey(key));
    expect(Object.values(row)).not.toContain(key);
    expect(await repository.findByHash(hashApiKey(key))).toEqual(record);
  });

  it('verifies a created key and returns its record', async () => {
    const { service } = setup();
    const { key, record } = await service.create({ name: 'a' });
    expect(await service.verify(key)).toEqual(record);
  });

  it('rejects unknown keys and malformed strings, the latter without a query', async () => {
    const { service, findByHash } = setup();
    await service.create({ name: 'a' });
    expect(await service.verify(`flx-${'A'.repeat(40)}`)).toBeUndefined();
    expect(findByHash).toHaveBeenCalledTimes(1);
    for (const bad of ['', 'flx-', 'sk-abc', `flx-${'A'.repeat(39)}!`, `flx-${'A'.repeat(41)}`]) {
      expect(await service.verify(bad)).toBeUndefined();
    }
    expect(findByHash).toHaveBeenCalledTimes(1);
  });

  it('rejects a revoked key at once, even when it was cached', async () => {
    const { service } = setup();
    const { key, record } = await service.create({ name: 'a' });
    expect(await service.verify(key)).toBeDefined();
    expect(await service.revoke(record.prefix)).toMatchObject({ alreadyRevoked: false, record: { id: record.id } });
    expect(await service.verify(key)).toBeUndefined();
  });

  it('rejects a key once its expiry time has passed', async () => {
    const { service, clock } = setup();
    const { key } = await service.create({ name: 'a', expiresAt: new Date(clock.now() + DAY_MS) });
    expect(await service.verify(key)).toBeDefined();
    clock.advance(DAY_MS - 1);
    expect(await service.verify(key)).toBeDefined();
    clock.advance(1);
    expect(await service.verify(key)).toBeUndefined();
  });

  it('answers repeated verifications from the cache until the TTL runs out', async () => {
    const { service, clock, findByHash, repository } = setup({ cacheTtlMs: 10_000 });
    const { key, record } = await service.create({ name: 'a' });
    await service.verify(key);
    await service.verify(key);
    expect(findByHash).toHaveBeenCalledTimes(1);
    // Another process revokes the key: this one notices when its cache entry expires.
    await repository.revoke(record.id, new Date(clock.now()).toISOString());
    clock.advance(9_999);
    expect(await service.verify(key)).toBeDefined();
    clock.advance(1);
    expect(await service.verify(key)).toBeUndefined();
    expect(findByHash).toHaveBeenCalledTimes(2);
  });

  it('forgets a key at once when another process sharing the counter store publishes its revocation', async () => {
    const revocations = new MemoryCounterStore();
    const { service: first } = setup({ cacheTtlMs: 60_000, revocations });
    const { service: second } = setup({ cacheTtlMs: 60_000, revocations });
    const { key } = await first.create({ name: 'shared' });
    expect(await second.verify(key)).toBeDefined();
    expect(await first.verify(key)).toBeDefined();
    await first.revokeById((await first.verify(key))!.id);
    // No clock advance: the second service's cache entry is still fresh, yet the key is refused.
    expect(await second.verify(key)).toBeUndefined();
  });

  it('forgets every cached key when revocations may have been missed (a reconnect)', async () => {
    let listener: ((keyId: string | undefined) => void) | undefined;
    const revocations = { publishKeyRevoked: async () => {}, onKeyRevoked: async (l: typeof listener) => { listener = l; } };
    const { service, repository } = setup({ cacheTtlMs: 60_000, revocations });
    const { key, record } = await service.create({ name: 'a' });
    expect(await service.verify(key)).toBeDefined();
    await repository.revoke(record.id, new Date().toISOString());
    expect(await service.verify(key)).toBeDefined();
    listener!(undefined);
    expect(await service.verify(key)).toBeUndefined();
  });

  it('asks the database once for concurrent verifications of the same key', async () => {
    const { service, findByHash } = setup();
    const { key } = await service.create({ name: 'a' });
    const results = await Promise.all([service.verify(key), service.verify(key), service.verify(key)]);
    expect(results.every((r) => r !== undefined)).toBe(true);
    expect(findByHash).toHaveBeenCalledTimes(1);
  });

  it('records last use in one batch when flushed', async () => {
    const { service, clock } = setup();
    const a = await service.create({ name: 'a' });
    const b = await service.create({ name: 'b' });
    await service.create({ name: 'unused' });
    await service.verify(a.key);
    await service.verify(b.key);
    clock.advance(5000);
    await service.flushLastUsed();
    const lastUsed = Object.fromEntries((await service.list()).map((k) => [k.name, k.lastUsedAt]));
    expect(lastUsed).toEqual({ a: new Date(clock.now()).toISOString(), b: new Date(clock.now()).toISOString(), unused: null });
  });

  it('lists keys without secrets and revokes by name', async () => {
    const { service } = setup();
    const { key } = await service.create({ name: 'a' });
    await service.create({ name: 'b' });
    expect(JSON.stringify(await service.list())).not.toContain(key);
    expect((await service.revoke('b'))?.record.name).toBe('b');
    expect(await service.revoke('nothing')).toBeUndefined();
  });

  it('refuses an empty name and a past expiry with invalid_request naming the field', async () => {
    const { service, clock } = setup();
    await expect(service.create({ name: '  ' })).rejects.toMatchObject({ code: 'invalid_request', param: 'name' });
    await expect(service.create({ name: 'a', expiresAt: new Date(clock.now()) })).rejects.toMatchObject({ code: 'invalid_request', param: 'expires_at' });
    await expect(service.create({ name: 'a', expiresAt: new Date(clock.now()) })).rejects.toBeInstanceOf(FlexiError);
  });
});

describe('ApiKeyService cache bounds', () => {
  it('evicts the least recently used entry beyond its capacity', async () => {
    const records = new Map<string, { id: string }>();
    const repository = {
      findByHash: vi.fn((hash: string) => Promise.resolve(records.get(hash))),
      touchLastUsed: vi.fn(() => Promise.resolve()),
    } as unknown as ApiKeyRepository;
    const service = new ApiKeyService(repository, { cacheMaxEntries: 2, clock: new ManualClock(), revocations: new MemoryCounterStore() });
    const keys = ['a', 'b', 'c'].map((c) => `flx-${c.repeat(40)}`);
    keys.forEach((key, i) => records.set(hashApiKey(key), {
      id: String(i), name: String(i), prefix: key.slice(0, 12), userId: null, role: null, scopes: null,
      createdAt: '2026-01-01T00:00:00.000Z', expiresAt: null, lastUsedAt: null, revokedAt: null,
    } as never));
    await service.verify(keys[0]!);
    await service.verify(keys[1]!);
    await service.verify(keys[0]!); // a is now the most recent
    await service.verify(keys[2]!); // evicts b
    expect(repository.findByHash).toHaveBeenCalledTimes(3);
    await service.verify(keys[0]!);
    expect(repository.findByHash).toHaveBeenCalledTimes(3);
    await service.verify(keys[1]!);
    expect(repository.findByHash).toHaveBeenCalledTimes(4);
    await service.close();
  });
});
