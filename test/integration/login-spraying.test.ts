import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { startIdentityGateway, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/** Issue 12 §6: one address trying one password on many accounts is limited (docs/security.md). */
describe('password spraying over HTTP', () => {
  let store: Store;
  let gateway: IdentityGateway;
  beforeAll(async () => {
    store = await openTestStore('sqlite');
    gateway = await startIdentityGateway([new ScriptedBackend()], {
      store, listen: false, configText: 'auth:\n  cookie_secure: false\n  login_failures_per_address: 3\n',
    });
    await gateway.identity.admin.addUser('test', { email: 'victim@uni.example', roles: ['student'], password: 'victim-password' });
  });
  afterAll(async () => {
    await gateway.close();
    await store.close();
  });

  const login = (email: string, password: string, ip: string) => gateway.app.server.inject({
    method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email, password }), remoteAddress: ip,
  });

  it('refuses every login from an address after 3 failures on 3 accounts with 429 and Retry-After; other addresses log in', async () => {
    for (const email of ['a@uni.example', 'b@uni.example', 'c@uni.example']) expect((await login(email, 'Summer2026!', '10.9.0.1')).statusCode).toBe(401);
    const refused = await login('victim@uni.example', 'victim-password', '10.9.0.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.code).toBe('rate_limit_exceeded');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(14 * 60);
    expect(refused.headers['set-cookie']).toBeUndefined();
    expect((await login('victim@uni.example', 'victim-password', '10.9.0.2')).statusCode).toBe(200);
  });
});
