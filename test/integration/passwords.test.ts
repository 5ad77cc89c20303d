import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * Local accounts' passwords (issue 13 §3): a user changes their own, an admin resets one or sets
 * it when adding the user; the session cookie's Secure flag follows the request's protocol
 * (`auth.cookie_secure: auto`); a role's default model reaches the web UI through /auth/me.
 */
type Injected = Awaited<ReturnType<IdentityGateway['app']['server']['inject']>>;
type Cookies = Record<string, string>;

const CONFIG = `
server:
  trust_proxy: true
auth:
  login_free_attempts: 2
  login_backoff_ms: 60000
roles:
  student:
    models: ["*"]
    default_model: tiny
`;

describeEachDatabase('passwords, secure cookies and default models', (getStore) => {
  let gateway: IdentityGateway;
  let adminKey: string;

  beforeEach(async () => {
    gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest', 'big:latest'] })], { store: getStore(), listen: false, configText: CONFIG });
    adminKey = (await userWithKey(gateway.identity, 'root@uni.example', ['admin'])).key;
  });
  afterEach(async () => {
    await gateway.close();
  });

  function request(method: string, url: string, options: { key?: string; cookies?: Cookies; csrf?: string; body?: unknown; headers?: Record<string, string>; ip?: string } = {}): Promise<Injected> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.key) Object.assign(headers, bearer(options.key));
    if (options.cookies) headers.cookie = Object.entries(options.cookies).map(([k, v]) => `${k}=${v}`).join('; ');
    if (options.csrf) headers['x-csrf-token'] = options.csrf;
    return gateway.app.server.inject({
      method: method as 'GET', url, headers, payload: options.body === undefined ? undefined : JSON.stringify(options.body), remoteAddress: options.ip ?? '10.0.0.1',
    });
  }

  async function login(email: string, password: string, headers: Record<string, string> = {}): Promise<{ response: Injected; cookies: Cookies }> {
    const response = await request('POST', '/auth/login', { body: { email, password }, headers });
    const cookies: Cookies = {};
    for (const c of response.cookies as { name: string; value: string }[]) cookies[c.name] = c.value;
    return { response, cookies };
  }

  const me = (cookies: Cookies) => request('GET', '/auth/me', { cookies });

  it('marks the session cookie Secure only when the request came over HTTPS (cookie_secure: auto)', async () => {
    await gateway.identity.admin.addUser('test', { email: 'anna@uni.example', roles: ['student'], password: 'anna-password' });
    const plain = await login('anna@uni.example', 'anna-password');
    expect(plain.response.statusCode).toBe(200);
    expect(String(plain.response.headers['set-cookie'])).not.toMatch(/Secure/i);
    const proxied = await login('anna@uni.example', 'anna-password', { 'x-forwarded-proto': 'https' });
    const setCookie = [proxied.response.headers['set-cookie']].flat().join('\n');
    expect(setCookie).toMatch(/flexi_session=[^;]+;.*Secure/i);
    expect(setCookie).toMatch(/flexi_csrf=[^;]+;.*Secure/i);
  });

  it('lets a user change their own password: the current one is checked, other sessions end, this one stays', async () => {
    await gateway.identity.admin.addUser('test', { email: 'ben@uni.example', roles: ['student'], password: 'old-password' });
    const here = (await login('ben@uni.example', 'old-password')).cookies;
    const elsewhere = (await login('ben@uni.example', 'old-password')).cookies;
    const change = (body: unknown, csrf = here.flexi_csrf) => request('POST', '/auth/password', { cookies: here, csrf, body });

    expect((await change({ current_password: 'old-password', new_password: 'new-password' }, 'wrong')).statusCode).toBe(403);
    const short = await change({ current_password: 'old-password', new_password: 'short' });
    expect(short.statusCode).toBe(400);
    expect(short.json().error.param).toBe('new_password');
    const wrong = await change({ current_password: 'not-it-at-all', new_password: 'new-password' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.param).toBe('current_password');
    expect((await change({ current_password: 'old-password', new_password: 'new-password', extra: 1 })).statusCode).toBe(400);

    expect((await change({ current_password: 'old-password', new_password: 'new-password' })).statusCode).toBe(204);
    expect((await me(here)).statusCode).toBe(200);
    expect((await me(elsewhere)).statusCode).toBe(401);
    expect((await login('ben@uni.example', 'old-password')).response.statusCode).toBe(401);
    expect((await login('ben@uni.example', 'new-password')).response.statusCode).toBe(200);
    const audit = await gateway.identity.audit.list({});
    expect(audit.some((a) => a.action === 'user.change_password' && a.actor.startsWith('user:'))).toBe(true);
  });

  it('counts wrong current passwords as failed logins', async () => {
    await gateway.identity.admin.addUser('test', { email: 'cara@uni.example', roles: ['student'], password: 'cara-password' });
    const { cookies } = await login('cara@uni.example', 'cara-password');
    for (let i = 0; i < 2; i++) {
      expect((await request('POST', '/auth/password', { cookies, csrf: cookies.flexi_csrf, body: { current_password: `guess-${i}-xx`, new_password: 'new-password' } })).statusCode).toBe(400);
    }
    const throttled = await request('POST', '/auth/password', { cookies, csrf: cookies.flexi_csrf, body: { current_password: 'cara-password', new_password: 'new-password' } });
    expect(throttled.statusCode).toBe(429);
  });

  it('refuses a password change with an API key', async () => {
    const { key } = await userWithKey(gateway.identity, 'dora@uni.example', ['student']);
    const refused = await request('POST', '/auth/password', { key, body: { current_password: 'x', new_password: 'new-password' } });
    expect(refused.statusCode).toBe(403);
  });

  it('lets an admin add a user with a password and reset it, which ends the user\'s sessions', async () => {
    const added = await request('POST', '/admin/v1/users', { key: adminKey, body: { email: 'eva@uni.example', roles: ['student'], password: 'first-password' } });
    expect(added.statusCode).toBe(201);
    const session = (await login('eva@uni.example', 'first-password')).cookies;
    expect((await me(session)).statusCode).toBe(200);

    const reset = await request('PATCH', `/admin/v1/users/${added.json().id}`, { key: adminKey, body: { password: 'reset-password' } });
    expect(reset.statusCode).toBe(200);
    expect((await me(session)).statusCode).toBe(401);
    expect((await login('eva@uni.example', 'reset-password')).response.statusCode).toBe(200);
    const tooShort = await request('PATCH', `/admin/v1/users/${added.json().id}`, { key: adminKey, body: { password: 'x' } });
    expect(tooShort.statusCode).toBe(400);
    expect(tooShort.json().error.param).toBe('password');
    const audit = await gateway.identity.audit.list({});
    expect(audit.filter((a) => a.action === 'user.set_password')).toHaveLength(1);
  });

  it('names the role\'s default model in /auth/me', async () => {
    await gateway.identity.admin.addUser('test', { email: 'finn@uni.example', roles: ['student'], password: 'finn-password' });
    await gateway.identity.admin.addUser('test', { email: 'gus@uni.example', roles: ['staff'], password: 'gus-password' });
    expect((await me((await login('finn@uni.example', 'finn-password')).cookies)).json().policy.default_model).toBe('tiny');
    expect((await me((await login('gus@uni.example', 'gus-password')).cookies)).json().policy.default_model).toBeNull();
  });
});
