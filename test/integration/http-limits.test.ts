import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/backends/http-client.js';
import { OpenAiBackend } from '../../src/backends/openai.backend.js';
import { sseSteps, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Limits at the edge (issue 12, finding 2 and the 413 item): bodies nested too deep and bodies
 * too large get a 4xx the client can read, in its protocol, and never reach or hurt a node.
 */

const auth = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
const nested = (levels: number) => '{"type":"object","properties":{"a":'.repeat(levels) + '{"type":"string"}' + '}}'.repeat(levels);
/** The reported attack: a tool schema nested 20,000 levels (about 120 KB per 1,000 levels × 6). */
const deepToolBody = (model: string, levels = 20_000) => `{"model":"${model}","messages":[{"role":"user","content":"hi"}],`
  + `"tools":[{"type":"function","function":{"name":"f","parameters":${nested(levels)}}}]}`;

describe('nesting depth at the edge', () => {
  let gateway: TestGateway;
  let backend: ScriptedBackend;
  beforeAll(async () => {
    backend = new ScriptedBackend({ models: ['tiny:latest'] });
    gateway = await startGateway([backend]);
  });
  afterAll(() => gateway.close());

  it('answers a tool schema nested 20,000 levels with 400 naming tools[0].function.parameters (OpenAI shape)', async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: auth, body: deepToolBody('tiny') });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: {
      message: 'The field tools[0].function.parameters nests deeper than 64 levels, the most Flexi accepts.',
      type: 'invalid_request_error', param: 'tools[0].function.parameters', code: 'invalid_request',
    } });
    expect(backend.seen).toHaveLength(0);
  });

  it('answers the same on /api/chat in the Ollama shape', async () => {
    const response = await fetch(`${gateway.url}/api/chat`, { method: 'POST', headers: auth, body: deepToolBody('tiny') });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'The field tools[0].function.parameters nests deeper than 64 levels, the most Flexi accepts.' });
    expect(backend.seen).toHaveLength(0);
  });

  it('serves a schema nested as deep as the limit allows', async () => {
    // 2 levels per schema level, plus body, tools[], tool, function: 1 + 1 + 1 + 1 + 2 × 29 + 1 = 63.
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: auth, body: deepToolBody('tiny', 29) });
    expect(response.status).toBe(200);
  });
});

describe('a body over the size limit', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway([new ScriptedBackend({ models: ['tiny:latest'] })]);
  });
  afterAll(() => gateway.close());

  const sixMiB = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(6 * 1024 * 1024) }] });
  const expected413 = { error: { message: 'The request body is too large.', type: 'invalid_request_error', param: null, code: 'payload_too_large' } };

  it('lets a client send all of it without a reset, then read the 413', async () => {
    // A raw socket writes the whole body before it reads: the way a client on a slow link sees it.
    const port = Number(new URL(gateway.url).port);
    const outcome = await new Promise<{ response: string; error: string }>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let response = '';
      let error = '';
      socket.on('data', (data) => {
        response += data.toString();
        if (response.endsWith('}}')) socket.end();
      });
      socket.on('error', (e) => { error = String(e); });
      socket.on('close', () => resolve({ response, error }));
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_KEY}\r\n`
        + `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(sixMiB)}\r\n\r\n`);
      socket.write(sixMiB);
    });
    expect(outcome.error).toBe('');
    expect(outcome.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(JSON.parse(outcome.response.slice(outcome.response.indexOf('\r\n\r\n') + 4))).toEqual(expected413);
  });

  it.each(['/v1/chat/completions', '/v1/completions'])('answers Node\'s fetch sending 6 MiB to %s with a readable 413', async (path) => {
    const response = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: auth, body: sixMiB });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual(expected413);
  });

  it('answers a streamed (chunked) body of 6 MiB with a readable 413', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x78);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"model":"tiny","prompt":"'));
        if (sent >= 6 * 1024 * 1024) {
          controller.enqueue(new TextEncoder().encode('"}'));
          controller.close();
          return;
        }
        controller.enqueue(chunk);
        sent += chunk.length;
      },
    });
    const response = await fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: auth, body, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual(expected413);
  });
});

describe('errors caused by the request never count against the node', () => {
  let fake: FakeUpstream;
  let gateway: TestGateway;
  let nodeAnswers: { status: number; json: unknown } | undefined;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    fake.route('GET /v1/models', { json: { object: 'list', data: [{ id: 'm', object: 'model', created: 1, owned_by: 'x' }] } });
    fake.route('POST /v1/chat/completions', () => nodeAnswers ?? {
      steps: sseSteps([
        { choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: 'stop' }] },
        { choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } },
      ]),
    });
    const client = new HttpClient({ nodeName: 'n1', baseUrl: `${fake.url}/v1`, connections: 4, firstByteTimeoutMs: 10_000, idleTimeoutMs: 10_000 });
    gateway = await startGateway([new OpenAiBackend('n1', client)]);
  });
  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  const breaker = () => gateway.app.scheduler!.snapshot().nodes.find((node) => node.name === 'n1')!.breaker;
  const chat = () => fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST', headers: auth, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
  });

  it.each([
    [400, { error: { message: 'bad tool schema' } }, 400],
    [413, { error: { message: 'request too large' } }, 413],
    [422, { detail: 'unprocessable' }, 400],
  ])('a node answering %i fifty times leaves its breaker closed and serves the next request', async (status, json, clientStatus) => {
    nodeAnswers = { status, json };
    for (let i = 0; i < 50; i++) {
      const response = await chat();
      expect(response.status).toBe(clientStatus);
      await response.body?.cancel();
    }
    expect(breaker()).toBe('closed');
    nodeAnswers = undefined;
    const served = await chat();
    expect(served.status).toBe(200);
    expect(breaker()).toBe('closed');
  });

  it('answers the 20,000-level schema with 400 six times, and the node stays healthy', async () => {
    const posts = () => fake.requests.filter((r) => r.method === 'POST').length;
    const before = posts();
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: auth, body: deepToolBody('m') });
      expect(response.status).toBe(400);
      await response.body?.cancel();
    }
    expect(posts()).toBe(before);
    expect(breaker()).toBe('closed');
    expect((await chat()).status).toBe(200);
  });
});

describe('an error the request caused is not retried on another node', () => {
  const fakes: FakeUpstream[] = [];
  let gateway: TestGateway;
  beforeAll(async () => {
    const backends = [];
    for (const name of ['n1', 'n2']) {
      const fake = await startFakeUpstream();
      fake.route('GET /v1/models', { json: { object: 'list', data: [{ id: 'm', object: 'model', created: 1, owned_by: 'x' }] } });
      fake.route('POST /v1/chat/completions', { status: 413, json: { error: { message: 'too large for this server' } } });
      fakes.push(fake);
      backends.push(new OpenAiBackend(name, new HttpClient({ nodeName: name, baseUrl: `${fake.url}/v1`, connections: 4, firstByteTimeoutMs: 10_000, idleTimeoutMs: 10_000 })));
    }
    gateway = await startGateway(backends);
  });
  afterAll(async () => {
    await gateway.close();
    for (const fake of fakes) await fake.close();
  });

  it('sends a request the node refused as too large to one node only', async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', headers: auth, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const posts = fakes.map((fake) => fake.requests.filter((r) => r.method === 'POST').length);
    expect(posts.reduce((a, b) => a + b, 0)).toBe(1);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/too large for this server/);
  });
});
