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
