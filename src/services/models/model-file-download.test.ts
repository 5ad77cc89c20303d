import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../../../test/helpers/gguf-writer.js';
import { startModelFileServer, type ModelFileServer } from '../../../test/helpers/model-file-server.js';
import { FlexiError } from '../../core/errors.js';
import { systemResolve, type PullPolicy } from './model-download.js';
import { downloadModelFile, type ModelFileDownloadOptions, type PullProgress } from './model-file-download.js';

/** The test's file server listens on loopback, which pulls refuse unless allowed. */
const LOCAL_PULLS: PullPolicy = { allowHosts: ['127.0.0.1'], allowNetworks: ['127.0.0.1'], resolve: systemResolve, connectTimeoutMs: 5000 };

const root = mkdtempSync(join(tmpdir(), 'flexi-model-file-'));
const modelBytes = (() => {
  const path = join(root, 'source.gguf');
  writeTinyLlamaGguf(path, { seed: 3 });
  return readFileSync(path);
})();
const sha256 = createHash('sha256').update(modelBytes).digest('hex');

let files: ModelFileServer;
beforeAll(async () => {
  files = await startModelFileServer({ '/m/tiny.gguf': modelBytes, '/m/notes.gguf': Buffer.from('hello, not a model') });
});

afterAll(async () => {
  await files.close();
  rmSync(root, { recursive: true, force: true });
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(root, 'models-'));
  files.ranges.length = 0;
});

function download(path: string, options?: ModelFileDownloadOptions) {
  const url = new URL(path, files.url);
  return downloadModelFile(LOCAL_PULLS, url, join(dir, path.split('/').at(-1)!), url.href, options);
}

async function errorOf(promise: Promise<unknown>): Promise<FlexiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FlexiError);
  return error as FlexiError;
}

describe('downloadModelFile', () => {
  it('writes the file through .partial, reporting downloading, verifying and success', async () => {
    const progress: PullProgress[] = [];
    const result = await download('/m/tiny.gguf', { sha256: sha256.toUpperCase(), onProgress: (p) => progress.push(p) });
    expect(result).toEqual({ sizeBytes: modelBytes.length, sha256, resumedFromBytes: 0 });
    expect(readFileSync(join(dir, 'tiny.gguf')).equals(modelBytes)).toBe(true);
    expect(existsSync(join(dir, 'tiny.gguf.partial'))).toBe(false);
    expect([...new Set(progress.map((p) => p.status))]).toEqual(['downloading', 'verifying', 'success']);
    expect(progress.at(-2)).toEqual({ status: 'verifying', completedBytes: modelBytes.length, totalBytes: modelBytes.length });
  });

  it('fails a dropped connection with backend_error that says to pull again, keeping the bytes received', async () => {
    files.cutNextAfter(50_000);
    const error = await errorOf(download('/m/tiny.gguf'));
    expect(error.code).toBe('backend_error');
    expect(error.message).toMatch(/run the pull again to resume/);
    expect(existsSync(join(dir, 'tiny.gguf'))).toBe(false);
    // What arrived before the cut is kept — how much of it depends on how far the reader had come when
    // the stream broke (a busy machine may have read nothing yet) — and the next pull resumes from it.
    const kept = readFileSync(join(dir, 'tiny.gguf.partial')).length;
    expect(kept).toBeLessThanOrEqual(50_000);
    const resumed = await download('/m/tiny.gguf');
    expect(resumed).toEqual({ sizeBytes: modelBytes.length, sha256, resumedFromBytes: kept });
    expect(readFileSync(join(dir, 'tiny.gguf')).equals(modelBytes)).toBe(true);
  });

  it('keeps the partial file of a cancelled download and resumes it with a Range request', async () => {
    const controller = new AbortController();
    const error = await errorOf(download('/m/tiny.gguf', {
      signal: controller.signal,
      onProgress: (p) => { if (p.status === 'downloading' && p.completedBytes > 0) controller.abort(); },
    }));
    expect(error.code).toBe('client_closed_request');
    const partialSize = readFileSync(join(dir, 'tiny.gguf.partial')).length;
    expect(partialSize).toBeGreaterThan(0);
    expect(partialSize).toBeLessThan(modelBytes.length);
    const result = await download('/m/tiny.gguf', { sha256 });
    expect(result.resumedFromBytes).toBe(partialSize);
    expect(files.ranges.at(-1)).toBe(`bytes=${partialSize}-`);
    expect(readFileSync(join(dir, 'tiny.gguf')).equals(modelBytes)).toBe(true);
  });

  it('starts over when the server answers 416 to a partial file that is already whole', async () => {
    writeFileSync(join(dir, 'tiny.gguf.partial'), modelBytes);
    const result = await download('/m/tiny.gguf', { sha256 });
    expect(result.resumedFromBytes).toBe(0);
    expect(files.ranges).toEqual([`bytes=${modelBytes.length}-`, undefined]);
    expect(readFileSync(join(dir, 'tiny.gguf')).equals(modelBytes)).toBe(true);
  });

  it('deletes the download when the SHA-256 does not match', async () => {
    const error = await errorOf(download('/m/tiny.gguf', { sha256: '0'.repeat(64) }));
    expect(error).toMatchObject({ code: 'invalid_request', param: 'sha256' });
    expect(error.message).toContain('SHA-256 mismatch for tiny.gguf');
    expect(existsSync(join(dir, 'tiny.gguf'))).toBe(false);
    expect(existsSync(join(dir, 'tiny.gguf.partial'))).toBe(false);
  });

  it('rejects a file that is not GGUF and leaves nothing behind', async () => {
    const error = await errorOf(download('/m/notes.gguf'));
    expect(error).toMatchObject({ code: 'invalid_request', param: 'source' });
    expect(error.message).toContain('not a GGUF model');
    expect(existsSync(join(dir, 'notes.gguf'))).toBe(false);
    expect(existsSync(join(dir, 'notes.gguf.partial'))).toBe(false);
  });

  it('answers model_not_found for a 404 and refuses a source outside the policy before connecting', async () => {
    expect((await errorOf(download('/m/absent.gguf'))).code).toBe('model_not_found');
    const refused = downloadModelFile({ ...LOCAL_PULLS, allowNetworks: [] }, new URL('/m/tiny.gguf', files.url), join(dir, 'tiny.gguf'), 'x');
    expect((await errorOf(refused)).code).toBe('pull_source_not_allowed');
    expect(files.ranges).toHaveLength(0);
  });
});
