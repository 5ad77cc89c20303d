import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, describe, expect, it } from 'vitest';
import { buildVocabulary, toFloat16Bits, writeTinyLlamaGguf } from './gguf-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'flexi-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gguf-writer', () => {
  it('encodes half floats with round-to-nearest-even', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(5.960464477539063e-8)).toBe(0x0001);
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  it('builds an SPM vocabulary with the 256 byte tokens after the specials', () => {
    const vocab = buildVocabulary(300);
    expect(vocab.tokens).toHaveLength(300);
    expect(new Set(vocab.tokens).size).toBe(300);
    expect(vocab.tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(vocab.types[258]).toBe(6);
    expect(() => buildVocabulary(100)).toThrow(/at least 259/);
  });

  it('writes GGUF v3 that node-llama-cpp parses, reproducibly from the seed', async () => {
    for (const weightType of ['F32', 'F16', 'Q8_0'] as const) {
      const path = join(dir, `m-${weightType}.gguf`);
      const summary = writeTinyLlamaGguf(path, { weightType, chatTemplate: '{{ x }}' });
      const info = await readGgufFileInfo(path, { logWarnings: false });
      expect(info.version).toBe(3);
      expect(info.metadata.general.architecture).toBe('llama');
      expect(info.tensorInfo?.reduce((n, t) => n + t.dimensions.reduce<number>((a, d) => a * Number(d), 1), 0)).toBe(summary.parameters);
      expect(readFileSync(path).subarray(0, 4).toString('latin1')).toBe('GGUF');
    }
    writeTinyLlamaGguf(join(dir, 'again.gguf'), { weightType: 'Q8_0', chatTemplate: '{{ x }}' });
    expect(readFileSync(join(dir, 'again.gguf')).equals(readFileSync(join(dir, 'm-Q8_0.gguf')))).toBe(true);
  });
});
