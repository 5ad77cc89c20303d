import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import type { FlexiError } from '../core/errors.js';
import { MAX_JSON_DEPTH, deepFieldPath, drainRefusedBody, jsonDepth, parseJsonBody } from './body-parser.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const nested = (levels: number, leaf = '1') => '{"a":'.repeat(levels) + leaf + '}'.repeat(levels);

function refusal(run: () => unknown): FlexiError {
  try {
    run();
  } catch (error) {
    return error as FlexiError;
  }
  throw new Error('expected a refusal');
}

describe('jsonDepth', () => {
  it('counts objects and arrays, not brackets inside strings or after escapes', () => {
    expect(jsonDepth(bytes('1'))).toBe(0);
    expect(jsonDepth(bytes('{"a":[1,{"b":[]}]}'))).toBe(4);
    expect(jsonDepth(bytes('{"a":"[[[{{{\\"[[["}'))).toBe(1);
    expect(jsonDepth(bytes('["ü{€[", {"x": ["\\\\"]}]'))).toBe(3);
  });

  it('stops at the first level past the limit without reading further', () => {
    expect(jsonDepth(bytes(nested(100_000)), 64)).toBe(65);
  });
});

describe('deepFieldPath', () => {
  it('names the first levels of the field that holds the over-deep value', () => {
    const body = `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${nested(200)}}}]}`;
    expect(deepFieldPath(bytes(body), 64)).toBe('tools[0].function.parameters');
  });

  it('counts array elements and decodes escaped member names', () => {
    expect(deepFieldPath(bytes(`{"x":[1,"a,b",[2],{"k\\u00e9":${nested(10)}}]}`), 5)).toBe('x[3].ké.a');
  });
});

describe('parseJsonBody', () => {
  it('accepts exactly the limit and refuses one level more, naming the field', () => {
    expect(parseJsonBody(bytes(nested(MAX_JSON_DEPTH)))).toBeTypeOf('object');
    const error = refusal(() => parseJsonBody(bytes(`{"tools":[${nested(MAX_JSON_DEPTH)}]}`)));
    expect(error).toMatchObject({ code: 'invalid_request', param: 'tools[0].a.a' });
    expect(error.message).toMatch(/nests deeper than 64 levels/);
  });

  it('refuses 20,000 levels (120 KB) without overflowing the stack', () => {
    const error = refusal(() => parseJsonBody(bytes(`[${nested(20_000)}]`)));
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/The field \[0\]\.a\.a\.a nests deeper/);
  });

  it('still tells bad UTF-8 and bad JSON apart, and an empty body is no body', () => {
    expect(parseJsonBody(Buffer.alloc(0))).toBeUndefined();
    expect(refusal(() => parseJsonBody(Buffer.from([0x22, 0xc3, 0x28, 0x22])))).toMatchObject({ code: 'invalid_json', message: expect.stringMatching(/UTF-8/) });
    expect(refusal(() => parseJsonBody(bytes('{"a":')))).toMatchObject({ code: 'invalid_json' });
  });
});

/** A request stream whose socket records whether it was cut. */
function fakeRequest(): { request: IncomingMessage; stream: PassThrough; socket: { destroyed: boolean } } {
  const stream = new PassThrough();
  const socket = { destroyed: false, destroy() { this.destroyed = true; } };
  Object.assign(stream, { complete: false, socket });
  return { request: stream as unknown as IncomingMessage, stream, socket };
}

describe('drainRefusedBody', () => {
  it('reads the rest of the body to its end and keeps the connection', async () => {
    const { request, stream, socket } = fakeRequest();
    drainRefusedBody(request, 1000, 60_000);
    stream.write(Buffer.alloc(600));
    stream.end(Buffer.alloc(300));
    await new Promise((resolve) => stream.once('end', resolve));
    expect(socket.destroyed).toBe(false);
  });

  it('cuts the connection once more than the bound has arrived', async () => {
    const { request, stream, socket } = fakeRequest();
    drainRefusedBody(request, 1000, 60_000);
    stream.write(Buffer.alloc(600));
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.destroyed).toBe(false);
    stream.write(Buffer.alloc(600));
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.destroyed).toBe(true);
  });

  it('cuts the connection when the rest has not arrived in time', () => {
    vi.useFakeTimers();
    try {
      const { request, stream, socket } = fakeRequest();
      drainRefusedBody(request, 1000, 5000);
      stream.write(Buffer.alloc(10));
      vi.advanceTimersByTime(4999);
      expect(socket.destroyed).toBe(false);
      vi.advanceTimersByTime(2);
      expect(socket.destroyed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
