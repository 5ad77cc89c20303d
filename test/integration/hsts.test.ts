import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/** Issue 12, §6: `server.hsts` sends Strict-Transport-Security on every response. */
describe('HSTS', () => {
  let off: TestGateway;
  let on: TestGateway;
  beforeAll(async () => {
    off = await startGateway([new ScriptedBackend()]);
    on = await startGateway([new ScriptedBackend()], { config: { fileText: 'server:\n  hsts: true\n  hsts_max_age_s: 63072000\n' } });
  });
  afterAll(async () => {
    await off.close();
    await on.close();
  });

  const paths: [string, RequestInit][] = [
    ['/healthz', {}],
    ['/v1/models', { headers: { authorization: `Bearer ${TEST_KEY}` } }],
    ['/v1/models', {}],
    ['/no/such/route', {}],
    ['/', {}],
  ];

  it('is not sent by default', async () => {
    for (const [path, init] of paths) expect((await fetch(`${off.url}${path}`, init)).headers.get('strict-transport-security')).toBeNull();
  });

  it('is sent with the configured max-age on every response, errors included, when server.hsts is on', async () => {
    for (const [path, init] of paths) {
      const response = await fetch(`${on.url}${path}`, init);
      expect(response.headers.get('strict-transport-security'), `${path} → ${response.status}`).toBe('max-age=63072000; includeSubDomains');
    }
  });
});
