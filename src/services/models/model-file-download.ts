import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { readGgufModelFile } from '../../backends/embedded/gguf-metadata.js';
import { FlexiError } from '../../core/errors.js';
import { GuardedDownloader, type PullPolicy } from './model-download.js';

/**
 * A model file's way onto disk: the bytes of a GGUF download go into `<file>.partial` (resumed
 * with an HTTP Range request when a previous pull was interrupted), are checked (GGUF header,
 * optional SHA-256), then renamed into place, so a half-written file is never served as a model.
 * Where downloads may go is `model-download.ts`'s job; which file in which folder is the
 * manager's (`model-manager.service.ts`).
 */

export interface PullProgress {
  status: string;
  completedBytes: number;
  totalBytes?: number;
}

export interface ModelFileDownloadOptions {
  /** Expected SHA-256 of the file (hex); a mismatch deletes the download. */
  sha256?: string;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

export interface ModelFileDownloadResult {
  sizeBytes: number;
  sha256: string;
  /** Bytes that were already there from an interrupted pull. */
  resumedFromBytes: number;
}

/**
 * Downloads `url` to `target` (absolute; its folder exists, the file does not) under `policy`,
 * which every hop is checked against. `source` is what the caller asked for, named in the errors.
 */
export async function downloadModelFile(
  policy: PullPolicy, url: URL, target: string, source: string, options: ModelFileDownloadOptions = {},
): Promise<ModelFileDownloadResult> {
  const downloader = new GuardedDownloader(policy);
  try {
    const partial = `${target}.partial`;
    const resumedFromBytes = await downloadTo(downloader, url, partial, options);
    const sizeBytes = (await stat(partial)).size;
    options.onProgress?.({ status: 'verifying', completedBytes: sizeBytes, totalBytes: sizeBytes });
    await verifyGguf(partial, source);
    const sha256 = await sha256Of(partial);
    if (options.sha256 && options.sha256.toLowerCase() !== sha256) {
      await rm(partial, { force: true });
      throw new FlexiError('invalid_request', `SHA-256 mismatch for ${basename(target)}: expected ${options.sha256.toLowerCase()}, got ${sha256}. The download was deleted.`, { param: 'sha256' });
    }
    await rename(partial, target);
    options.onProgress?.({ status: 'success', completedBytes: sizeBytes, totalBytes: sizeBytes });
    return { sizeBytes, sha256, resumedFromBytes };
  } finally {
    await downloader.close();
  }
}

/** Appends to (or starts) `partial`; returns the bytes it resumed from. */
async function downloadTo(downloader: GuardedDownloader, url: URL, partial: string, options: ModelFileDownloadOptions): Promise<number> {
  let offset = (await stat(partial).catch(() => undefined))?.size ?? 0;
  const { response } = await downloader.get(url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, signal: options.signal });
  if (response.status === 416 && offset > 0) {
    // The partial file is already whole (or the server disagrees about it): start over.
    await response.body?.cancel();
    await rm(partial, { force: true });
    return downloadTo(downloader, url, partial, options);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new FlexiError(response.status === 404 ? 'model_not_found' : 'backend_error', `Download of ${url.href} failed: HTTP ${response.status} ${response.statusText}`);
  }
  const resumed = response.status === 206;
  if (!resumed) offset = 0;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const totalBytes = Number.isFinite(length) ? offset + length : undefined;
  const completedBytes = await writeBody(response.body as AsyncIterable<Uint8Array>, partial, resumed, url, { offset, totalBytes, options });
  if (totalBytes !== undefined && completedBytes !== totalBytes) {
    throw new FlexiError('backend_error', `Download of ${url.href} ended after ${completedBytes} of ${totalBytes} bytes; run the pull again to resume.`);
  }
  return resumed ? offset : 0;
}

/** Writes the body to `partial` (appending when `resumed`); returns the bytes the file then holds. */
async function writeBody(
  body: AsyncIterable<Uint8Array>, partial: string, resumed: boolean, url: URL,
  { offset, totalBytes, options }: { offset: number; totalBytes?: number; options: ModelFileDownloadOptions },
): Promise<number> {
  let completedBytes = offset;
  options.onProgress?.({ status: 'downloading', completedBytes, totalBytes });
  // Each chunk is written before the next is read, so a broken connection leaves every byte
  // received on disk for the next pull to resume from.
  const file = await open(partial, resumed ? 'a' : 'w');
  try {
    for await (const chunk of body) {
      await file.write(chunk);
      completedBytes += chunk.length;
      options.onProgress?.({ status: 'downloading', completedBytes, totalBytes });
      options.signal?.throwIfAborted();
    }
  } catch (error) {
    if (options.signal?.aborted) throw new FlexiError('client_closed_request', `Download of ${url.href} was cancelled at ${completedBytes} bytes; run the pull again to resume.`, { cause: error });
    throw new FlexiError('backend_error', `Download of ${url.href} broke off at ${completedBytes} bytes (${(error as Error).message}); run the pull again to resume.`, { cause: error });
  } finally {
    await file.close();
  }
  return completedBytes;
}

/** Deletes `path` and throws unless it is a GGUF file whose header reads. */
async function verifyGguf(path: string, source: string): Promise<void> {
  const handle = await open(path, 'r');
  const magic = Buffer.alloc(4);
  try {
    await handle.read(magic, 0, 4, 0);
  } finally {
    await handle.close();
  }
  const problem = magic.toString('latin1') !== 'GGUF'
    ? 'it does not start with the GGUF magic bytes'
    : await readGgufModelFile(path).then(() => undefined, (error: Error) => error.message);
  if (problem) {
    await rm(path, { force: true });
    throw new FlexiError('invalid_request', `${source} is not a GGUF model: ${problem}. The download was deleted.`, { param: 'source' });
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
