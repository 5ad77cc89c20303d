import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../../../test/helpers/gguf-writer.js';
import { startModelFileServer, type ModelFileServer } from '../../../test/helpers/model-file-server.js';
import { EmbeddedBackend } from '../../backends/embedded/embedded.backend.js';
import { FlexiError } from '../../core/errors.js';
import { systemResolve, type PullPolicy } from './model-download.js';
import type { PullProgress } from './model-file-download.js';
import { ModelManagerService, resolvePullSource } from './model-manager.service.js';

/** The test's file server listens on loopback, which pulls refuse unless allowed. */
const LOCAL_PULLS: PullPolicy = { allowHosts: ['127.0.0.1'], allowNetworks: ['127.0.0.1'], resolve: systemResolve, connectTimeoutMs: 5000 };

const root = mkdtempSync(join(tmpdir(), 'flexi-models-'));
const modelBytes = (() => {
  const path = join(root, 'source.gguf');
  writeTinyLlamaGguf(path, { seed: 3, license: 'apache-2.0' });
  return readFileSync(path);
})();
const sha256 = createHash('sha256').update(modelBytes).digest('hex');

let files: ModelFileServer;
let baseUrl: string;
const ollamaRequests: unknown[] = [];

/** Ollama's POST /api/pull, answered as a node would. */
function serveOllamaPull(req: IncomingMessage, res: ServerResponse): void {
  if (req.url !== '/api/pull') { res.writeHead(404).end(); return; }
  let body = '';
  req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
  req.on('end', () => {
    ollamaRequests.push(JSON.parse(body));
    const { model } = JSON.parse(body) as { model: string };
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    if (model === 'missing') { res.end('{"status":"pulling manifest"}\n{"error":"pull model manifest: file does not exist"}\n'); return; }
    res.end('{"status":"pulling manifest"}\n{"status":"pulling abc","digest":"sha256:abc","total":100,"completed":40}\n{"status":"pulling abc","digest":"sha256:abc","total":100,"completed":100}\n{"status":"success"}\n');
  });
}

beforeAll(async () => {
  files = await startModelFileServer({ '/m/tiny-q8.gguf': modelBytes }, serveOllamaPull);
  baseUrl = files.url;
});

afterAll(async () => {
  await files.close();
  rmSync(root, { recursive: true, force: true });
});

let dir: string;
let manager: ModelManagerService;
let backend: EmbeddedBackend;
beforeEach(() => {
  dir = mkdtempSync(join(root, 'models-'));
  backend = new EmbeddedBackend({ name: 'local', modelsDir: dir, slots: 1, contextSize: 256, gpu: 'cpu', threads: 1, keepAliveSeconds: 0, memoryBudgetBytes: 1 << 30 });
  manager = new ModelManagerService({ backends: [backend], modelsDirs: [dir], pullPolicy: LOCAL_PULLS });
});

async function errorOf(promise: Promise<unknown>): Promise<FlexiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FlexiError);
  return error as FlexiError;
}

describe('resolvePullSource', () => {
  it('maps hf:owner/repo/file.gguf to the Hugging Face download URL', () => {
    expect(resolvePullSource('hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf').href)
      .toBe('https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf');
    expect(resolvePullSource('hf:o/r/sub/dir/f.gguf').pathname).toBe('/o/r/resolve/main/sub/dir/f.gguf');
  });

  it('rejects incomplete hf URIs and other schemes with invalid_request', () => {
    expect(() => resolvePullSource('hf:owner/repo')).toThrow(/hf:owner\/repo\/file.gguf/);
    expect(() => resolvePullSource('ftp://x/y.gguf')).toThrow(FlexiError);
    expect(() => resolvePullSource('not a url')).toThrow(FlexiError);
  });
});

describe('ModelManagerService.pull', () => {
  it('downloads, verifies and renames into place, reporting progress', async () => {
    const progress: PullProgress[] = [];
    const result = await manager.pull(`${baseUrl}/m/tiny-q8.gguf`, { sha256, onProgress: (p) => progress.push(p) });
    expect(result).toMatchObject({ name: 'tiny-q8:latest', sizeBytes: modelBytes.length, sha256, resumedFromBytes: 0 });
    expect(readFileSync(join(dir, 'tiny-q8.gguf')).equals(modelBytes)).toBe(true);
    expect(existsSync(join(dir, 'tiny-q8.gguf.partial'))).toBe(false);
    expect(progress.at(-1)?.status).toBe('success');
    expect(progress.some((p) => p.status === 'downloading' && p.totalBytes === modelBytes.length)).toBe(true);
  });

  it('refuses to overwrite an existing model and reports a missing file as model_not_found', async () => {
    writeFileSync(join(dir, 'tiny-q8.gguf'), modelBytes);
    expect((await errorOf(manager.pull(`${baseUrl}/m/tiny-q8.gguf`))).code).toBe('conflict');
    expect((await errorOf(manager.pull(`${baseUrl}/m/absent.gguf`))).code).toBe('model_not_found');
  });
});

describe('ModelManagerService list, show, rm', () => {
  it('lists, shows and removes models of the embedded folder', async () => {
    writeFileSync(join(dir, 'alpha.gguf'), modelBytes);
    const { models, errors } = await manager.list();
    expect(errors).toEqual([]);
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ name: 'alpha:latest', node: 'local', loaded: false, quantization: 'Q8_0', contextLength: 256 });
    const details = await manager.show('alpha');
    expect(details).toMatchObject({ node: 'local', license: 'apache-2.0', family: 'llama' });
    expect((await errorOf(manager.show('beta'))).code).toBe('model_not_found');
    const removed = await manager.remove('alpha:latest');
    expect(removed.path).toBe(join(dir, 'alpha.gguf'));
    expect(existsSync(removed.path)).toBe(false);
    expect((await errorOf(manager.remove('alpha'))).code).toBe('model_not_found');
  });
});

describe('ModelManagerService.pullOllama', () => {
  it('streams the progress of POST /api/pull', async () => {
    const progress: PullProgress[] = [];
    await manager.pullOllama(baseUrl, 'llama3:8b', { onProgress: (p) => progress.push(p) });
    expect(ollamaRequests.at(-1)).toEqual({ model: 'llama3:8b', stream: true });
    expect(progress.map((p) => p.status)).toEqual(['pulling manifest', 'pulling abc', 'pulling abc', 'success']);
    expect(progress[2]).toMatchObject({ completedBytes: 100, totalBytes: 100 });
  });

  it('turns an in-stream error into backend_error', async () => {
    const error = await errorOf(manager.pullOllama(baseUrl, 'missing'));
    expect(error.code).toBe('backend_error');
    expect(error.message).toContain('file does not exist');
  });
});
