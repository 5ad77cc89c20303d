import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

let gateway: TestGateway;
let backend: ScriptedBackend;
const auth = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };

beforeAll(async () => {
  backend = new ScriptedBackend({ models: ['tiny:latest'] });
  gateway = await startGateway([backend], { config: { env: { FLEXI_SERVER_BODY_LIMIT_BYTES: '65536' } } });
});
afterAll(() => gateway.close());

async function post(path: string, body: string | object, headers: Record<string, string> = auth) {
  const response = await fetch(`${gateway.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: await response.json() as Record<string, unknown> };
}

const chat = (extra: object) => ({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('bad input gets a 4xx naming the field, in the client protocol', () => {
  it.each([
    ['malformed JSON', '{"model": "tiny",', 400, 'invalid_json', /not valid JSON/],
    ['a missing model', { messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request', /'model' is required/],
    ['empty messages', { model: 'tiny', messages: [] }, 400, 'invalid_request', /'messages' must have at least 1/],
    ['a wrong type', chat({ temperature: 'hot' }), 400, 'invalid_request', /'temperature' must be a number/],
    ['negative max_tokens', chat({ max_tokens: -5 }), 400, 'invalid_request', /'max_tokens' must be >= 1/],
    ['n > 1', chat({ n: 2 }), 400, 'unsupported_parameter', /'n' > 1 is not supported/],
    ['a bad role', { model: 'tiny', messages: [{ role: 'wizard', content: 'x' }] }, 400, 'invalid_request', /messages\[0\]\.role/],
    ['an unknown model', chat({ model: 'nope' }), 404, 'model_not_found', /'nope' does not exist/],
    ['a remote image URL', { model: 'tiny', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://169.254.169.254/x' } }] }] }, 400, 'invalid_request', /data URL/],
  ])('%s on /v1', async (_label, body, status, code, message) => {
    const response = await post('/v1/chat/completions', body);
    expect(response.status).toBe(status);
    const error = response.body.error as Record<string, unknown>;
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });

  it('invalid UTF-8 is a 400 and never reaches the backend', async () => {
    const before = backend.seen.length;
    const bytes = Buffer.concat([Buffer.from('{"model":"tiny","messages":[{"role":"user","content":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: auth, body: bytes });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/UTF-8/);
    expect(backend.seen.length).toBe(before);
  });

  it('a huge body is a 413 (OpenAI client error class)', async () => {
    const client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const error = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
  });

  it('Ollama shape on /api: a string error', async () => {
    const response = await post('/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 1 }] });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: expect.stringMatching(/messages\[0\]\.content/) });
    const unknown = await post('/api/generate', { model: 'nope', prompt: 'x' });
    expect(unknown.status).toBe(404);
    expect(typeof unknown.body.error).toBe('string');
  });

  it('rejects an invalid keep_alive naming the field', async () => {
    const response = await post('/api/generate', { model: 'tiny', prompt: 'x', keep_alive: 'soon' });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/keep_alive/);
  });

  it('accepts the api-key header used by Azure-style clients and Moodle plugins', async () => {
    const response = await post('/v1/chat/completions', chat({}), { 'api-key': TEST_KEY, 'content-type': 'application/json' });
    expect(response.status).toBe(200);
  });

  it('answers unknown routes with 404 in the right shape and keeps a given x-request-id', async () => {
    const response = await fetch(`${gateway.url}/v1/nope`, { headers: { ...auth, 'x-request-id': 'trace-42' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toBe('trace-42');
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });
});

describe('Ollama model-only requests keep their meaning', () => {
  it('loads with a model-only /api/generate and unloads with keep_alive 0', async () => {
    const load = await post('/api/generate', { model: 'tiny' });
    expect(load.status).toBe(200);
    expect(load.body).toMatchObject({ model: 'tiny', response: '', done: true, done_reason: 'load' });
    const unload = await post('/api/chat', { model: 'tiny', messages: [], keep_alive: 0 });
    expect(unload.body).toMatchObject({ done: true, done_reason: 'unload', message: { role: 'assistant', content: '' } });
    expect(backend.residency.slice(-2)).toEqual([{ model: 'tiny:latest', keepAliveSeconds: 300 }, { model: 'tiny:latest', keepAliveSeconds: 0 }]);
  });
});
