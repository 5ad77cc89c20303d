/**
 * The admin API for models (`/admin/v1/models`) on the real gateway: an embedded folder plus a
 * `flexi sim` node; pulls come from a local HTTP server. Only admins get in.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminModel, AdminModelList, AdminPullProgressLine } from '../../src/api/admin-models.js';
import { createApp, type App } from '../../src/app.js';
import { EmbeddedBackend } from '../../src/backends/embedded/embedded.backend.js';
import { createBackend } from '../../src/backends/factory.js';
import { loadConfig } from '../../src/config/load.js';
import type { Store } from '../../src/store/store.js';
import { openStoreWithKeys } from '../helpers/gateway.js';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { writeTinyLlamaGguf } from '../helpers/gguf-writer.js';

const ADMIN_KEY = `flx-${'adminkey0123456789'.padEnd(40, 'a')}`;
const USER_KEY = `flx-${'userkey0123456789'.padEnd(40, 'u')}`;
const keys = [{ id: 'admin-1', key: ADMIN_KEY, role: 'admin' }, { id: 'user-1', key: USER_KEY, role: 'student' }];
let store: Store;

const root = mkdtempSync(join(tmpdir(), 'flexi-admin-models-'));
const modelsDir = join(root, 'models');
let sim: SimServer;
let files: Server;
let filesUrl: string;
/** Every request the file server received. */
const fileRequests: string[] = [];
let app: App;
let url: string;

beforeAll(async () => {
  writeTinyLlamaGguf(join(root, 'source.gguf'), { seed: 4 });
  const source = readFileSync(join(root, 'source.gguf'));
  files = createServer((req, res) => {
    fileRequests.push(req.url ?? '');
    if (req.url === '/m/pulled.gguf') res.writeHead(200, { 'content-length': source.length }).end(source);
    else if (req.url === '/m/text.gguf') res.writeHead(200).end('not a model');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;

  mkdirSync(modelsDir);
  writeTinyLlamaGguf(join(modelsDir, 'local-one.gguf'), { seed: 2 });

  sim = await startSimServer({ port: 0, profile: TINY, speed: 20, seed: 1 });
  // The test's file server is on loopback, which pulls refuse unless the operator allows it.
  const config = loadConfig({ fileText: 'models:\n  pull:\n    allow_hosts: ["127.0.0.1"]\n    allow_networks: ["127.0.0.1"]\n' });
  const backends = [
    new EmbeddedBackend({ name: 'local', modelsDir, slots: 1, contextSize: 256, gpu: 'cpu', threads: 1, keepAliveSeconds: -1, memoryBudgetBytes: 1 << 30 }),
    createBackend({ name: 'sim1', type: 'sim', url: sim.url }, config),
  ];
  store = await openStoreWithKeys(keys);
  app = await createApp({ config, backends, store });
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await store?.close();
  await sim?.close();
  await new Promise((resolve) => files?.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

function admin(path: string, init: RequestInit = {}, key = ADMIN_KEY): Promise<Response> {
  return fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers } });
}

async function listNames(): Promise<string[]> {
  const list = await (await admin('/admin/v1/models')).json() as AdminModelList;
  return list.models.map((m) => `${m.name}@${m.node}`);
}

describe('/admin/v1/models', () => {
  it('refuses requests without a key (401) and from non-admins (403)', async () => {
    expect((await fetch(`${url}/admin/v1/models`)).status).toBe(401);
    const denied = await admin('/admin/v1/models', {}, USER_KEY);
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: { code: 'permission_denied' } });
    expect((await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source: `${filesUrl}/m/pulled.gguf` }) }, USER_KEY)).status).toBe(403);
    expect((await admin('/admin/v1/models/local-one', { method: 'DELETE' }, USER_KEY)).status).toBe(403);
    expect(existsSync(join(modelsDir, 'local-one.gguf'))).toBe(true);
  });

  it('lists the models of every node: the embedded folder and the sim', async () => {
    const response = await admin('/admin/v1/models');
    expect(response.status).toBe(200);
    const list = await response.json() as AdminModelList;
    expect(list.errors).toEqual([]);
    const names = list.models.map((m) => `${m.name}@${m.node}`);
    expect(names).toEqual(expect.arrayContaining(['local-one:latest@local', 'tiny:latest@sim1', 'embed:latest@sim1']));
    const local = list.models.find((m) => m.node === 'local')!;
    expect(local).toMatchObject<Partial<AdminModel>>({ format: 'gguf', family: 'llama', quantization: 'Q8_0', context_length: 256, loaded: false });
    expect(local.size_bytes).toBeGreaterThan(0);
  });

  it('shows a model of either node, and 404 for an unknown one', async () => {
    const local = await (await admin('/admin/v1/models/local-one')).json() as Record<string, unknown>;
    expect(local).toMatchObject({ name: 'local-one:latest', node: 'local', family: 'llama' });
    expect((local.model_info as Record<string, unknown>)['llama.embedding_length']).toBe(64);
    const simModel = await (await admin('/admin/v1/models/tiny:latest')).json() as Record<string, unknown>;
    expect(simModel).toMatchObject({ name: 'tiny:latest', node: 'sim1' });
    const missing = await admin('/admin/v1/models/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'model_not_found' } });
  });

  it('pulls a GGUF file with NDJSON progress; the model then serves and lists', async () => {
    const response = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source: `${filesUrl}/m/pulled.gguf`, node: 'local' }) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as AdminPullProgressLine);
    expect(lines[0]!.status).toBe('downloading');
    expect(lines.map((l) => l.status)).toContain('verifying');
    const last = lines.at(-1)!;
    expect(last).toMatchObject({ status: 'success', name: 'pulled:latest' });
    expect(last.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(join(modelsDir, 'pulled.gguf'))).toBe(true);
    expect(await listNames()).toContain('pulled:latest@local');
    // onModelsChanged refreshed the gateway's registry: the client API serves it at once.
    expect(app.registry.find('pulled')?.nodes.map((n) => n.name)).toEqual(['local']);
  });

  it('answers pull errors before the first byte with a real status', async () => {
    const exists = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source: `${filesUrl}/m/pulled.gguf` }) });
    expect(exists.status).toBe(409);
    const badSource = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source: 'ftp://x/y.gguf' }) });
    expect(badSource.status).toBe(400);
    const noField = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({}) });
    expect(await noField.json()).toMatchObject({ error: { code: 'invalid_request', param: 'source' } });
    const simNode = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source: `${filesUrl}/m/x.gguf`, node: 'sim1' }) });
    expect(await simNode.json()).toMatchObject({ error: { code: 'unsupported_parameter', param: 'node' } });
    const missing = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source: `${filesUrl}/m/absent.gguf` }) });
    expect(missing.status).toBe(404);
  });

  // Issue 12: a NUL in file_name failed with 500 after the whole download.
  it('refuses a bad file_name or a source file name with 400 naming the field, before downloading', async () => {
    const before = fileRequests.length;
    for (const fileName of ['evil\u0000.gguf', '../escape.gguf', 'sub/dir.gguf', '.hidden.gguf', 'model.bin', `${'a'.repeat(300)}.gguf`]) {
      const response = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source: `${filesUrl}/m/pulled.gguf`, file_name: fileName }) });
      expect({ fileName, status: response.status, body: await response.json() }).toMatchObject({ fileName, status: 400, body: { error: { code: 'invalid_request', param: 'file_name' } } });
    }
    for (const source of [`${filesUrl}/m/evil%00.gguf`, `${filesUrl}/m/%E0%A4%A.gguf`, `${filesUrl}/m/..%2fescape.gguf`]) {
      const response = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source }) });
      expect({ source, status: response.status, body: await response.json() }).toMatchObject({ source, status: 400, body: { error: { code: 'invalid_request', param: 'source' } } });
    }
    expect(fileRequests.length).toBe(before);
  });

  it('refuses a source outside models.pull with pull_source_not_allowed before connecting', async () => {
    const before = fileRequests.length;
    const port = new URL(filesUrl).port;
    for (const source of [`http://localhost:${port}/m/pulled.gguf`, 'http://169.254.169.254/latest/meta-data/x.gguf', `http://[::ffff:127.0.0.1]:${port}/m/pulled.gguf`]) {
      const response = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source }) });
      expect({ source, status: response.status, body: await response.json() }).toMatchObject({ source, status: 400, body: { error: { code: 'pull_source_not_allowed', param: 'source' } } });
    }
    expect(fileRequests.length).toBe(before);
  });

  it('ends the progress stream with an error line when the download is no GGUF', async () => {
    const response = await admin('/admin/v1/models/pull', { method: 'POST', body: JSON.stringify({ source: `${filesUrl}/m/text.gguf` }) });
    expect(response.status).toBe(200);
    const last = JSON.parse((await response.text()).trim().split('\n').at(-1)!) as AdminPullProgressLine;
    expect(last).toMatchObject({ status: 'error', code: 'invalid_request' });
    expect(last.error).toContain('not a GGUF model');
    expect(existsSync(join(modelsDir, 'text.gguf'))).toBe(false);
  });

  it('deletes a model file (unloading it first) and 404s a second time', async () => {
    const local = app.registry.backends.find((b) => b.name === 'local')!;
    await local.setResidency('pulled:latest', -1);
    expect((await local.loadedModels()).map((m) => m.name)).toContain('pulled:latest');
    const response = await admin('/admin/v1/models/pulled', { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ name: 'pulled:latest', deleted: true });
    expect(existsSync(join(modelsDir, 'pulled.gguf'))).toBe(false);
    expect(await listNames()).not.toContain('pulled:latest@local');
    expect(app.registry.find('pulled')).toBeUndefined();
    expect((await local.loadedModels()).map((m) => m.name)).not.toContain('pulled:latest');
    expect((await admin('/admin/v1/models/pulled', { method: 'DELETE' })).status).toBe(404);
  });
});
