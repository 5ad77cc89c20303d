import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../../test/helpers/gguf-writer.js';
import { EmbeddedBackend } from '../backends/embedded/embedded.backend.js';
import { FlexiError } from '../core/errors.js';
import { systemResolve, type PullPolicy } from './model-download.js';
import { ModelManagerService, resolvePullSource, type PullProgress } from './model-manager.service.js';

/** The test's file server listens on loopback, which pulls refuse unless allowed. */
const LOCAL_PULLS: PullPolicy = { allowHosts: ['127.0.0.1'], allowNetworks: ['127.0.0.1'], resolve: systemResolve, connectTimeoutMs: 5000 };

const root = mkdtempSync(join(tmpdir(), 'flexi-models-'));
const modelBytes = (() => {
  const path = join(root, 'source.gguf');
  writeTinyLlamaGguf(path, { seed: 3, license: 'apache-2.0' });
  return readFileSync(path);
})();
const sha256 = createHash('sha256').update(modelBytes).digest('hex');

let server: Server;
let baseUrl: string;
/** Range headers the server saw, in order. */
const ranges: (string | undefined)[] = [];
/** When set, the next full download stops after this many bytes (a dropped connection). */
let cutAfterBytes: number | undefined;
const ollamaRequests: unknown[] = [];

function serveFile(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  ranges.push(req.headers.range);
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (match) {
    const start = Number(match[1]);
    if (start >= body.length) { res.writeHead(416).end(); return; }
    res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length });
  if (cutAfterBytes !== undefined) {
    const cut = cutAfterBytes;
    cutAfterBytes = undefined;
    res.write(body.subarray(0, cut), () => res.destroy());
    return;
  }
  res.end(body);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/m/tiny-q8.gguf') return serveFile(req, res, modelBytes);
    if (req.url === '/m/notes.gguf') return serveFile(req, res, Buffer.from('hello, not a model'));
    if (req.url === '/api/pull') {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      req.on('end', () => {
        ollamaRequests.push(JSON.parse(body));
        const { model } = JSON.parse(body) as { model: string };
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        if (model === 'missing') { res.end('{"status":"pulling manifest"}\n{"error":"pull model manifest: file does not exist"}\n'); return; }
        res.end('{"status":"pulling manifest"}\n{"status":"pulling abc","digest":"sha256:abc","total":100,"completed":40}\n{"status":"pulling abc","digest":"sha256:abc","total":100,"completed":100}\n{"status":"success"}\n');
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

let dir: string;
let manager: ModelManagerService;
let backend: EmbeddedBackend;
beforeEach(() => {
  dir = mkdtempSync(join(root, 'models-'));
  backend = new EmbeddedBackend({ name: 'local', modelsDir: dir, slots: 1, contextSize: 256, gpu: 'cpu', threads: 1, keepAliveSeconds: 0, memoryBudgetBytes: 1 << 30 });
  manager = new ModelManagerService({ backends: [backend], modelsDirs: [dir], pullPolicy: LOCAL_PULLS });
  ranges.length = 0;
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

  it('fails a dropped connection with backend_error that says to pull again', async () => {
    cutAfterBytes = 50_000;
    const error = await errorOf(manager.pull(`${baseUrl}/m/tiny-q8.gguf`));
    expect(error.code).toBe('backend_error');
    expect(error.message).toMatch(/run the pull again to resume/);
    expect(existsSync(join(dir, 'tiny-q8.gguf'))).toBe(false);
  });

  it('keeps the partial file of an interrupted pull and resumes it with a Range request', async () => {
    const controller = new AbortController();
    const error = await errorOf(manager.pull(`${baseUrl}/m/tiny-q8.gguf`, {
      signal: controller.signal,
      onProgress: (p) => { if (p.status === 'downloading' && p.completedBytes > 0) controller.abort(); },
    }));
    expect(error.code).toBe('client_closed_request');
    const partialSize = readFileSync(join(dir, 'tiny-q8.gguf.partial')).length;
    expect(partialSize).toBeGreaterThan(0);
    expect(partialSize).toBeLessThan(modelBytes.length);
    const result = await manager.pull(`${baseUrl}/m/tiny-q8.gguf`, { sha256 });
    expect(result.resumedFromBytes).toBe(partialSize);
    expect(ranges.at(-1)).toBe(`bytes=${partialSize}-`);
    expect(readFileSync(result.path).equals(modelBytes)).toBe(true);
  });

  it('deletes the download when the SHA-256 does not match', async () => {
    const error = await errorOf(manager.pull(`${baseUrl}/m/tiny-q8.gguf`, { sha256: '0'.repeat(64) }));
    expect(error.param).toBe('sha256');
    expect(existsSync(join(dir, 'tiny-q8.gguf'))).toBe(false);
    expect(existsSync(join(dir, 'tiny-q8.gguf.partial'))).toBe(false);
  });

  it('rejects a file that is not GGUF and leaves nothing behind', async () => {
    const error = await errorOf(manager.pull(`${baseUrl}/m/notes.gguf`));
    expect(error.message).toContain('not a GGUF model');
    expect(existsSync(join(dir, 'notes.gguf'))).toBe(false);
    expect(existsSync(join(dir, 'notes.gguf.partial'))).toBe(false);
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
