import { describe, expect, it } from 'vitest';
import { describeEachDatabase, openTestStore } from '../helpers/db.js';
import { needlesOf, privacyHarness, scanDatabase, seedPerson } from '../helpers/privacy-fixtures.js';

describeEachDatabase('privacy: export and erasure', (getStore) => {
  it('covers every catalog table that has a user_id column', async () => {
    const store = getStore();
    const harness = privacyHarness(store);
    try {
      expect(await harness.privacy.uncoveredTables()).toEqual([]);
    } finally {
      await harness.close();
    }
  });

  it('exports everything of one user, without secrets, and audits it', async () => {
    const store = getStore();
    const harness = privacyHarness(store);
    try {
      const alice = await seedPerson(store, harness, 'alice');
      const bob = await seedPerson(store, harness, 'bob');
      const exported = await harness.privacy.exportUser('cli:dpo', alice.email.toUpperCase());
      expect(exported).toMatchObject({ format: 'flexi.personal-data-export', version: 1, user: { id: alice.userId, email: alice.email, display_name: alice.name } });
      const { data } = exported;
      expect(data.users).toHaveLength(1);
      expect(data.users![0]).not.toHaveProperty('password_hash');
      expect(data.users![0]!.roles).toEqual(['student']);
      expect(data.identities!.map((r) => r.subject)).toEqual([alice.identitySubject]);
      expect(data.sessions).toHaveLength(1);
      expect(data.sessions![0]).not.toHaveProperty('token_hash');
      expect(data.sessions![0]).not.toHaveProperty('csrf_token');
      expect(data.api_keys!.map((r) => r.id)).toEqual([alice.keyId]);
      expect(data.api_keys![0]).not.toHaveProperty('key_hash');
      expect(data.usage_records).toHaveLength(alice.usageRows);
      expect(data.chat_messages!.map((r) => r.content)).toEqual(alice.chatTexts);
      expect(data.chats!.map((r) => r.id)).toEqual(alice.chatIds);
      expect(data.agreement_acceptances).toEqual([expect.objectContaining({ version: '2026-01' })]);
      expect(data.group_members).toHaveLength(1);
      // user.create, group.add_member and key.create (by the user) mention her.
      expect(data.audit_log!.map((r) => r.action).sort()).toEqual(['group.add_member', 'key.create', 'user.create']);
      expect(JSON.stringify(exported)).not.toContain(bob.email);
      expect(JSON.stringify(exported)).not.toContain(bob.chatTexts[0]);
      expect(exported.classes.chats).toMatchObject({ retention_days: 365 });
      const audit = await harness.identity.audit.list({ targetId: alice.userId });
      expect(audit[0]).toMatchObject({ actor: 'cli:dpo', action: 'privacy.export', targetType: 'user' });
    } finally {
      await harness.close();
    }
  });

  it('leaves nothing of an erased user in any table, keeps others intact, and cuts the usage link', async () => {
    const store = getStore();
    const harness = privacyHarness(store);
    try {
      const alice = await seedPerson(store, harness, 'alice');
      const bob = await seedPerson(store, harness, 'bob');
      // Both get a key with the same name from an admin: only her key's audit row may lose it.
      await harness.identity.admin.createKey('cli:root', { user: alice.userId, name: 'laptop' });
      const bobsLaptop = await harness.identity.admin.createKey('cli:root', { user: bob.userId, name: 'laptop' });
      await harness.privacy.exportUser(`user:${alice.userId}`, alice.userId);
      const aliceNeedles = needlesOf(alice);
      // The scan sees her everywhere first, so an empty result below means erased, not unsearched.
      const before = new Set((await scanDatabase(store, aliceNeedles)).map((h) => h.table));
      for (const table of ['users', 'identities', 'sessions', 'api_keys', 'usage_records', 'audit_log', 'chats', 'chat_messages', 'group_members']) expect(before).toContain(table);

      const preview = await harness.privacy.previewErase(alice.email);
      expect(preview.rows).toMatchObject({ users: 1, chats: 1, chat_messages: 2, usage_records: alice.usageRows });
      expect(await scanDatabase(store, aliceNeedles)).not.toEqual([]);

      const result = await harness.privacy.eraseUser('cli:dpo', alice.email);
      expect(result.reference).toMatch(/^erased:[A-Za-z0-9]{16}$/);
      expect(result.rows).toMatchObject({ users: 1, identities: 1, sessions: 1, api_keys: 2, group_members: 1, chats: 1, chat_messages: 2, agreement_acceptances: 1, usage_records: alice.usageRows });
      expect(result.rows.audit_log).toBeGreaterThanOrEqual(4);

      expect(await scanDatabase(store, aliceNeedles)).toEqual([]);
      // Bob is untouched: every one of his values is still found.
      const bobHits = await scanDatabase(store, needlesOf(bob));
      for (const needle of needlesOf(bob)) expect(bobHits.map((h) => h.needle)).toContain(needle);
      expect((await harness.privacy.previewErase(bob.email)).rows).toMatchObject({ users: 1, chats: 1, chat_messages: 2, usage_records: bob.usageRows });

      // Her usage rows stay for statistics under one random subject that no pseudonym of any user matches.
      const usage = await harness.repository.dumpTable('usage_records');
      const hers = usage.filter((r) => String(r.request_id).startsWith('req_alice_'));
      expect(hers).toHaveLength(alice.usageRows);
      expect(new Set(hers.map((r) => r.subject)).size).toBe(1);
      expect(String(hers[0]!.subject)).toMatch(/^x:[0-9a-f]{32}$/);
      expect(hers.every((r) => r.api_key_id === null)).toBe(true);
      // Even with the secret and her old id, nothing maps to the rows: the pseudonym is gone.
      expect(usage.some((r) => r.subject === harness.identity.pseudonym(alice.userId))).toBe(false);

      // The audit log keeps what happened, naming her only by the reference.
      const audit = await harness.identity.audit.list({ limit: 1000 });
      expect(audit[0]).toMatchObject({ actor: 'cli:dpo', action: 'privacy.erase', targetType: 'erased_user', targetId: result.reference });
      const mentions = audit.filter((e) => JSON.stringify(e).includes(result.reference)).map((e) => e.action).sort();
      expect(mentions).toEqual(['group.add_member', 'key.create', 'key.create', 'privacy.erase', 'privacy.export', 'user.create']);
      // Her keys' names are gone from the audit log; Bob's key of the same name keeps its row as it was.
      const keyRows = audit.filter((e) => e.action === 'key.create');
      expect(keyRows.some((e) => JSON.stringify(e).includes('alice laptop'))).toBe(false);
      expect(keyRows.filter((e) => (e.details as { name?: string } | undefined)?.name === 'laptop').map((e) => e.targetId)).toEqual([bobsLaptop.record.id]);
      expect(audit.find((e) => e.action === 'privacy.export')).toMatchObject({ actor: result.reference, targetType: 'erased_user', targetId: result.reference });
      await expect(harness.privacy.exportUser('cli:dpo', alice.email)).rejects.toThrow(/No user/);
    } finally {
      await harness.close();
    }
  });

  it('names a self-service erasure by its reference, not by the user', async () => {
    const store = getStore();
    const harness = privacyHarness(store);
    try {
      const carol = await seedPerson(store, harness, 'carol');
      const result = await harness.privacy.eraseUser(`user:${carol.userId}`, carol.userId);
      const [entry] = await harness.identity.audit.list({ limit: 1 });
      expect(entry).toMatchObject({ actor: result.reference, action: 'privacy.erase', details: { self: true } });
      expect(await scanDatabase(store, needlesOf(carol))).toEqual([]);
    } finally {
      await harness.close();
    }
  });
});

describe('privacy: course documents belong to the course', () => {
  it('keeps a course\'s documents when the lecturer who uploaded them is erased, and nothing names the lecturer', async () => {
    const store = await openTestStore('sqlite');
    const harness = privacyHarness(store);
    try {
      const lecturer = await harness.identity.admin.addUser('cli:root', { email: 'dave@uni.example', roles: ['staff'] });
      const group = await store.groups.create({ name: 'Statistik', kind: 'course', createdAt: '2026-01-01T00:00:00.000Z' });
      const collection = await store.collections.create({ name: 'statistik', groupId: group.id, settings: { strictness: 'strict', topK: 5 }, now: '2026-01-01T00:00:00.000Z' });
      const { document } = await store.collections.putDocument({
        collectionId: collection.id, name: 'Skript.md', contentHash: 'h', contentType: 'text/markdown', content: new TextEncoder().encode('# Skript'),
        uploadedBy: lecturer.id, now: '2026-01-01T00:00:00.000Z',
      });
      // Their export lists what they uploaded (without the file's bytes).
      const exported = await harness.privacy.exportUser('cli:dpo', lecturer.id);
      expect(exported.data.documents).toEqual([expect.objectContaining({ id: document.id, name: 'Skript.md', uploaded_by: lecturer.id })]);
      expect(exported.data.documents![0]).not.toHaveProperty('content');

      const result = await harness.privacy.eraseUser('cli:root', lecturer.id);
      expect(result.rows).toMatchObject({ documents: 1, users: 1 });
      expect(await store.collections.findDocument(collection.id, document.id)).toMatchObject({ name: 'Skript.md', uploadedBy: null });
      expect(await scanDatabase(store, [lecturer.id, 'dave@uni.example'])).toEqual([]);
    } finally {
      await harness.close();
      await store.close();
    }
  });
});
