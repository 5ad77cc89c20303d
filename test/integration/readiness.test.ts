import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReadinessReply } from '../../src/api/system.js';
import type { ModelInfo, NodeHealth } from '../../src/core/types.js';
import { randomId } from '../../src/lib/ids.js';
import type { CounterStore } from '../../src/store/counter-store.js';
import { RedisCounterStore } from '../../src/store/redis-counter-store.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, testDialects } from '../helpers/db.js';
import { startIdentityGateway, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/** Issue 12 §6 and issue 13 §3: /readyz names what is down and reports each node. */

const redisUrl = process.env.FLEXI_TEST_REDIS_URL || undefined;

/** A node that is switched off: its model list and health probe fail. */
class DeadBackend extends ScriptedBackend {
  override async listModels(): Promise<ModelInfo[]> {
    throw new Error('connect ECONNREFUSED 10.0.0.9:11434');
  }

  override async health(): Promise<NodeHealth> {
    return { ok: false, latencyMs: 0, message: 'connect ECONNREFUSED 10.0.0.9:11434' };
  }
}

/** A TCP port on which nothing listens: connections to it are refused. */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatewayWith(options: { store: Store; counters?: CounterStore; backends?: ScriptedBackend[] }): Promise<IdentityGateway> {
  const gateway = await startIdentityGateway(options.backends ?? [new ScriptedBackend({ models: ['tiny:latest'] })], {
    store: options.store, counters: options.counters, listen: false,
  });
  cleanups.push(() => gateway.close());
  return gateway;
}

async function readyz(gateway: IdentityGateway): Promise<{ status: number; body: ReadinessReply }> {
  const response = await gateway.app.server.inject({ method: 'GET', url: '/readyz' });
  return { status: response.statusCode, body: response.json() as ReadinessReply };
}

for (const dialect of testDialects()) {
  describe(`/readyz [${dialect}]`, () => {
    it('is ready while the database answers', async () => {
      const store = await openTestStore(dialect);
      cleanups.push(() => store.close());
      const { status, body } = await readyz(await gatewayWith({ store }));
      expect(status).toBe(200);
      expect(body).toMatchObject({ status: 'ready', down: [], database: 'ok', models: 1, nodes_ready: 1 });
      expect(body.redis).toBeUndefined();
    });

    it('says not ready (503), naming the database, when the database is closed', async () => {
      const store = await openTestStore(dialect);
      cleanups.push(() => store.close());
      const gateway = await gatewayWith({ store });
      await store.close();
      const { status, body } = await readyz(gateway);
      expect(status).toBe(503);
      expect(body.status).toBe('not_ready');
      expect(body.down).toEqual(['database']);
      expect(body.database).not.toBe('ok');
    });

    it('says not ready (503), naming redis, when Redis refuses connections', async () => {
      const store = await openTestStore(dialect);
      cleanups.push(() => store.close());
      const counters = new RedisCounterStore(`redis://127.0.0.1:${await refusedPort()}`);
      cleanups.push(() => counters.close());
      const { status, body } = await readyz(await gatewayWith({ store, counters }));
      expect(status).toBe(503);
      expect(body.down).toEqual(['redis']);
      expect(body.redis).toMatch(/ECONNREFUSED/);
      expect(body.database).toBe('ok');
    });
  });
}

describe.skipIf(!redisUrl)('/readyz with a running Redis', () => {
  it('is ready and says redis ok', async () => {
    const store = await openTestStore('sqlite');
    cleanups.push(() => store.close());
    const counters = new RedisCounterStore(redisUrl!, { keyPrefix: `flexi-test:${randomId(8)}:` });
    cleanups.push(() => counters.close());
    const { status, body } = await readyz(await gatewayWith({ store, counters }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ready', down: [], database: 'ok', redis: 'ok' });
  });
});

describe('/readyz nodes', () => {
  it('reports each node with its state and models; a dead node is named but the gateway stays ready', async () => {
    const store = await openTestStore('sqlite');
    cleanups.push(() => store.close());
    const gateway = await gatewayWith({
      store,
      backends: [new ScriptedBackend({ name: 'gpu1', models: ['tiny:latest', 'big:latest'] }), new DeadBackend({ name: 'gpu2', models: ['other:latest'] })],
    });
    const { status, body } = await readyz(gateway);
    expect(status).toBe(200);
    expect(body.nodes_ready).toBe(1);
    expect(body.nodes).toEqual([
      { name: 'gpu1', type: 'sim', state: 'ready', models: ['big:latest', 'tiny:latest'], error: null },
      { name: 'gpu2', type: 'sim', state: 'down', models: [], error: 'connect ECONNREFUSED 10.0.0.9:11434' },
    ]);
  });
});
