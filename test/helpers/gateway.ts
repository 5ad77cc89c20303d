import type { AddressInfo } from 'node:net';
import { createApp, type App, type AppDeps } from '../../src/app.js';
import type { Backend } from '../../src/backends/backend.js';
import { loadConfig, type ConfigSources } from '../../src/config/load.js';
import { API_KEY_SHOWN_CHARS, hashApiKey } from '../../src/services/identity/api-key.service.js';
import { openDatabase, type Store } from '../../src/store/store.js';

/** A key in the real format (`flx-` and 40 letters or digits), stored by `openStoreWithKeys`. */
export const TEST_KEY = `flx-${'testkey0123456789'.padEnd(40, 'x')}`;

/**
 * A fresh in-memory SQLite store that knows the given role keys (default: TEST_KEY as `key-1`,
 * role admin), for http tests that need a database only because the gateway always has one.
 */
export async function openStoreWithKeys(keys: readonly { id: string; key: string; role: string }[] = [{ id: 'key-1', key: TEST_KEY, role: 'admin' }]): Promise<Store> {
  const store = await openDatabase(':memory:');
  await store.migrate();
  for (const { id, key, role } of keys) {
    await store.apiKeys.create({ id, name: id, prefix: key.slice(0, API_KEY_SHOWN_CHARS), keyHash: hashApiKey(key), role, createdAt: new Date().toISOString() });
  }
  return store;
}

export interface TestGateway {
  app: App;
  url: string;
  close(): Promise<void>;
}

/** Starts the gateway on 127.0.0.1:0 over the given backends. */
export async function startGateway(backends: Backend[], options: { config?: ConfigSources; deps?: Partial<AppDeps> } = {}): Promise<TestGateway> {
  const config = loadConfig(options.config ?? {});
  const store = options.deps?.store ?? (await openStoreWithKeys());
  const ownsStore = store !== options.deps?.store;
  const app = await createApp({ config, backends, ...options.deps, store });
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.server.address() as AddressInfo;
  return {
    app, url: `http://127.0.0.1:${port}`,
    close: async () => {
      await app.close();
      if (ownsStore) await store.close();
    },
  };
}
