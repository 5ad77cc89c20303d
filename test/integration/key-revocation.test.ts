import { afterEach, describe, expect, it } from 'vitest';
import { randomId } from '../../src/lib/ids.js';
import { RedisCounterStore } from '../../src/store/redis-counter-store.js';
import { openDatabase, type Store } from '../../src/store/store.js';
import { createPostgresTestSchema, openTestStore, postgresTestUrl } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;
/** The promise: a key revoked on one replica is refused by the others within this time. */
const OTHER_REPLICAS_WITHIN_MS = 1000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function models(gateway: IdentityGateway, key: string) {
  return gateway.app.server.inject({ method: 'GET', url: '/v1/models', headers: bearer(key) });
}

/** Polls until `gateway` refuses `key` or `boundMs` passed; returns whether it refused in time. */
async function refusedWithin(gateway: IdentityGateway, key: string, startedAtMs: number, boundMs: number): Promise<boolean> {
  for (;;) {
    if ((await models(gateway, key)).statusCode === 401) return true;
    if (performance.now() - startedAtMs > boundMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('API key revocation', () => {
  it('refuses a revoked key on the very next request to the replica that revoked it', async () => {
    const store = await openTestStore('sqlite');
    cleanups.push(() => store.close());
    const gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest'] })], { store, listen: false });
    cleanups.push(() => gateway.close());
    const { key, keyId } = await userWithKey(gateway.identity, 'anna@uni.example', ['researcher']);
    const admin = await userWithKey(gateway.identity, 'root@uni.example', ['admin']);
    expect((await models(gateway, key)).statusCode).toBe(200);
    const revoked = await gateway.app.server.inject({ method: 'DELETE', url: `/admin/v1/keys/${keyId}`, headers: bearer(admin.key) });
    expect(revoked.statusCode).toBe(200);
    expect((await models(gateway, key)).statusCode).toBe(401);
  });

  it.skipIf(!redisUrl)(`refuses a key revoked on another replica within ${OTHER_REPLICAS_WITHIN_MS} ms (replicas share Redis)`, async () => {
    // Two replicas: two PostgreSQL connections to one schema when configured, else one SQLite store.
    let storeA: Store;
    let storeB: Store;
    if (postgresTestUrl) {
      const schema = await createPostgresTestSchema();
      storeA = await openDatabase(schema.url);
      cleanups.push(() => storeA.close());
      await storeA.migrate();
      storeB = await openDatabase(schema.url);
      cleanups.push(() => storeB.close());
    } else {
      storeA = storeB = await openTestStore('sqlite');
      cleanups.push(() => storeA.close());
    }
    const prefix = `flexi-test:${randomId(8)}:`;
    const countersA = new RedisCounterStore(redisUrl!, { keyPrefix: prefix });
    const countersB = new RedisCounterStore(redisUrl!, { keyPrefix: prefix });
    cleanups.push(() => countersA.close(), () => countersB.close());
    const backend = () => new ScriptedBackend({ models: ['tiny:latest'] });
    const gatewayA = await startIdentityGateway([backend()], { store: storeA, counters: countersA, listen: false });
    cleanups.push(() => gatewayA.close());
    const gatewayB = await startIdentityGateway([backend()], { store: storeB, counters: countersB, listen: false });
    cleanups.push(() => gatewayB.close());

    const { key, keyId } = await userWithKey(gatewayA.identity, 'anna@uni.example', ['researcher']);
    const admin = await userWithKey(gatewayA.identity, 'root@uni.example', ['admin']);
    // B has verified (and cached) the key.
    expect((await models(gatewayB, key)).statusCode).toBe(200);
    const startedAtMs = performance.now();
    const revoked = await gatewayA.app.server.inject({ method: 'DELETE', url: `/admin/v1/keys/${keyId}`, headers: bearer(admin.key) });
    expect(revoked.statusCode).toBe(200);
    expect((await models(gatewayA, key)).statusCode).toBe(401);
    expect(await refusedWithin(gatewayB, key, startedAtMs, OTHER_REPLICAS_WITHIN_MS)).toBe(true);
  });
});
