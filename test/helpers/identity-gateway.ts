import type { AddressInfo } from 'node:net';
import { createApp, type App } from '../../src/app.js';
import type { Backend } from '../../src/backends/backend.js';
import { loadConfig } from '../../src/config/load.js';
import type { Identity } from '../../src/services/identity/identity.js';
import { UsageRecorder } from '../../src/services/inference/usage-recorder.js';
import type { CounterStore } from '../../src/store/counter-store.js';
import type { Store } from '../../src/store/store.js';

export interface IdentityGateway {
  app: App;
  url: string;
  store: Store;
  identity: Identity;
  usage: UsageRecorder;
  close(): Promise<void>;
}

/**
 * A gateway with users, sessions and the admin API over `store` (which the caller owns), on
 * 127.0.0.1:0. Usage records are written to the store (flush with `usage.flush()`).
 */
export async function startIdentityGateway(backends: Backend[], options: { store: Store; configText?: string; counters?: CounterStore; listen?: boolean }): Promise<IdentityGateway> {
  const config = loadConfig({ fileText: options.configText ?? '' });
  const usage = new UsageRecorder(options.store.usage, { flushIntervalMs: 60_000, batchSize: 1000 });
  const app = await createApp({ config, backends, store: options.store, counters: options.counters, usage });
  let url = '';
  if (options.listen !== false) {
    await app.server.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
  }
  return {
    app, url, store: options.store, usage,
    identity: app.identity,
    close: async () => {
      await app.close();
      await usage.close();
    },
  };
}

/** A user with the given roles and an API key of theirs. */
export async function userWithKey(identity: IdentityGateway['identity'], email: string, roles: string[], scopes?: string[]) {
  const user = await identity.admin.addUser('test', { email, roles, password: 'correct horse battery' });
  const { key, record } = await identity.admin.createKey('test', { user: user.id, name: `${email} key`, scopes });
  return { user, key, keyId: record.id };
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}
