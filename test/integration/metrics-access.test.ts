import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, redactConfig } from '../../src/config/load.js';
import { identityWarnings } from '../../src/services/identity/identity.js';
import { openStoreWithKeys, TEST_KEY } from '../helpers/gateway.js';
import type { Store } from '../../src/store/store.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

const TOKEN = 'prometheus-scrape-token-0123456789';
const apps: App[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const store of stores.splice(0)) await store.close();
});

async function gateway(configText: string): Promise<App> {
  const store = await openStoreWithKeys();
  stores.push(store);
  const app = await createApp({ config: loadConfig({ fileText: configText }), backends: [new ScriptedBackend({ models: ['tiny:latest'] })], store });
  apps.push(app);
  return app;
}

function scrape(app: App, options: { token?: string; from?: string } = {}) {
  return app.server.inject({
    method: 'GET', url: '/metrics', remoteAddress: options.from ?? '127.0.0.1',
    headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
  });
}

describe('/metrics access', () => {
  it('stays open when neither metrics.bearer_token nor metrics.allow_from is set (documented default)', async () => {
    const app = await gateway('');
    const response = await scrape(app, { from: '203.0.113.9' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('flexi_');
  });

  it('needs the bearer token when metrics.bearer_token is set; an API key is not enough', async () => {
    const app = await gateway(`metrics: { bearer_token: ${TOKEN} }`);
    expect((await scrape(app)).statusCode).toBe(401);
    expect((await scrape(app, { token: 'wrong' })).statusCode).toBe(401);
    expect((await scrape(app, { token: TEST_KEY })).statusCode).toBe(401);
    const response = await scrape(app, { token: TOKEN });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('flexi_');
  });

  it('answers only addresses in metrics.allow_from, and needs the token as well when both are set', async () => {
    const app = await gateway(`metrics: { allow_from: ['10.0.0.0/8', '::1'], bearer_token: ${TOKEN} }`);
    expect((await scrape(app, { from: '10.1.2.3', token: TOKEN })).statusCode).toBe(200);
    expect((await scrape(app, { from: '::1', token: TOKEN })).statusCode).toBe(200);
    const refused = await scrape(app, { from: '192.168.1.1', token: TOKEN });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: { code: 'permission_denied' } });
    expect((await scrape(app, { from: '10.1.2.3' })).statusCode).toBe(401);
  });

  it('warns at start when /metrics is open on a non-loopback address, and only then', () => {
    const warned = (text: string) => identityWarnings(loadConfig({ fileText: text })).some((w) => w.includes('/metrics'));
    expect(warned('server: { host: 0.0.0.0 }')).toBe(true);
    expect(warned('')).toBe(false);
    expect(warned(`server: { host: 0.0.0.0 }\nmetrics: { bearer_token: ${TOKEN} }`)).toBe(false);
    expect(warned("server: { host: 0.0.0.0 }\nmetrics: { allow_from: ['10.0.0.0/8'] }")).toBe(false);
  });

  it('redacts the token in `flexi config`', () => {
    const shown = JSON.stringify(redactConfig(loadConfig({ fileText: `metrics: { bearer_token: ${TOKEN} }` })));
    expect(shown).not.toContain(TOKEN);
    expect(shown).toContain('bearer_token');
  });

  it('refuses a start-up config whose allow_from entry is not an address or range, naming the key', () => {
    expect(() => loadConfig({ fileText: 'metrics: { allow_from: [prometheus.local] }' })).toThrow(/metrics\.allow_from/);
  });
});
