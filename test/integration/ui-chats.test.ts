import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UiChat, UiChatSummary, UiModel } from '../../src/api/ui.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

let store: Store;
let gateway: IdentityGateway;
const CONFIG = [
  'auth:\n  cookie_secure: false',
  'agreement:\n  version: "v1"',
  'models:\n  descriptions:\n    tiny: "Tiny test model for quick answers"',
  'roles:\n  student:\n    models: ["tiny*"]',
].join('\n');

beforeAll(async () => {
  store = await openTestStore('sqlite');
  gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest', 'secret:latest'], words: ['Hello', ' there'] })], {
    store, listen: false, configText: CONFIG,
  });
});
afterAll(async () => {
  await gateway.close();
  await store.close();
});

type Injected = Awaited<ReturnType<IdentityGateway['app']['server']['inject']>>;
interface Session { cookies: Record<string, string>; userId: string }

function call(gw: IdentityGateway, method: string, url: string, options: { session?: Session; csrf?: boolean; body?: unknown; key?: string } = {}): Promise<Injected> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.session) headers.cookie = Object.entries(options.session.cookies).map(([k, v]) => `${k}=${v}`).join('; ');
  if (options.session && options.csrf !== false) headers['x-csrf-token'] = options.session.cookies.flexi_csrf!;
  if (options.key) Object.assign(headers, bearer(options.key));
  return gw.app.server.inject({ method: method as 'GET', url, headers, payload: options.body === undefined ? undefined : JSON.stringify(options.body) });
}
const request = (method: string, url: string, options: Parameters<typeof call>[3] = {}) => call(gateway, method, url, options);

async function signIn(gw: IdentityGateway, email: string, roles = ['student']): Promise<Session> {
  const user = await gw.identity.admin.addUser('test', { email, roles, password: 'a-long-password' });
  const response = await call(gw, 'POST', '/auth/login', { body: { email, password: 'a-long-password' } });
  expect(response.statusCode).toBe(200);
  const cookies: Record<string, string> = {};
  for (const c of response.cookies as { name: string; value: string }[]) cookies[c.name] = c.value;
  return { cookies, userId: user.id };
}

async function accepted(email: string): Promise<Session> {
  const session = await signIn(gateway, email);
  expect((await request('POST', '/auth/agreement/accept', { session, body: { version: 'v1' } })).statusCode).toBe(200);
  return session;
}

describe('user agreement', () => {
  it('refuses chats and generation to a browser session until the current version is accepted', async () => {
    const session = await signIn(gateway, 'new@uni.example');
    const agreement = (await request('GET', '/auth/agreement', { session })).json();
    expect(agreement).toMatchObject({ version: 'v1', accepted: false, accepted_at: null });
    expect(agreement.text.de).toContain('Datenschutz');
    expect(agreement.text.en).toContain('data protection');

    const blocked = await request('GET', '/ui/v1/chats', { session });
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().error.code).toBe('agreement_required');
    const chat = await request('POST', '/v1/chat/completions', { session, body: { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] } });
    expect(chat.json().error.code).toBe('agreement_required');
    // Reading who one is and which models exist stays open.
    expect((await request('GET', '/auth/me', { session })).statusCode).toBe(200);
    expect((await request('GET', '/v1/models', { session })).statusCode).toBe(200);

    expect((await request('POST', '/auth/agreement/accept', { session, csrf: false, body: { version: 'v1' } })).statusCode).toBe(403);
    const stale = await request('POST', '/auth/agreement/accept', { session, body: { version: 'v0' } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error.param).toBe('version');
    const accept = await request('POST', '/auth/agreement/accept', { session, body: { version: 'v1' } });
    expect(accept.json()).toMatchObject({ version: 'v1', accepted: true });
    expect((await request('GET', '/ui/v1/chats', { session })).statusCode).toBe(200);
    expect((await request('POST', '/v1/chat/completions', { session, body: { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] } })).statusCode).toBe(200);
  });

  it('asks again when the agreement version changes, and never gates API keys', async () => {
    const session = await accepted('again@uni.example');
    const { key } = await userWithKey(gateway.identity, 'keyholder@uni.example', ['student']);
    const next = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest'] })], {
      store, listen: false, configText: CONFIG.replace('version: "v1"', 'version: "v2"'),
    });
    try {
      expect((await call(next, 'GET', '/ui/v1/chats', { session })).json().error.code).toBe('agreement_required');
      expect((await call(next, 'GET', '/auth/agreement', { session })).json()).toMatchObject({ version: 'v2', accepted: false });
      const viaKey = await call(next, 'POST', '/v1/chat/completions', { key, body: { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] } });
      expect(viaKey.statusCode).toBe(200);
    } finally {
      await next.close();
    }
  });
});

describe('chats API', () => {
  it('lists only allowed models, with their one-line descriptions', async () => {
    const session = await accepted('models@uni.example');
    const models = (await request('GET', '/ui/v1/models', { session })).json().data as UiModel[];
    expect(models.map((m) => m.id)).toEqual(['tiny']);
    expect(models[0]!.description).toBe('Tiny test model for quick answers');
  });

  it('creates, appends, titles, replaces, searches, renames, exports and deletes chats', async () => {
    const session = await accepted('chatter@uni.example');
    const created = await request('POST', '/ui/v1/chats', { session, body: { model: 'tiny', temperature: 0.7, system_prompt: 'Be brief.' } });
    expect(created.statusCode).toBe(201);
    const chat = created.json() as UiChat;
    expect(chat).toMatchObject({ title: '', model: 'tiny', temperature: 0.7, system_prompt: 'Be brief.', messages: [] });

    let after = (await request('POST', `/ui/v1/chats/${chat.id}/messages`, { session, body: { messages: [{ role: 'user', content: 'What is a Fourier transform, in one sentence please?' }] } })).json() as UiChat;
    expect(after.title).toBe('What is a Fourier transform, in one sentence please?');
    after = (await request('POST', `/ui/v1/chats/${chat.id}/messages`, { session, body: { messages: [{ role: 'assistant', content: 'A way to see the frequencies.', model: 'tiny', finish: 'stop' }] } })).json();
    expect(after.messages.map((m) => m.role)).toEqual(['user', 'assistant']);

    // Regenerate: replace the answer.
    after = (await request('POST', `/ui/v1/chats/${chat.id}/messages`, {
      session, body: { replace_from: after.messages[1]!.id, messages: [{ role: 'assistant', content: 'Partial', model: 'tiny', finish: 'stopped' }] },
    })).json();
    expect(after.messages.map((m) => [m.content, m.finish])).toEqual([['What is a Fourier transform, in one sentence please?', null], ['Partial', 'stopped']]);
    // Edit and resend: replace the question and everything after it.
    after = (await request('POST', `/ui/v1/chats/${chat.id}/messages`, {
      session, body: { replace_from: after.messages[0]!.id, messages: [{ role: 'user', content: 'Explain wavelets' }] },
    })).json();
    expect(after.messages.map((m) => m.content)).toEqual(['Explain wavelets']);
    expect(after.title).toBe('What is a Fourier transform, in one sentence please?');

    const other = (await request('POST', '/ui/v1/chats', { session, body: { title: 'Groceries' } })).json() as UiChat;
    const search = async (q: string) => ((await request('GET', `/ui/v1/chats?q=${encodeURIComponent(q)}`, { session })).json().data as UiChatSummary[]).map((c) => c.id);
    expect(await search('WAVELET')).toEqual([chat.id]);
    expect(await search('grocer')).toEqual([other.id]);
    expect(await search('100%')).toEqual([]);
    expect(await search('')).toEqual([other.id, chat.id]);

    const renamed = await request('PATCH', `/ui/v1/chats/${chat.id}`, { session, body: { title: '  Signals  ', temperature: null } });
    expect(renamed.json()).toMatchObject({ title: 'Signals', temperature: null, system_prompt: 'Be brief.' });
    expect((await request('PATCH', `/ui/v1/chats/${chat.id}`, { session, body: { temperature: 3 } })).json().error.param).toBe('temperature');

    const markdown = await request('GET', `/ui/v1/chats/${chat.id}/export?format=markdown`, { session });
    expect(markdown.headers['content-type']).toContain('text/markdown');
    expect(markdown.headers['content-disposition']).toContain('.md');
    expect(markdown.body).toContain('# Signals');
    expect(markdown.body).toContain('### You\n\nExplain wavelets');
    const all = (await request('GET', '/ui/v1/chats/export?format=json', { session })).json();
    expect(all.chats.map((c: UiChat) => c.id).sort()).toEqual([chat.id, other.id].sort());
    expect((await request('GET', '/ui/v1/chats/export?format=pdf', { session })).json().error.param).toBe('format');

    expect((await request('DELETE', `/ui/v1/chats/${other.id}`, { session })).statusCode).toBe(204);
    expect((await request('GET', `/ui/v1/chats/${other.id}`, { session })).statusCode).toBe(404);
    expect((await request('DELETE', '/ui/v1/chats', { session })).json()).toEqual({ deleted: 1 });
    expect((await request('GET', '/ui/v1/chats', { session })).json().data).toEqual([]);
  });

  it('answers 404 for another user\'s chat on every route, and needs the CSRF token for changes', async () => {
    const alice = await accepted('alice@uni.example');
    const mallory = await accepted('mallory@uni.example');
    const chat = (await request('POST', '/ui/v1/chats', { session: alice, body: { title: 'Private' } })).json() as UiChat;
    await request('POST', `/ui/v1/chats/${chat.id}/messages`, { session: alice, body: { messages: [{ role: 'user', content: 'my secret' }] } });

    for (const [method, url, body] of [
      ['GET', `/ui/v1/chats/${chat.id}`, undefined],
      ['PATCH', `/ui/v1/chats/${chat.id}`, { title: 'mine now' }],
      ['POST', `/ui/v1/chats/${chat.id}/messages`, { messages: [{ role: 'user', content: 'x' }] }],
      ['GET', `/ui/v1/chats/${chat.id}/export?format=json`, undefined],
      ['DELETE', `/ui/v1/chats/${chat.id}`, undefined],
      ['GET', '/ui/v1/chats/nonexistent', undefined],
      ['GET', '/ui/v1/chats/..%2F..%2Fetc', undefined],
    ] as const) {
      const response = await request(method, url, { session: mallory, body });
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.body).not.toContain('secret');
    }
    expect((await request('GET', '/ui/v1/chats?q=secret', { session: mallory })).json().data).toEqual([]);
    expect((await request('DELETE', '/ui/v1/chats', { session: mallory })).json()).toEqual({ deleted: 0 });

    const noCsrf = await request('POST', '/ui/v1/chats', { session: alice, csrf: false, body: {} });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error.code).toBe('permission_denied');
    expect((await request('DELETE', '/ui/v1/chats', { session: alice, csrf: false })).statusCode).toBe(403);
    expect((await request('GET', `/ui/v1/chats/${chat.id}`, { session: alice })).json().messages).toHaveLength(1);
  });

  it('is for browser sessions only', async () => {
    const { key } = await userWithKey(gateway.identity, 'script@uni.example', ['student']);
    expect((await request('GET', '/ui/v1/chats', { key })).json().error.code).toBe('permission_denied');
    expect((await request('GET', '/ui/v1/chats')).statusCode).toBe(401);
    expect((await request('GET', '/ui/config')).json()).toEqual({ sso: false });
  });
});
