import { expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { toTimestamp } from '../../src/store/database.js';
import type { Store } from '../../src/store/store.js';
import { describeEachDatabase } from '../helpers/db.js';
import { insertChat, privacyHarness } from '../helpers/privacy-fixtures.js';

const DAY_MS = 86_400_000;
const NOW_MS = Date.UTC(2026, 5, 1, 12);
const ago = (days: number) => toTimestamp(NOW_MS - days * DAY_MS);

const CONFIG = `privacy:
  retention:
    chats: 30
    usage_records: 90
    audit_log: 180
    sessions: 7
    inactive_accounts: 365
    documents: null
`;

async function user(store: Store, email: string, roles: string[], lastActiveDaysAgo: number) {
  const created = await store.users.create({ email, roles, createdAt: ago(lastActiveDaysAgo + 10) });
  await store.users.update(created.id, { lastLoginAt: ago(lastActiveDaysAgo) }, ago(lastActiveDaysAgo));
  return created.id;
}

async function usage(store: Store, requestId: string, createdAt: string) {
  await store.usage.insertMany([{ createdAt, requestId, subject: 'key:op', endpoint: '/v1/chat/completions', protocol: 'openai', model: 'm', status: 200, promptTokens: 1, completionTokens: 1, durationMs: 1 }]);
}

async function session(store: Store, id: string, userId: string, expiresAt: string) {
  await store.db.insertInto('sessions').values({ id, token_hash: `hash-${id}`, user_id: userId, csrf_token: 'c', created_at: expiresAt, expires_at: expiresAt, revoked_at: null }).execute();
}

const ids = async (store: Store, table: 'usage_records' | 'audit_log' | 'sessions' | 'users', column: string) =>
  ((await store.db.selectFrom(table).select(`${column} as id` as 'id').execute()) as { id: unknown }[]).map((r) => String(r.id)).sort();

describeEachDatabase('privacy: retention with an injected clock', (getStore) => {
  it('deletes exactly the expired rows of each class; the dry run only counts them', async () => {
    const store = getStore();
    const clock = new ManualClock(NOW_MS);
    const harness = privacyHarness(store, { configText: CONFIG, clock });
    try {
      const student = await user(store, 'old.student@uni.example', ['student'], 400);
      const admin = await user(store, 'old.admin@uni.example', ['admin'], 400);
      const keyUser = await user(store, 'api.only@uni.example', ['researcher'], 400);
      const active = await user(store, 'active@uni.example', ['student'], 2);
      await store.db.insertInto('api_keys').values({
        id: 'key-recent', name: 'k', prefix: 'flx-aaaaaaaa', key_hash: 'h1', user_id: keyUser, role: null, scopes: null, created_at: ago(500), expires_at: null, last_used_at: ago(10), revoked_at: null,
      }).execute();

      const oldChat = await insertChat(store, active, ago(31), ['old question', 'old answer']);
      const newChat = await insertChat(store, active, ago(29), ['recent question']);
      await usage(store, 'u-old-1', ago(91));
      await usage(store, 'u-old-2', ago(90.01));
      await usage(store, 'u-new', ago(89));
      await store.audit.insert({ createdAt: ago(181), actor: 'cli:root', action: 'old.action' });
      await store.audit.insert({ createdAt: ago(179), actor: 'cli:root', action: 'recent.action' });
      await session(store, 's-old', active, ago(8));
      await session(store, 's-ended', active, ago(6));
      await session(store, 's-live', active, toTimestamp(NOW_MS + 3_600_000));

      const dry = await harness.privacy.purge({ dryRun: true });
      const rowsOf = (result: typeof dry) => Object.fromEntries(result.classes.map((c) => [c.class, c.rows]));
      // Documents are kept while their retention is not set.
      expect(rowsOf(dry)).toEqual({ chat_messages: 2, chats: 1, documents: 0, sessions: 1, usage_records: 2, audit_log: 1, users: 1 });
      expect(dry.classes.find((c) => c.class === 'usage_records')).toMatchObject({ days: 90, cutoff: ago(90) });
      expect(await ids(store, 'usage_records', 'request_id')).toEqual(['u-new', 'u-old-1', 'u-old-2']);
      expect((await ids(store, 'users', 'id')).length).toBe(4);

      const real = await harness.privacy.purge();
      expect(rowsOf(real)).toEqual(rowsOf(dry));
      expect(await ids(store, 'usage_records', 'request_id')).toEqual(['u-new']);
      expect(await ids(store, 'sessions', 'id')).toEqual(['s-ended', 's-live']);
      expect(await ids(store, 'users', 'id')).toEqual([admin, keyUser, active].sort());
      const chats = await harness.repository.dumpTable('chats');
      expect(chats.map((c) => c.id)).toEqual([newChat]);
      const messages = await harness.repository.dumpTable('chat_messages');
      expect(messages.map((m) => m.content)).toEqual(['recent question']);
      expect(messages.some((m) => m.chat_id === oldChat)).toBe(false);
      const actions = (await harness.identity.audit.list({ limit: 100 })).map((e) => e.action);
      expect(actions).not.toContain('old.action');
      expect(actions).toContain('recent.action');
      // The inactive account went the way of an erasure, audited by the retention job, then the purge itself.
      expect(actions.slice(0, 2)).toEqual(['privacy.purge', 'privacy.erase']);
      const [purgeEntry] = await harness.identity.audit.list({ limit: 1 });
      expect(purgeEntry).toMatchObject({ actor: 'system:retention', details: { rows: { chats: 1, chat_messages: 2, usage_records: 2, audit_log: 1, sessions: 1, users: 1 } } });
      expect(JSON.stringify(await harness.identity.audit.list({ limit: 100 }))).not.toContain(student);

      // Nothing is due again until the clock moves; then the next rows expire.
      expect(Object.values(rowsOf(await harness.privacy.purge())).every((n) => n === 0)).toBe(true);
      clock.advance(2 * DAY_MS);
      expect(rowsOf(await harness.privacy.purge({ dryRun: true }))).toMatchObject({ chats: 1, chat_messages: 1, usage_records: 1, sessions: 1 });
    } finally {
      await harness.close();
    }
  });

  it('keeps everything when no period is set', async () => {
    const store = getStore();
    const clock = new ManualClock(NOW_MS);
    const harness = privacyHarness(store, {
      configText: 'privacy:\n  retention: { chats: 0, usage_records: null, audit_log: null, sessions: 0, inactive_accounts: null }\n', clock,
    });
    try {
      await usage(store, 'ancient', ago(5000));
      await user(store, 'ancient@uni.example', ['student'], 5000);
      const result = await harness.privacy.purge();
      expect(result.classes.every((c) => c.rows === 0 && c.days === null)).toBe(true);
      expect(await ids(store, 'usage_records', 'request_id')).toEqual(['ancient']);
    } finally {
      await harness.close();
    }
  });

  it('gives usage rows whose pseudonym belongs to no user a random subject', async () => {
    const store = getStore();
    const harness = privacyHarness(store);
    try {
      const kept = await store.users.create({ email: 'here@uni.example', roles: ['student'], createdAt: toTimestamp(NOW_MS) });
      const live = harness.identity.pseudonym(kept.id);
      const gone = harness.identity.pseudonym('deleted-user-id');
      await store.usage.insertMany([live, gone, gone].map((subject, i) => ({
        createdAt: toTimestamp(NOW_MS), requestId: `r${i}`, subject, endpoint: '/v1/chat/completions', protocol: 'openai' as const, model: 'm', status: 200, promptTokens: 1, completionTokens: 1, durationMs: 1,
      })));
      expect((await harness.privacy.purge()).unlinkedUsageSubjects).toBe(1);
      const subjects = (await harness.repository.dumpTable('usage_records')).map((r) => String(r.subject));
      expect(subjects.filter((s) => s === live)).toHaveLength(1);
      expect(subjects).not.toContain(gone);
      expect(new Set(subjects.filter((s) => s.startsWith('x:'))).size).toBe(1);
    } finally {
      await harness.close();
    }
  });
});
