import { describe, expect, it } from 'vitest';
import { LineSplitter, readLines, readNdjson, readSseEvents, SseParser } from './lines.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

async function* chunksOf(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    yield bytes.subarray(start, cut);
    start = cut;
  }
}

describe('readLines', () => {
  it('reassembles a multi-byte character split across chunks', async () => {
    const bytes = new TextEncoder().encode('grüße\nöl\n');
    // Cut inside "ü" (2 bytes) and inside "ö".
    const lines = await collect(readLines(chunksOf(bytes, [3, 11])));
    expect(lines).toEqual(['grüße', 'öl']);
  });

  it('treats CRLF split across chunks as one line end', async () => {
    const bytes = new TextEncoder().encode('a\r\nb\rc\n');
    expect(await collect(readLines(chunksOf(bytes, [2])))).toEqual(['a', 'b', 'c']);
  });

  it('yields a last line without a newline', async () => {
    expect(await collect(readLines(chunksOf(new TextEncoder().encode('x\ny'), [1])))).toEqual(['x', 'y']);
  });
});

describe('readSseEvents', () => {
  it('parses events on any chunk boundary and skips comments', async () => {
    const text = ': keep-alive\n\ndata: {"a":1}\n\nevent: error\ndata: {"b":\ndata: 2}\n\ndata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const events = await collect(readSseEvents(chunksOf(bytes, [cut])));
      expect(events).toEqual([
        { data: '{"a":1}', event: undefined, id: undefined },
        { data: '{"b":\n2}', event: 'error', id: undefined },
        { data: '[DONE]', event: undefined, id: undefined },
      ]);
    }
  });
});

describe('readNdjson', () => {
  it('parses one object per line', async () => {
    const bytes = new TextEncoder().encode('{"a":1}\n\n{"b":"ü"}\n');
    expect(await collect(readNdjson(chunksOf(bytes, [5, 13])))).toEqual([{ a: 1 }, { b: 'ü' }]);
  });
});

describe('LineSplitter', () => {
  it('returns the lines each chunk completes, on any byte boundary', () => {
    const bytes = new TextEncoder().encode('grüße\r\nöl\rx\n\nlast');
    for (let cut = 1; cut < bytes.length; cut++) {
      const splitter = new LineSplitter();
      const lines = [...splitter.push(bytes.subarray(0, cut)), ...splitter.push(bytes.subarray(cut)), ...splitter.end()];
      expect(lines).toEqual(['grüße', 'öl', 'x', '', 'last']);
    }
  });

  it('reports an unfinished line over the limit', () => {
    const splitter = new LineSplitter(4);
    expect(splitter.push('ab\ncdef')).toEqual(['ab']);
    expect(splitter.isOverLimit).toBe(false);
    splitter.push('g');
    expect(splitter.isOverLimit).toBe(true);
    expect(splitter.limitMessage).toBe('line longer than 4 bytes');
  });
});

describe('SseParser', () => {
  it('completes an event on its blank line and keeps an unterminated one for end()', () => {
    const parser = new SseParser();
    const lines = [': comment', 'event: error', 'data: a', 'data: b', '', 'id: 7', 'data: c'];
    expect(lines.map((line) => parser.push(line)).filter((e) => e !== undefined)).toEqual([{ data: 'a\nb', event: 'error', id: undefined }]);
    expect(parser.end()).toEqual({ data: 'c', event: undefined, id: '7' });
  });
});
