import type { AddressInfo } from 'node:net';
import { createApp, type App, type AppDeps } from '../../src/app.js';
import type { Backend } from '../../src/backends/backend.js';
import { loadConfig, type ConfigSources } from '../../src/config/load.js';
import type { KeyVerifier } from '../../src/services/access-control.service.js';

export const TEST_KEY = 'flx-test-key-0123456789';

/** A key verifier that knows one key (for http tests that do not need the database). */
export const singleKeyVerifier: KeyVerifier = {
  async verify(key) {
    return key === TEST_KEY ? { id: 'key-1', role: 'admin' } : undefined;
  },
};

export interface TestGateway {
  app: App;
  url: string;
  close(): Promise<void>;
}

/** Starts the gateway on 127.0.0.1:0 over the given backends. */
export async function startGateway(backends: Backend[], options: { config?: ConfigSources; deps?: Partial<AppDeps> } = {}): Promise<TestGateway> {
  const config = loadConfig(options.config ?? {});
  const app = await createApp({ config, backends, keys: singleKeyVerifier, ...options.deps });
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.server.address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}
