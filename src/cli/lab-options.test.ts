import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNumberList, readPromptsFile } from './lab-options.js';

const dir = mkdtempSync(join(tmpdir(), 'flexi-prompts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

describe('readPromptsFile', () => {
  it('reads JSON arrays, JSONL and plain lines', () => {
    expect(readPromptsFile(file('a.json', '["one", {"prompt": "two"}]'))).toEqual(['one', 'two']);
    expect(readPromptsFile(file('b.jsonl', '{"prompt":"one"}\n\n{"prompt":"two"}\n'))).toEqual(['one', 'two']);
    expect(readPromptsFile(file('c.txt', '# comment\none\n\n two \n'))).toEqual(['one', 'two']);
  });

  it('names the flag and the file when it cannot use them', () => {
    expect(() => readPromptsFile(join(dir, 'missing.txt'))).toThrow(/--prompts: cannot read .*missing\.txt/);
    expect(() => readPromptsFile(file('d.json', '[1'))).toThrow(/--prompts: .* does not parse/);
    expect(() => readPromptsFile(file('e.txt', '# only a comment\n'))).toThrow(/holds no prompts/);
  });
});

describe('parseNumberList', () => {
  it('rejects values that are not whole numbers ≥ 1 with the flag name', () => {
    expect(parseNumberList('--concurrency', '1, 10,30', { integer: true })).toEqual([1, 10, 30]);
    expect(() => parseNumberList('--concurrency', '1,x', { integer: true })).toThrow(/--concurrency must be a whole number > 0, got "x"/);
    expect(() => parseNumberList('--concurrency', '0', { integer: true })).toThrow(/--concurrency/);
  });
});
