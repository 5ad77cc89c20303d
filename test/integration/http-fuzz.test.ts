import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startGateway([new ScriptedBackend({ models: ['tiny:latest'] })]);
});
afterAll(() => gateway.close());

const ENDPOINTS = [
  '/v1/chat/completions', '/v1/completions', '/v1/embeddings',
  '/api/chat', '/api/generate', '/api/embed', '/api/embeddings', '/api/show',
];

/** Valid-looking bodies with fields replaced by arbitrary values, plus arbitrary JSON. */
const fieldValue = fc.oneof(
  fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(-1),
  fc.array(fc.anything(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.anything(), { maxKeys: 3 }),
  fc.constant('tiny'), fc.constant([{ role: 'user', content: 'hi' }]),
);
const fieldName = fc.constantFrom(
  'model', 'messages', 'prompt', 'input', 'stream', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'seed',
  'stop', 'n', 'tools', 'tool_choice', 'response_format', 'stream_options', 'options', 'format', 'keep_alive', 'images',
  'suffix', 'system', 'raw', 'encoding_format', 'dimensions', 'truncate', 'echo', 'logprobs', 'name', '__proto__', 'constructor',
);
const mutatedBody = fc.record({
  base: fc.constantFrom<Record<string, unknown>>(
    { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], stream: false },
    { model: 'tiny', prompt: 'hi', stream: false },
    { model: 'tiny', input: 'hi' },
    { model: 'tiny' },
  ),
  changes: fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 4 }),
}).map(({ base, changes }) => {
  const body: Record<string, unknown> = { ...base };
  for (const [key, value] of changes) Object.defineProperty(body, key, { value, enumerable: true, writable: true, configurable: true });
  return JSON.stringify(body);
});
const anyBody = fc.oneof(
  mutatedBody,
  fc.json(),
  fc.string(),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);

describe('property: no body makes the gateway fail', () => {
  it('answers every generated body with a non-5xx status and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), anyBody, async (url, payload) => {
        const response = await gateway.app.server.inject({
          method: 'POST', url, payload,
          headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        });
        if (response.statusCode >= 500) throw new Error(`${url} ${payload} → ${response.statusCode} ${response.body}`);
        expect(response.headers['x-request-id']).toBeTruthy();
        if (response.statusCode >= 400) {
          const body = response.json() as { error: unknown };
          expect(body.error).toBeTruthy();
        }
      }),
      { numRuns: 3000 },
    );
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
  }, 120_000);
});

/**
 * Issue 12: nesting and size limits at the edge. Deep values at random fields, depths around the
 * limit and far beyond it, bodies around the size limit: always a 4xx in the client's protocol,
 * never a 5xx, nothing refused reaches the node, and the node's breaker never moves.
 */
describe('property: nesting and size limits', () => {
  const LIMIT_BYTES = 64 * 1024;
  let limited: TestGateway;
  let backend: ScriptedBackend;
  beforeAll(async () => {
    backend = new ScriptedBackend({ models: ['tiny:latest'] });
    limited = await startGateway([backend], { config: { env: { FLEXI_SERVER_BODY_LIMIT_BYTES: String(LIMIT_BYTES) } } });
  });
  afterAll(() => limited.close());

  const send = (url: string, payload: string) => limited.app.server.inject({
    method: 'POST', url, payload, headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
  });

  /** The error in the protocol of `url`: OpenAI `{error:{message,code,param}}` on /v1, Ollama `{error:"…"}` on /api. */
  function errorOf(url: string, body: string): { message: string; code?: string; param?: string | null } {
    const json = JSON.parse(body) as { error: unknown };
    if (url.startsWith('/api/')) {
      expect(typeof json.error).toBe('string');
      return { message: json.error as string };
    }
    const error = json.error as { message: string; code: string; param: string | null; type: string };
    expect(error.type).toBe('invalid_request_error');
    return error;
  }

  const PATHS: (string | number)[][] = [
    ['tools', 0, 'function', 'parameters'], ['messages', 0, 'content'], ['messages'], ['options'], ['format'],
    ['response_format', 'json_schema', 'schema'], ['input'], ['prompt'], ['metadata', 'x', 'y', 'z', 'w'], [],
  ];
  const deepCase = fc.record({
    url: fc.constantFrom(...ENDPOINTS),
    path: fc.constantFrom(...PATHS),
    levels: fc.oneof(fc.integer({ min: 55, max: 75 }), fc.integer({ min: 1_000, max: 30_000 })),
    open: fc.constantFrom('{"a":', '[', '{"type":"object","properties":{"p":'),
  });

  const fieldPath = (path: (string | number)[]) => path.map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? key : `.${key}`)).join('');
  const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  function withDeepValue(path: (string | number)[], value: string): string {
    const base: Record<string, unknown> = { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], stream: false };
    if (path.length === 0) return value;
    let holder: Record<string | number, unknown> = base;
    path.forEach((key, index) => {
      const next = path[index + 1];
      if (next === undefined) holder[key] = '__DEEP__';
      else holder = (holder[key] = typeof next === 'number' ? [] : {}) as Record<string | number, unknown>;
    });
    return JSON.stringify(base).replace('"__DEEP__"', value);
  }

  it('answers values nested around and far beyond 64 levels at any field with a 4xx naming it', async () => {
    await fc.assert(
      fc.asyncProperty(deepCase, async ({ url, path, levels, open }) => {
        const close = open === '[' ? ']' : open.startsWith('{"type"') ? '}}' : '}';
        const perLevel = open.startsWith('{"type"') ? 2 : 1;
        const value = open.repeat(levels) + '1' + close.repeat(levels);
        const payload = withDeepValue(path, value);
        const depth = path.length + levels * perLevel;
        const seen = backend.seen.length;
        const response = await send(url, payload);
        if (response.statusCode >= 500) throw new Error(`${url} depth ${depth} → ${response.statusCode} ${response.body}`);
        if (depth <= 64) return;
        const error = errorOf(url, response.body);
        if (Buffer.byteLength(payload) > LIMIT_BYTES) {
          expect(response.statusCode).toBe(413);
        } else {
          expect(response.statusCode).toBe(400);
          expect(error.message).toMatch(/nests deeper than 64 levels/);
          if (error.code !== undefined) {
            expect(error.code).toBe('invalid_request');
            expect(error.param).toMatch(new RegExp(`^${escapeRegExp(fieldPath(path.slice(0, 4)))}`));
          }
        }
        expect(backend.seen.length).toBe(seen);
      }),
      { numRuns: 300 },
    );
    expect(limited.app.scheduler!.snapshot().nodes.every((node) => node.breaker === 'closed')).toBe(true);
  }, 120_000);

  it('answers bodies around the size limit with 413 above it, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), fc.integer({ min: -256, max: 256 }), async (url, offset) => {
        const frame = JSON.stringify({ model: 'tiny', prompt: '', messages: [{ role: 'user', content: '' }], input: '' });
        const fill = Math.max(0, LIMIT_BYTES + offset - frame.length);
        const payload = frame.replace('"prompt":""', `"prompt":"${'x'.repeat(fill)}"`);
        const seen = backend.seen.length;
        const response = await send(url, payload);
        if (response.statusCode >= 500) throw new Error(`${url} ${payload.length} bytes → ${response.statusCode} ${response.body}`);
        if (Buffer.byteLength(payload) > LIMIT_BYTES) {
          expect(response.statusCode).toBe(413);
          expect(errorOf(url, response.body).message).toBe('The request body is too large.');
          expect(backend.seen.length).toBe(seen);
        }
      }),
      { numRuns: 200 },
    );
    expect(limited.app.scheduler!.snapshot().nodes.every((node) => node.breaker === 'closed')).toBe(true);
  }, 120_000);
});
