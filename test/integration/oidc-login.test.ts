import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { startIdentityGateway, type IdentityGateway } from '../helpers/identity-gateway.js';
import { TestOidcProvider } from '../helpers/oidc-provider.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

let provider: TestOidcProvider;
let store: Store;
let gateway: IdentityGateway;

beforeAll(async () => {
  provider = new TestOidcProvider('flexi', 'client-secret');
  await provider.start();
  store = await openTestStore('sqlite');
  gateway = await startIdentityGateway([new ScriptedBackend({ models: ['small:latest', 'big:latest'] })], {
    store,
    configText: `
auth:
  cookie_secure: false
  oidc:
    issuer: ${provider.issuer}
    client_id: flexi
    client_secret: client-secret
    allow_http: true
    role_mappings:
      - { claim: groups, value: 'lecturers', roles: [staff] }
      - { claim: eduperson_affiliation, value: 'student', roles: [student] }
      - { claim: realm_access.roles, value: 'flexi-research*', roles: [researcher] }
    default_roles: [guest]
roles:
  student: { models: ['small*'] }
  guest: { models: [] }
`,
  });
});
afterAll(async () => {
  await gateway.close();
  await store.close();
  await provider.stop();
});

/** name=value pairs of Set-Cookie headers. */
function cookiesOf(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const header of response.headers.getSetCookie()) {
    const [pair] = header.split(';');
    const eq = pair!.indexOf('=');
    out[pair!.slice(0, eq)] = pair!.slice(eq + 1);
  }
  return out;
}

function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');
}

/** Runs the browser's part of the code flow; returns the final response and the session cookies. */
async function signIn(options: { tamper?: (cookies: Record<string, string>, callback: URL) => void } = {}) {
  const start = await fetch(`${gateway.url}/auth/oidc/start?return_to=/chat`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const startCookies = cookiesOf(start);
  const authorize = await fetch(start.headers.get('location')!, { redirect: 'manual' });
  expect(authorize.status).toBe(302);
  const callback = new URL(authorize.headers.get('location')!);
  options.tamper?.(startCookies, callback);
  const finished = await fetch(callback, { redirect: 'manual', headers: { cookie: cookieHeader(startCookies) } });
  return { finished, cookies: cookiesOf(finished) };
}

async function me(cookies: Record<string, string>) {
  const response = await fetch(`${gateway.url}/auth/me`, { headers: { cookie: cookieHeader(cookies) } });
  return { status: response.status, body: (await response.json()) as { user: { email: string; roles: string[]; id: string }; csrf_token: string } };
}

describe('OIDC single sign-on against a local provider', () => {
  it('logs a lecturer in, maps the groups claim to staff and sets a session', async () => {
    provider.nextUser = { sub: 'u-lect', email: 'Lect@Uni.example', email_verified: true, name: 'Dr. L', groups: ['lecturers', 'all'] };
    const { finished, cookies } = await signIn();
    expect(finished.status).toBe(302);
    expect(finished.headers.get('location')).toBe('/chat');
    expect(Object.keys(cookies)).toEqual(expect.arrayContaining(['flexi_session', 'flexi_csrf']));
    expect(finished.headers.getSetCookie().find((c) => c.startsWith('flexi_session='))).toMatch(/HttpOnly/i);
    const { status, body } = await me(cookies);
    expect(status).toBe(200);
    expect(body.user).toMatchObject({ email: 'lect@uni.example', roles: ['staff'], display_name: 'Dr. L' });
  });

  it('maps list claims, nested claims and falls back to the default roles', async () => {
    provider.nextUser = { sub: 'u-stud', email: 'stud@uni.example', email_verified: true, eduperson_affiliation: ['member', 'student'] };
    expect((await me((await signIn()).cookies)).body.user.roles).toEqual(['student']);
    provider.nextUser = { sub: 'u-res', email: 'res@uni.example', email_verified: true, realm_access: { roles: ['flexi-research-ml'] } };
    expect((await me((await signIn()).cookies)).body.user.roles).toEqual(['researcher']);
    provider.nextUser = { sub: 'u-guest', email: 'guest@uni.example', email_verified: true };
    expect((await me((await signIn()).cookies)).body.user.roles).toEqual(['guest']);
  });

  it('finds the same user again by subject and syncs roles that changed at the provider', async () => {
    provider.nextUser = { sub: 'u-sync', email: 'sync@uni.example', email_verified: true, eduperson_affiliation: 'student' };
    const first = (await me((await signIn()).cookies)).body.user;
    provider.nextUser = { sub: 'u-sync', email: 'sync@uni.example', email_verified: true, groups: ['lecturers'] };
    const second = (await me((await signIn()).cookies)).body.user;
    expect(second.id).toBe(first.id);
    expect(second.roles).toEqual(['staff']);
  });

  it('lets the session use the API within the mapped role, with CSRF protection on changes', async () => {
    provider.nextUser = { sub: 'u-api', email: 'api@uni.example', email_verified: true, eduperson_affiliation: 'student' };
    const { cookies } = await signIn();
    const models = await fetch(`${gateway.url}/v1/models`, { headers: { cookie: cookieHeader(cookies) } });
    expect(((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toEqual(['small']);
    const body = JSON.stringify({ model: 'small', messages: [{ role: 'user', content: 'hi' }] });
    const withoutToken = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', body, headers: { cookie: cookieHeader(cookies), 'content-type': 'application/json' } });
    expect(withoutToken.status).toBe(403);
    const headers = { cookie: cookieHeader(cookies), 'content-type': 'application/json', 'x-csrf-token': cookies.flexi_csrf! };
    const beforeAgreement = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', body, headers });
    expect(((await beforeAgreement.json()) as { error: { code: string } }).error.code).toBe('agreement_required');
    const { version } = (await (await fetch(`${gateway.url}/auth/agreement`, { headers })).json()) as { version: string };
    expect((await fetch(`${gateway.url}/auth/agreement/accept`, { method: 'POST', headers, body: JSON.stringify({ version }) })).status).toBe(200);
    const withToken = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', body, headers: { cookie: cookieHeader(cookies), 'content-type': 'application/json', 'x-csrf-token': cookies.flexi_csrf! },
    });
    expect(withToken.status).toBe(200);
  });

  it('refuses a tampered transaction cookie and a wrong state', async () => {
    provider.nextUser = { sub: 'u-x', email: 'x@uni.example', email_verified: true };
    const tampered = await signIn({
      tamper: (cookies) => {
        const value = decodeURIComponent(cookies.flexi_oidc!);
        cookies.flexi_oidc = encodeURIComponent(value.replace(/"returnTo":"[^"]*"/, '"returnTo":"/evil"'));
      },
    });
    expect(tampered.finished.status).toBe(401);
    expect(((await tampered.finished.json()) as { error: { message: string } }).error.message).toMatch(/tampered/);
    expect(tampered.cookies.flexi_session).toBeUndefined();
    const wrongState = await signIn({ tamper: (_cookies, callback) => callback.searchParams.set('state', 'forged') });
    expect(wrongState.finished.status).toBe(401);
    expect(((await wrongState.finished.json()) as { error: { message: string } }).error.message).toMatch(/Single sign-on failed: invalid response/);
    expect(wrongState.cookies.flexi_session).toBeUndefined();
  });

  it('does not redirect off-site after login', async () => {
    provider.nextUser = { sub: 'u-redir', email: 'redir@uni.example', email_verified: true };
    const start = await fetch(`${gateway.url}/auth/oidc/start?return_to=//evil.example/x`, { redirect: 'manual' });
    const authorize = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const finished = await fetch(authorize.headers.get('location')!, { redirect: 'manual', headers: { cookie: cookieHeader(cookiesOf(start)) } });
    expect(finished.headers.get('location')).toBe('/');
  });
});
