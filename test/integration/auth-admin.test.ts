import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

let store: Store;
let gateway: IdentityGateway;
let adminKey: string;

beforeAll(async () => {
  store = await openTestStore('sqlite');
  gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest'] })], {
    store, listen: false,
    configText: 'auth:\n  cookie_secure: false\n  login_free_attempts: 3\n  login_backoff_ms: 60000\n',
  });
  adminKey = (await userWithKey(gateway.identity, 'root@uni.example', ['admin'])).key;
});
afterAll(async () => {
  await gateway.close();
  await store.close();
});

type Injected = Awaited<ReturnType<IdentityGateway['app']['server']['inject']>>;

function request(method: string, url: string, options: { key?: string; cookies?: Record<string, string>; csrf?: string; body?: unknown; ip?: string } = {}): Promise<Injected> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.key) Object.assign(headers, bearer(options.key));
  if (options.cookies) headers.cookie = Object.entries(options.cookies).map(([k, v]) => `${k}=${v}`).join('; ');
  if (options.csrf) headers['x-csrf-token'] = options.csrf;
  return gateway.app.server.inject({
    method: method as 'GET', url, headers, payload: options.body === undefined ? undefined : JSON.stringify(options.body), remoteAddress: options.ip ?? '10.0.0.1',
  });
}

async function login(email: string, password: string, ip?: string) {
  const response = await request('POST', '/auth/login', { body: { email, password }, ip });
  const cookies: Record<string, string> = {};
  for (const c of response.cookies as { name: string; value: string }[]) cookies[c.name] = c.value;
  return { response, cookies };
}

/** The user agreement gates key management and generation for browser sessions. */
async function acceptAgreement(cookies: Record<string, string>): Promise<void> {
  const { version } = (await request('GET', '/auth/agreement', { cookies })).json() as { version: string };
  expect((await request('POST', '/auth/agreement/accept', { cookies, csrf: cookies.flexi_csrf, body: { version } })).statusCode).toBe(200);
}

describe('password login and sessions', () => {
  it('logs in, reads /auth/me with budgets, and logs out only with the CSRF token', async () => {
    await gateway.identity.admin.addUser('test', { email: 'anna@uni.example', roles: ['student'], password: 'anna-password' });
    const { response, cookies } = await login('ANNA@uni.example', 'anna-password');
    expect(response.statusCode).toBe(200);
    const setCookie = String(response.headers['set-cookie']);
    expect(setCookie).toMatch(/flexi_session=[^;]+;.*HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    const me = (await request('GET', '/auth/me', { cookies })).json();
    expect(me).toMatchObject({ user: { email: 'anna@uni.example', roles: ['student'] }, policy: { tokens_per_day: 100_000 } });
    expect(me.budgets.map((b: { period: string }) => b.period)).toEqual(['day', 'week']);
    expect(me.csrf_token).toBe(cookies.flexi_csrf);
    expect((await request('POST', '/auth/logout', { cookies })).statusCode).toBe(403);
    expect((await request('POST', '/auth/logout', { cookies, csrf: 'wrong' })).statusCode).toBe(403);
    expect((await request('POST', '/auth/logout', { cookies, csrf: me.csrf_token })).statusCode).toBe(204);
    expect((await request('GET', '/auth/me', { cookies })).statusCode).toBe(401);
  });

  it('refuses tampered and unknown session cookies with 401', async () => {
    await gateway.identity.admin.addUser('test', { email: 'ben@uni.example', roles: ['student'], password: 'ben-password' });
    const { cookies } = await login('ben@uni.example', 'ben-password');
    const tampered = { flexi_session: cookies.flexi_session!.slice(0, -1) + (cookies.flexi_session!.endsWith('a') ? 'b' : 'a') };
    expect((await request('GET', '/auth/me', { cookies: tampered })).statusCode).toBe(401);
    expect((await request('GET', '/v1/models', { cookies: { flexi_session: 'garbage' } })).statusCode).toBe(401);
    expect((await request('GET', '/v1/models', { cookies })).statusCode).toBe(200);
  });

  it('answers wrong passwords and unknown accounts alike, then throttles guessing with Retry-After', async () => {
    await gateway.identity.admin.addUser('test', { email: 'carl@uni.example', roles: ['student'], password: 'carl-password' });
    const unknown = await login('nobody@uni.example', 'whatever-pass');
    const wrong = await login('carl@uni.example', 'wrong-password');
    expect(unknown.response.statusCode).toBe(401);
    expect(wrong.response.json()).toEqual(unknown.response.json());
    await login('carl@uni.example', 'wrong-password');
    await login('carl@uni.example', 'wrong-password');
    // Three failures: even the right password now waits.
    const blocked = await login('carl@uni.example', 'carl-password');
    expect(blocked.response.statusCode).toBe(429);
    expect(Number(blocked.response.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    // Another address is not affected.
    expect((await login('carl@uni.example', 'carl-password', '10.0.0.2')).response.statusCode).toBe(200);
  });

  it('rejects login bodies that are not JSON, oversized or malformed with clear 4xx', async () => {
    // What a cross-site form could send (text/plain needs no preflight), even with a JSON-looking body.
    const form = await gateway.app.server.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'text/plain' }, payload: '{"email":"anna@uni.example","password":"anna-password"}' });
    expect(form.statusCode).toBe(415);
    expect(form.headers['set-cookie']).toBeUndefined();
    expect((await request('POST', '/auth/login', { body: { email: 'x'.repeat(300), password: 'p' } })).json().error.param).toBe('email');
    expect((await request('POST', '/auth/login', { body: { email: 'a@b.c' } })).json().error.param).toBe('password');
  });
});

describe('own API keys (no IDOR)', () => {
  it('lets a researcher manage only their own keys; other users\' ids answer 404', async () => {
    const alice = await gateway.identity.admin.addUser('test', { email: 'alice@uni.example', roles: ['researcher'], password: 'alice-password' });
    await gateway.identity.admin.addUser('test', { email: 'bob@uni.example', roles: ['researcher'], password: 'bob-password' });
    const a = await login('alice@uni.example', 'alice-password');
    const b = await login('bob@uni.example', 'bob-password');
    await acceptAgreement(a.cookies);
    await acceptAgreement(b.cookies);
    const created = await request('POST', '/auth/keys', { cookies: a.cookies, csrf: a.cookies.flexi_csrf, body: { name: 'thesis' } });
    expect(created.statusCode).toBe(201);
    const key = created.json() as { key: string; id: string; prefix: string; user_id: string };
    expect(key.user_id).toBe(alice.id);
    expect(key.prefix).toBe(key.key.slice(0, 12));
    const listed = (await request('GET', '/auth/keys', { cookies: a.cookies })).json() as { data: Record<string, unknown>[] };
    expect(JSON.stringify(listed)).not.toContain(key.key);
    expect((await request('GET', '/auth/keys', { cookies: b.cookies })).json().data).toEqual([]);
    const stolen = await request('DELETE', `/auth/keys/${key.id}`, { cookies: b.cookies, csrf: b.cookies.flexi_csrf });
    const missing = await request('DELETE', '/auth/keys/doesnotexist', { cookies: b.cookies, csrf: b.cookies.flexi_csrf });
    expect(stolen.statusCode).toBe(404);
    expect(stolen.json()).toEqual(missing.json());
    expect((await request('GET', '/v1/models', { key: key.key })).statusCode).toBe(200);
    expect((await request('DELETE', `/auth/keys/${key.id}`, { cookies: a.cookies, csrf: a.cookies.flexi_csrf })).statusCode).toBe(200);
    expect((await request('GET', '/v1/models', { key: key.key })).statusCode).toBe(401);
  });

  it('does not let a student create keys', async () => {
    await gateway.identity.admin.addUser('test', { email: 'stu@uni.example', roles: ['student'], password: 'stu-password' });
    const s = await login('stu@uni.example', 'stu-password');
    await acceptAgreement(s.cookies);
    const refused = await request('POST', '/auth/keys', { cookies: s.cookies, csrf: s.cookies.flexi_csrf, body: { name: 'x' } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('permission_denied');
  });
});

describe('admin API', () => {
  it('creates users, refuses unknown roles, duplicates and oversized fields, and audits every change', async () => {
    const created = await request('POST', '/admin/v1/users', { key: adminKey, body: { email: 'Dora@Uni.example', role: 'staff' } });
    expect(created.statusCode).toBe(201);
    const dora = created.json() as { id: string; email: string };
    expect(dora.email).toBe('dora@uni.example');
    const badRole = await request('POST', '/admin/v1/users', { key: adminKey, body: { email: 'e@uni.example', role: 'wizard' } });
    expect(badRole.statusCode).toBe(400);
    expect(badRole.json().error.message).toMatch(/unknown role "wizard"; known roles: admin, staff/);
    expect((await request('POST', '/admin/v1/users', { key: adminKey, body: { email: 'dora@uni.example', role: 'staff' } })).statusCode).toBe(409);
    expect((await request('POST', '/admin/v1/users', { key: adminKey, body: { email: 'f@uni.example', role: 'staff', display_name: 'x'.repeat(201) } })).json().error.param).toBe('display_name');
    expect((await request('PATCH', `/admin/v1/users/${dora.id}`, { key: adminKey, body: { roles: ['staff', 'researcher'] } })).json().roles).toEqual(['staff', 'researcher']);
    expect((await request('PATCH', `/admin/v1/users/${dora.id}`, { key: adminKey, body: { disabled: true } })).json().disabled).toBe(true);
    expect((await request('GET', '/admin/v1/users/unknown-id', { key: adminKey })).statusCode).toBe(404);

    const group = (await request('POST', '/admin/v1/groups', { key: adminKey, body: { name: 'Stats 101', kind: 'course' } })).json() as { id: string };
    expect((await request('POST', `/admin/v1/groups/${group.id}/members`, { key: adminKey, body: { user: 'dora@uni.example', role: 'owner' } })).statusCode).toBe(204);
    expect((await request('GET', `/admin/v1/groups/${group.id}`, { key: adminKey })).json().members).toEqual([expect.objectContaining({ email: 'dora@uni.example', role: 'owner' })]);

    const key = await request('POST', '/admin/v1/keys', { key: adminKey, body: { user: dora.id, name: 'dora-key', scopes: ['model:tiny*'] } });
    expect(key.statusCode).toBe(201);
    expect((await request('POST', '/admin/v1/keys', { key: adminKey, body: { name: 'x', role: 'student', scopes: ['everything'] } })).json().error.param).toBe('scopes');
    // An operator key without a user needs a role: no silent admin default.
    const roleless = await request('POST', '/admin/v1/keys', { key: adminKey, body: { name: 'ops' } });
    expect(roleless.statusCode).toBe(400);
    expect(roleless.json().error.param).toBe('role');
    expect((await request('DELETE', `/admin/v1/keys/${key.json().id}`, { key: adminKey })).json().already_revoked).toBe(false);

    const audit = (await request('GET', '/admin/v1/audit?limit=20', { key: adminKey })).json() as { data: { action: string; actor: string; target_id: string }[] };
    const mine = audit.data.filter((e) => e.target_id === dora.id || e.target_id === group.id || e.target_id === key.json().id).reverse();
    expect(mine.map((e) => e.action)).toEqual(['user.create', 'user.set_roles', 'user.disable', 'group.create', 'group.add_member', 'key.create', 'key.revoke']);
    expect(new Set(mine.map((e) => e.actor)).size).toBe(1);
    expect(mine[0]!.actor).toMatch(/^user:/);
    expect(JSON.stringify(audit)).not.toMatch(/flx-[A-Za-z0-9]{40}/);
  });

  it('reports usage by user, role, model and day with e-mails resolved from pseudonyms', async () => {
    const { key } = await userWithKey(gateway.identity, 'user1@uni.example', ['researcher']);
    const chat = await request('POST', '/v1/chat/completions', { key, body: { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] } });
    expect(chat.statusCode).toBe(200);
    await gateway.usage.flush();
    const raw = await store.db.selectFrom('usage_records').select('subject').execute();
    expect(raw.every((r) => !r.subject?.includes('@'))).toBe(true);
    const byUser = (await request('GET', '/admin/v1/usage?by=user&since=2000-01-01', { key: adminKey })).json();
    expect(byUser.data).toContainEqual(expect.objectContaining({ user: 'user1@uni.example', requests: 1, total_tokens: 12 }));
    const byRole = (await request('GET', '/admin/v1/usage?by=role&since=2000-01-01', { key: adminKey })).json();
    expect(byRole.data).toContainEqual(expect.objectContaining({ role: 'researcher', requests: 1 }));
    const csv = await request('GET', '/admin/v1/usage?by=model&since=2000-01-01&format=csv', { key: adminKey });
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.body.split('\n')[0]).toBe('model,requests,errors,prompt_tokens,completion_tokens,total_tokens');
    expect((await request('GET', '/admin/v1/usage?by=planet', { key: adminKey })).json().error.param).toBe('by');
    expect((await request('GET', '/admin/v1/usage?since=yesterday', { key: adminKey })).json().error.param).toBe('since');
  });
});
