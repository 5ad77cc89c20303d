import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { scanDatabase } from '../helpers/privacy-fixtures.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

let store: Store;
let gateway: IdentityGateway;

beforeAll(async () => {
  store = await openTestStore('sqlite');
  gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest'], words: ['the', 'answer', 'text'] })], {
    store, listen: false, configText: 'auth:\n  cookie_secure: false\n',
  });
});
afterAll(async () => {
  await gateway.close();
  await store.close();
});

type Injected = Awaited<ReturnType<IdentityGateway['app']['server']['inject']>>;

function request(method: string, url: string, options: { key?: string; cookies?: Record<string, string>; csrf?: string; body?: unknown } = {}): Promise<Injected> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.key) Object.assign(headers, bearer(options.key));
  if (options.cookies) headers.cookie = Object.entries(options.cookies).map(([k, v]) => `${k}=${v}`).join('; ');
  if (options.csrf) headers['x-csrf-token'] = options.csrf;
  return gateway.app.server.inject({ method: method as 'GET', url, headers, payload: options.body === undefined ? undefined : JSON.stringify(options.body), remoteAddress: '192.0.2.77' });
}

async function login(email: string, password: string) {
  const response = await request('POST', '/auth/login', { body: { email, password } });
  expect(response.statusCode).toBe(200);
  const cookies: Record<string, string> = {};
  for (const c of response.cookies as { name: string; value: string }[]) cookies[c.name] = c.value;
  return { cookies, csrf: (response.json() as { csrf_token: string }).csrf_token };
}

describe('minimal storage', () => {
  it('stores no prompt or answer text and no IP address of API traffic', async () => {
    const { key } = await userWithKey(gateway.identity, 'api.user@uni.example', ['student']);
    const prompt = 'MY-SECRET-PROMPT about my medical history';
    const response = await request('POST', '/v1/chat/completions', { key, body: { model: 'tiny:latest', messages: [{ role: 'user', content: prompt }] } });
    expect(response.statusCode).toBe(200);
    expect(response.json().choices[0].message.content).toContain('answer');
    await gateway.usage.flush();
    expect((await store.db.selectFrom('usage_records').selectAll().execute()).length).toBeGreaterThan(0);
    expect(await scanDatabase(store, ['MY-SECRET-PROMPT', 'medical history', 'the answer text', '192.0.2.77', '192.0.2'])).toEqual([]);
  });
});

describe('/ui/v1/me', () => {
  it('exports the signed-in user\'s own data as a download, and only with a session', async () => {
    const { key } = await userWithKey(gateway.identity, 'erin@uni.example', ['student']);
    const { cookies } = await login('erin@uni.example', 'correct horse battery');
    // Erin has not accepted the user agreement: chats are closed to her, her own data is not.
    expect((await request('GET', '/ui/v1/chats', { cookies })).json().error.code).toBe('agreement_required');
    const response = await request('GET', '/ui/v1/me/export', { cookies });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="flexi-my-data-\d{4}-\d\d-\d\d\.json"$/);
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json();
    expect(body).toMatchObject({ format: 'flexi.personal-data-export', user: { email: 'erin@uni.example' } });
    expect(body.data.sessions).toHaveLength(1);
    expect(JSON.stringify(body)).not.toContain('$argon2');
    expect((await request('GET', '/ui/v1/me/export', { key })).statusCode).toBe(403);
    expect((await request('GET', '/ui/v1/me/export')).statusCode).toBe(401);
  });

  it('erases the account only with CSRF token and password, then the session is gone', async () => {
    const { user, key } = await userWithKey(gateway.identity, 'frank@uni.example', ['student']);
    const { cookies, csrf } = await login('frank@uni.example', 'correct horse battery');
    expect((await request('DELETE', '/ui/v1/me', { cookies, body: { password: 'correct horse battery' } })).statusCode).toBe(403);
    expect((await request('DELETE', '/ui/v1/me', { key, body: { password: 'correct horse battery' } })).statusCode).toBe(403);
    const missing = await request('DELETE', '/ui/v1/me', { cookies, csrf, body: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.param).toBe('password');
    expect((await request('DELETE', '/ui/v1/me', { cookies, csrf, body: { confirm: 'frank@uni.example' } })).statusCode).toBe(400);
    expect((await request('DELETE', '/ui/v1/me', { cookies, csrf, body: { password: 'wrong password' } })).statusCode).toBe(403);
    expect(await store.users.findById(user.id)).toBeDefined();

    const response = await request('DELETE', '/ui/v1/me', { cookies, csrf, body: { password: 'correct horse battery' } });
    expect(response.statusCode).toBe(200);
    const { reference } = response.json() as { reference: string };
    expect(reference).toMatch(/^erased:/);
    expect(String(response.headers['set-cookie'])).toMatch(/flexi_session=;/);
    expect((await request('GET', '/auth/me', { cookies })).statusCode).toBe(401);
    expect((await request('GET', '/v1/models', { key })).statusCode).toBe(401);
    expect(await scanDatabase(store, [user.id, 'frank@uni.example'])).toEqual([]);
    const [entry] = await gateway.identity.audit.list({ limit: 1 });
    expect(entry).toMatchObject({ actor: reference, action: 'privacy.erase', targetId: reference });
  });

  it('erases a single-sign-on account when the e-mail is typed again as confirm', async () => {
    const user = await gateway.identity.users.upsertExternal({ provider: 'oidc', subject: 'sso-sub-123', email: 'gina@uni.example', emailVerified: true, displayName: 'Gina', roles: ['student'], syncRoles: true });
    const { token, session } = await gateway.identity.sessions.create(user.id);
    const cookies = { flexi_session: token };
    expect((await request('DELETE', '/ui/v1/me', { cookies, csrf: session.csrfToken, body: { confirm: 'someone@else.example' } })).statusCode).toBe(400);
    expect((await request('DELETE', '/ui/v1/me', { cookies, csrf: session.csrfToken, body: { confirm: ' GINA@uni.example ' } })).statusCode).toBe(200);
    expect(await scanDatabase(store, [user.id, 'gina@uni.example', 'sso-sub-123'])).toEqual([]);
  });
});
