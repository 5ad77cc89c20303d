import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/*
 * Key scopes bind every route, not only inference: the self-service key API, the admin API,
 * the web UI's API. A scoped key never creates a wider key, and reaches /admin/v1 only with the
 * `admin` scope.
 */

let store: Store;
let gateway: IdentityGateway;

beforeAll(async () => {
  store = await openTestStore('sqlite');
  gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest', 'big:latest'] })], { store, listen: false });
});
afterAll(async () => {
  await gateway.close();
  await store.close();
});

function call(method: 'GET' | 'POST' | 'PATCH', url: string, key: string, body?: unknown) {
  return gateway.app.server.inject({
    method, url, headers: { ...bearer(key), 'content-type': 'application/json' }, payload: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('endpoint scopes bind every route', () => {
  it('a key scoped endpoint:/v1/models cannot create keys (the reported 201 with scopes:null)', async () => {
    const { key } = await userWithKey(gateway.identity, 'models-only@uni.example', ['researcher'], ['endpoint:/v1/models']);
    expect((await call('GET', '/v1/models', key)).statusCode).toBe(200);
    const created = await call('POST', '/auth/keys', key, { name: 'wider' });
    expect(created.statusCode).toBe(403);
    expect(created.json()).toMatchObject({ error: { code: 'permission_denied' } });
    expect((await gateway.identity.keys.list()).filter((k) => k.name === 'wider')).toEqual([]);
  });

  it('a key scoped to /v1 paths cannot read /auth/me, /auth/keys or the web UI API', async () => {
    const { key } = await userWithKey(gateway.identity, 'v1-only@uni.example', ['researcher'], ['endpoint:/v1/*']);
    for (const url of ['/auth/me', '/auth/keys', '/ui/v1/models']) {
      expect((await call('GET', url, key)).statusCode, url).toBe(403);
    }
    expect((await call('POST', '/v1/chat/completions', key, { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] })).statusCode).toBe(200);
  });
});

describe('a scoped key creates only keys within its own scopes', () => {
  it('refuses unscoped and wider keys, creates equal and narrower ones', async () => {
    const { key } = await userWithKey(gateway.identity, 'tiny-only@uni.example', ['researcher'], ['model:tiny*']);
    expect((await call('POST', '/auth/keys', key, { name: 'unscoped' })).statusCode).toBe(403);
    expect((await call('POST', '/auth/keys', key, { name: 'empty', scopes: [] })).statusCode).toBe(403);
    expect((await call('POST', '/auth/keys', key, { name: 'all models', scopes: ['model:*'] })).statusCode).toBe(403);
    expect((await call('POST', '/auth/keys', key, { name: 'other model', scopes: ['model:big*'] })).statusCode).toBe(403);
    expect((await call('POST', '/auth/keys', key, { name: 'admin', scopes: ['model:tiny*', 'admin'] })).statusCode).toBe(403);
    const same = await call('POST', '/auth/keys', key, { name: 'same', scopes: ['model:tiny*'] });
    expect(same.statusCode).toBe(201);
    const narrower = await call('POST', '/auth/keys', key, { name: 'narrower', scopes: ['model:tiny:latest', 'endpoint:/v1/chat/*'] });
    expect(narrower.statusCode).toBe(201);
    expect(narrower.json()).toMatchObject({ scopes: ['model:tiny:latest', 'endpoint:/v1/chat/*'] });
  });

  it('an admin key with the admin scope cannot mint an unscoped key through the admin API either', async () => {
    const { key } = await userWithKey(gateway.identity, 'scoped-admin@uni.example', ['admin'], ['admin', 'endpoint:/admin/*']);
    expect((await call('POST', '/admin/v1/keys', key, { name: 'operator', role: 'admin' })).statusCode).toBe(403);
    expect((await call('POST', '/admin/v1/keys', key, { name: 'operator', role: 'admin', scopes: ['admin', 'endpoint:/admin/v1/usage*'] })).statusCode).toBe(201);
  });
});

describe('the admin API needs the admin scope on keys that have scopes', () => {
  const ADMIN_ROUTES = ['/admin/v1/users', '/admin/v1/keys', '/admin/v1/nodes', '/admin/v1/models', '/admin/v1/scheduler'];

  it('refuses an admin\'s key scoped to one model on every admin route', async () => {
    const { key } = await userWithKey(gateway.identity, 'admin-model@uni.example', ['admin'], ['model:tiny*']);
    for (const url of ADMIN_ROUTES) expect((await call('GET', url, key)).statusCode, url).toBe(403);
    expect((await call('GET', '/v1/models', key)).json().data.map((m: { id: string }) => m.id)).toEqual(['tiny']);
  });

  it('admits an admin\'s key with the admin scope, and an unscoped admin key as before', async () => {
    const scoped = await userWithKey(gateway.identity, 'admin-scope@uni.example', ['admin'], ['admin', 'model:tiny*']);
    const unscoped = await userWithKey(gateway.identity, 'admin-all@uni.example', ['admin']);
    for (const url of ADMIN_ROUTES) {
      expect((await call('GET', url, scoped.key)).statusCode, url).toBe(200);
      expect((await call('GET', url, unscoped.key)).statusCode, url).toBe(200);
    }
  });

  it('a scoped admin key cannot make a wider credential by adding an admin user, granting roles or setting a password', async () => {
    // The review's way around scopes: a new admin user, signed in, makes an unscoped key.
    const scoped = await userWithKey(gateway.identity, 'admin-narrow@uni.example', ['admin'], ['admin', 'model:tiny*']);
    const added = await call('POST', '/admin/v1/users', scoped.key, { email: 'new-admin@uni.example', roles: ['admin'], password: 'a-long-password-1' });
    expect(added.statusCode).toBe(403);
    expect(added.json().error.message).toContain('without scopes');
    const id = (await userWithKey(gateway.identity, 'plain-student@uni.example', ['student'])).user.id;
    expect((await call('PATCH', `/admin/v1/users/${id}`, scoped.key, { roles: ['admin'] })).statusCode).toBe(403);
    expect((await call('PATCH', `/admin/v1/users/${id}`, scoped.key, { password: 'another-long-password' })).statusCode).toBe(403);
    expect((await gateway.identity.users.get(id)).roles).toEqual(['student']);
    // What makes no credential stays open to it, and an unscoped admin key may do all of it.
    expect((await call('PATCH', `/admin/v1/users/${id}`, scoped.key, { disabled: true })).statusCode).toBe(200);
    const unscoped = await userWithKey(gateway.identity, 'admin-full@uni.example', ['admin']);
    expect((await call('PATCH', `/admin/v1/users/${id}`, unscoped.key, { roles: ['admin'], disabled: false })).statusCode).toBe(200);
    expect((await call('POST', '/admin/v1/users', unscoped.key, { email: 'new-admin@uni.example', roles: ['admin'], password: 'a-long-password-1' })).statusCode).toBe(201);
  });

  it('the admin scope gives nothing to a user without an admin role', async () => {
    const { key } = await userWithKey(gateway.identity, 'student-admin-scope@uni.example', ['student'], ['admin']);
    expect((await call('GET', '/admin/v1/users', key)).statusCode).toBe(403);
  });
});
