import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/db.js';
import type { Store } from './store.js';

const T0 = '2026-01-01T10:00:00.000Z';
const T1 = '2026-02-01T10:00:00.000Z';

async function user(store: Store, email: string): Promise<string> {
  const record = await store.users.create({ email, roles: ['student'], passwordHash: null, displayName: null, createdAt: T0 });
  return record.id;
}

describeEachDatabase('chat and agreement repositories', (getStore) => {
  it('keeps chats per owner, replaces messages from a position, and searches literally', async () => {
    const store = getStore();
    const alice = await user(store, 'alice@uni.example');
    const bob = await user(store, 'bob@uni.example');
    const chat = await store.chats.create({ userId: alice, title: '', model: 'tiny', systemPrompt: null, temperature: 0.7, createdAt: T0, updatedAt: T0 });
    expect((await store.chats.findOwned(alice, chat.id))?.temperature).toBe(0.7);
    expect(await store.chats.findOwned(bob, chat.id)).toBeUndefined();

    await store.chats.appendMessages(chat, [{ role: 'user', content: 'rate is 100% _exact_' }, { role: 'assistant', content: 'ok', model: 'tiny', finish: 'stop' }], { now: T1, title: 'Rates' });
    const [, answer] = await store.chats.messages(chat.id);
    await store.chats.appendMessages(chat, [{ role: 'assistant', content: 'better', finish: 'stopped' }], { now: T1, fromPosition: answer!.position });
    expect((await store.chats.messages(chat.id)).map((m) => [m.position, m.content, m.finish])).toEqual([[0, 'rate is 100% _exact_', null], [1, 'better', 'stopped']]);
    expect(await store.chats.findOwned(alice, chat.id)).toMatchObject({ title: 'Rates', updatedAt: T1 });

    expect((await store.chats.list(alice, { search: '100%', limit: 10 })).map((c) => c.id)).toEqual([chat.id]);
    expect(await store.chats.list(alice, { search: '1000', limit: 10 })).toEqual([]);
    expect(await store.chats.list(alice, { search: 'a_e', limit: 10 })).toEqual([]);
    expect(await store.chats.list(bob, { search: 'rate', limit: 10 })).toEqual([]);
    expect(await store.chats.delete(bob, chat.id)).toBe(false);
    expect(await store.chats.update(bob, chat.id, { title: 'x' }, T1)).toBeUndefined();
  });

  it('deletes all of one user\'s chats, and chats older than a retention cut-off', async () => {
    const store = getStore();
    const alice = await user(store, 'alice@uni.example');
    const bob = await user(store, 'bob@uni.example');
    const old = await store.chats.create({ userId: alice, title: 'old', model: null, systemPrompt: null, temperature: null, createdAt: T0, updatedAt: T0 });
    await store.chats.appendMessages(old, [{ role: 'user', content: 'x' }], { now: T0 });
    await store.chats.create({ userId: alice, title: 'new', model: null, systemPrompt: null, temperature: null, createdAt: T1, updatedAt: T1 });
    const bobs = await store.chats.create({ userId: bob, title: 'bob', model: null, systemPrompt: null, temperature: null, createdAt: T1, updatedAt: T1 });
    expect(await store.chats.deleteUpdatedBefore('2026-01-15T00:00:00.000Z')).toBe(1);
    expect(await store.chats.messagesOfUser(alice)).toEqual([]);
    expect(await store.chats.deleteAllOf(alice)).toBe(1);
    expect((await store.chats.list(bob, { limit: 10 })).map((c) => c.id)).toEqual([bobs.id]);
  });

  it('records an agreement acceptance once per version', async () => {
    const store = getStore();
    const alice = await user(store, 'alice@uni.example');
    await store.agreements.accept(alice, 'v1', T0);
    await store.agreements.accept(alice, 'v1', T1);
    expect(await store.agreements.find(alice, 'v1')).toEqual({ userId: alice, version: 'v1', acceptedAt: T0 });
    expect(await store.agreements.find(alice, 'v2')).toBeUndefined();
    expect(await store.agreements.deleteAllOf(alice)).toBe(1);
  });
});
