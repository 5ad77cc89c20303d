import type { Kysely } from 'kysely';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { Clock } from '../../src/lib/clock.js';
import { randomId } from '../../src/lib/ids.js';
import { buildIdentityServices } from '../../src/services/build-services.js';
import type { Identity } from '../../src/services/identity/identity.js';
import type { PrivacyService } from '../../src/services/privacy/privacy.service.js';
import { toTimestamp } from '../../src/store/database.js';
import type { PersonalDataRepository } from '../../src/store/personal-data.repository.js';
import type { Store } from '../../src/store/store.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rows written as the web UI's repositories would, at chosen times */

export interface PrivacyHarness {
  config: Config;
  identity: Identity;
  privacy: PrivacyService;
  repository: PersonalDataRepository;
  close(): Promise<void>;
}

export function privacyHarness(store: Store, options: { configText?: string; clock?: Clock } = {}): PrivacyHarness {
  const config = loadConfig({ fileText: options.configText ?? '' });
  const { identity, privacy } = buildIdentityServices(config, store, { clock: options.clock });
  return { config, identity, privacy, repository: store.personalData, close: () => identity.close() };
}

export async function insertChat(store: Store, userId: string, at: string, texts: string[]): Promise<string> {
  const db = store.db as unknown as Kysely<any>;
  const id = `chat_${randomId(12)}`;
  await db.insertInto('chats').values({ id, user_id: userId, title: texts[0]!.slice(0, 40), model: 'tiny:latest', created_at: at, updated_at: at }).execute();
  for (const [i, content] of texts.entries()) {
    await db.insertInto('chat_messages').values({ id: `msg_${randomId(12)}`, chat_id: id, user_id: userId, position: i, role: i % 2 === 0 ? 'user' : 'assistant', content, created_at: at }).execute();
  }
  return id;
}

/** The values that identify a seeded person; none may remain after erasure. */
export interface SeededPerson {
  userId: string;
  email: string;
  name: string;
  pseudonym: string;
  identitySubject: string;
  identityEmail: string;
  keyId: string;
  sessionId: string;
  chatIds: string[];
  chatTexts: string[];
  usageRows: number;
}

/** A user with something in every class: sign-on identity, group, session, key, usage, audit entries, chats, consent. */
export async function seedPerson(store: Store, harness: PrivacyHarness, tag: string, options: { at?: number } = {}): Promise<SeededPerson> {
  const atMs = options.at ?? Date.now();
  const at = toTimestamp(atMs);
  const { identity } = harness;
  const email = `${tag}.person@uni.example`;
  const name = `${tag[0]!.toUpperCase()}${tag.slice(1)} Testperson`;
  const user = await identity.admin.addUser('cli:root', { email, roles: ['student'], password: `${tag}-password-123`, displayName: name });
  const identitySubject = `oidc-sub-${tag}-${randomId(8)}`;
  const identityEmail = `${tag}@idp.example`;
  await store.users.linkIdentity({ userId: user.id, provider: 'oidc', subject: identitySubject, email: identityEmail, at });
  const group = (await store.groups.find('Stats 101')) ?? (await identity.admin.createGroup('cli:root', { name: 'Stats 101' }));
  await identity.admin.addMember('cli:root', group.id, user.id);
  const { session } = await identity.sessions.create(user.id);
  const key = await identity.admin.createKey(`user:${user.id}`, { user: user.id, name: `${tag} laptop` });
  const pseudonym = identity.pseudonym(user.id);
  const usageRows = 3;
  await store.usage.insertMany(Array.from({ length: usageRows }, (_, i) => ({
    createdAt: at, requestId: `req_${tag}_${i}`, apiKeyId: i === 0 ? key.record.id : null, subject: pseudonym,
    endpoint: '/v1/chat/completions', protocol: 'openai' as const, model: 'tiny:latest', status: 200, promptTokens: 10, completionTokens: 20, durationMs: 100,
  })));
  const chatTexts = [`${tag}: my thesis on protein folding, secret draft`, `${tag}-answer: here is feedback on protein folding`];
  const chatIds = [await insertChat(store, user.id, at, chatTexts)];
  await store.agreements.accept(user.id, '2026-01', at);
  return {
    userId: user.id, email, name, pseudonym, identitySubject, identityEmail, keyId: key.record.id, sessionId: session.id, chatIds, chatTexts, usageRows,
  };
}

export function needlesOf(person: SeededPerson): string[] {
  return [person.userId, person.email, person.name, person.pseudonym, person.identitySubject, person.identityEmail, person.keyId, person.sessionId, ...person.chatIds, ...person.chatTexts];
}

/** Every table of the database from its catalog (so tables nobody registered are scanned too), searched for each needle. */
export async function scanDatabase(store: Store, needles: readonly string[]): Promise<{ table: string; needle: string }[]> {
  const repository = store.personalData;
  const hits: { table: string; needle: string }[] = [];
  for (const table of await repository.listTables()) {
    const text = (await repository.dumpTable(table)).map((row) => JSON.stringify(row)).join('\n').toLowerCase();
    for (const needle of needles) if (text.includes(needle.toLowerCase())) hits.push({ table, needle });
  }
  return hits;
}
