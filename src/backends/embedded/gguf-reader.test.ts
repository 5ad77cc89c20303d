import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../../../test/helpers/gguf-writer.js';
import { FlexiError } from '../../core/errors.js';
import type { Clock } from '../../lib/clock.js';
import { readGgufModelFile } from './gguf-metadata.js';
import { GgufFormatError, parseGgufHeader, type ByteSource } from './gguf-reader.js';

const root = mkdtempSync(join(tmpdir(), 'flexi-gguf-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function tinyModel(name: string, options: Parameters<typeof writeTinyLlamaGguf>[1] = {}): { path: string; bytes: Buffer; parameters: number } {
  const path = join(root, name);
  const summary = writeTinyLlamaGguf(path, { embd: 32, ff: 64, layers: 1, heads: 2, ...options });
  return { path, bytes: readFileSync(path), parameters: summary.parameters };
}

const model = tinyModel('tiny.gguf', { license: 'mit', chatTemplate: '{{ messages }}' });

/** An in-memory file that counts the bytes the parser asks for. */
function memorySource(bytes: Uint8Array): ByteSource & { bytesRead: number; reads: number } {
  return {
    sizeBytes: bytes.length,
    bytesRead: 0,
    reads: 0,
    async read(position, length) {
      if (position < 0 || position + length > bytes.length) throw new Error(`read past the end: ${position}+${length} of ${bytes.length}`);
      this.reads += 1;
      this.bytesRead += length;
      return bytes.subarray(position, position + length);
    },
  };
}

/** Offset of the u64 length of the metadata array `key` (right after its key, value type and item type). */
function arrayCountOffset(bytes: Buffer, key: string): number {
  const at = bytes.indexOf(Buffer.from(key, 'utf8'));
  if (at < 0) throw new Error(`${key} not in the file`);
  return at + key.length + 4 + 4;
}

describe('GGUF reader', () => {
  it('reads metadata and tensors of a valid file, as the model listing needs them', async () => {
    const header = await parseGgufHeader(memorySource(model.bytes));
    expect(header.version).toBe(3);
    expect(header.metadata.get('general.architecture')).toBe('llama');
    expect(header.metadata.get('llama.embedding_length')).toBe(32);
    expect(header.metadata.get('tokenizer.ggml.tokens')).toBeNull(); // 300 items: skipped, not decoded
    expect(header.tensors.map((t) => t.name)).toContain('token_embd.weight');
    const file = await readGgufModelFile(model.path);
    expect(file).toMatchObject({ architecture: 'llama', parameterCount: model.parameters, license: 'mit', template: '{{ messages }}', embeddingLength: 32, blockCount: 1, quantization: 'Q8_0', kvWidth: 2 * (16 + 16) });
    expect(file.modelInfo).toMatchObject({ 'general.architecture': 'llama', 'llama.context_length': 256, 'general.parameter_count': model.parameters });
  });

  it('refuses every truncation of a file, header or data, with a GgufFormatError', async () => {
    // Each prefix is a download cut short at that byte: every one in the fixed header and the first
    // metadata entries, then a stride that is prime to every field size.
    for (let length = 0; length < model.bytes.length; length += length < 512 ? 1 : 31) {
      await expect(parseGgufHeader(memorySource(model.bytes.subarray(0, length))), `prefix of ${length} bytes`).rejects.toBeInstanceOf(GgufFormatError);
    }
  });

  // Issue 12: node-llama-cpp's reader pads reads past the end with zeros and walked this array
  // item by item (2^40 of them) at full CPU; the pull that checked the file never answered.
  it('refuses an array count the file cannot hold before looping over it', async () => {
    const bytes = Buffer.from(model.bytes);
    bytes.writeBigUInt64LE(1n << 40n, arrayCountOffset(bytes, 'tokenizer.ggml.scores'));
    const path = join(root, 'huge-count.gguf');
    writeFileSync(path, bytes);
    const source = memorySource(bytes);
    await expect(parseGgufHeader(source)).rejects.toThrow(/claims 1099511627776 items/);
    expect(source.bytesRead).toBeLessThanOrEqual(bytes.length);
    await expect(readGgufModelFile(path)).rejects.toThrow(/huge-count\.gguf is not a valid GGUF model file: the file is truncated/);
  });

  it('names the file in a FlexiError for a file cut inside its tensor data', async () => {
    const path = join(root, 'cut.gguf');
    writeFileSync(path, model.bytes.subarray(0, model.bytes.length - 1000));
    const error = await readGgufModelFile(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FlexiError);
    expect((error as FlexiError).message).toMatch(/^cut\.gguf is not a valid GGUF model file: the file is truncated: tensor \S+ needs bytes up to \d+, the file has \d+$/);
  });

  it('stops at its time limit (injected clock), checked as it loops', async () => {
    const big = tinyModel('big-vocab.gguf', { vocabSize: 9000 });
    let ms = 0;
    // Every look at the clock moves it a minute on: the first check after the start is past any limit.
    const clock: Clock = { now: () => ms, monotonicMs: () => (ms += 60_000) };
    await expect(parseGgufHeader(memorySource(big.bytes), { clock, timeoutMs: 30_000 })).rejects.toThrow(/took too long/);
    await expect(parseGgufHeader(memorySource(big.bytes))).resolves.toMatchObject({ version: 3 });
  });

  it('fuzz: corrupted and truncated files always end in a result or a GgufFormatError, reading each byte at most once', async () => {
    const corruption = fc.record({
      truncateTo: fc.option(fc.nat({ max: model.bytes.length }), { nil: undefined }),
      bytes: fc.array(fc.tuple(fc.nat({ max: model.bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      // Large values planted where counts, lengths and offsets live.
      words: fc.array(fc.tuple(fc.nat({ max: model.bytes.length - 8 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), { maxLength: 3 }),
    });
    await fc.assert(fc.asyncProperty(corruption, async ({ truncateTo, bytes, words }) => {
      const file = Buffer.from(model.bytes);
      for (const [at, value] of bytes) file[at] = value;
      for (const [at, value] of words) file.writeBigUInt64LE(value, at);
      const source = memorySource(truncateTo === undefined ? file : file.subarray(0, truncateTo));
      try {
        await parseGgufHeader(source);
      } catch (error) {
        if (!(error instanceof GgufFormatError)) throw error;
      }
      // Work is bounded by the bytes present: no read is repeated or made up.
      expect(source.bytesRead).toBeLessThanOrEqual(source.sizeBytes);
    }), { numRuns: 500, seed: 12 });
  });
});
