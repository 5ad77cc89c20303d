import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { HttpClient } from '../../src/backends/http-client.js';
import { OllamaBackend } from '../../src/backends/ollama.backend.js';
import { OpenAiBackend } from '../../src/backends/openai.backend.js';
import { FlexiError } from '../../src/core/errors.js';
import type { ChatEvent, ChatRequest } from '../../src/core/types.js';
import { sseSteps, startFakeUpstream, type FakeStep, type FakeUpstream } from '../helpers/fake-upstream.js';

/**
 * Error paths and wire details of both adapters against the scriptable fake upstream. Each
 * adapter is described by how its protocol frames a text stream, so the same cases run twice.
 */

interface Flavour {
  name: string;
  chatRoute: string;
  make(url: string, timeouts?: ClientOptions): Backend;
  /** Frames for a stream that says these text pieces and then finishes. */
  textStream(pieces: Array<string | Uint8Array>): FakeStep[];
  inBandError(message: string): FakeStep;
  /** A 404 body the way this server reports an unknown model. */
  modelMissing: unknown;
  setupRoutes(fake: FakeUpstream): void;
}

interface ClientOptions { firstByteTimeoutMs?: number; idleTimeoutMs?: number; connections?: number }

function client(url: string, timeouts: ClientOptions = {}): HttpClient {
  return new HttpClient({ nodeName: 'n1', baseUrl: url, connections: timeouts.connections ?? 4, firstByteTimeoutMs: timeouts.firstByteTimeoutMs ?? 10_000, idleTimeoutMs: timeouts.idleTimeoutMs ?? 10_000 });
}

const ollama: Flavour = {
  name: 'ollama',
  chatRoute: 'POST /api/chat',
  make: (url, timeouts) => new OllamaBackend('n1', client(url, timeouts)),
  textStream: (pieces) => [
    ...pieces.map((p): FakeStep => (typeof p === 'string'
      ? { write: `${JSON.stringify({ message: { role: 'assistant', content: p }, done: false })}\n` }
      : { write: p })),
    { write: `${JSON.stringify({ message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: pieces.length })}\n` },
  ],
  inBandError: (message) => ({ write: `${JSON.stringify({ error: message })}\n` }),
  modelMissing: { error: "model 'm' not found, try pulling it first" },
  setupRoutes: () => undefined,
};

const openai: Flavour = {
  name: 'openai',
  chatRoute: 'POST /v1/chat/completions',
  make: (url, timeouts) => new OpenAiBackend('n1', client(`${url}/v1`, timeouts)),
  textStream: (pieces) => [
    ...pieces.map((p): FakeStep => (typeof p === 'string'
      ? { write: `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: p }, finish_reason: null }] })}\n\n` }
      : { write: p })),
    ...sseSteps([
      { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      { choices: [], usage: { prompt_tokens: 3, completion_tokens: pieces.length } },
    ]),
  ],
  inBandError: (message) => ({ write: `data: ${JSON.stringify({ error: { message, type: 'server_error' } })}\n\n` }),
  modelMissing: { object: 'error', message: 'The model `m` does not exist.', type: 'NotFoundError', code: 404 },
  setupRoutes: (fake) => fake.route('GET /v1/models', { json: { object: 'list', data: [{ id: 'm', object: 'model', created: 1, owned_by: 'x' }] } }),
};

const request: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], options: {} };
const never = () => new AbortController().signal;

async function collect(stream: AsyncIterable<ChatEvent>): Promise<{ text: string; events: ChatEvent[] }> {
  const events: ChatEvent[] = [];
  for await (const event of stream) events.push(event);
  return { text: events.map((e) => (e.type === 'delta' ? e.content ?? '' : '')).join(''), events };
}

async function failure(promise: Promise<unknown>): Promise<FlexiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FlexiError);
  return error as FlexiError;
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe.each([ollama, openai])('$name adapter error paths', (flavour) => {
  let fake: FakeUpstream;
  let backend: Backend;

  beforeEach(async () => {
    fake = await startFakeUpstream();
    flavour.setupRoutes(fake);
    backend = flavour.make(fake.url);
  });
  afterEach(async () => {
    await backend.close();
    await fake.close();
  });

  it('reassembles a multi-byte character split across chunks', async () => {
    const framed = flavour.textStream(['ü→😀'])[0] as { write: string };
    const bytes = Buffer.from(framed.write, 'utf8');
    const at = bytes.indexOf(Buffer.from('😀')) + 2;
    fake.route(flavour.chatRoute, { steps: [{ write: bytes.subarray(0, at) }, { write: bytes.subarray(at) }, ...flavour.textStream([]).slice(0)] });
    const { text, events } = await collect(backend.chat(request, never()));
    expect(text).toBe('ü→😀');
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('maps a malformed stream line to backend_error', async () => {
    fake.route(flavour.chatRoute, { steps: [...flavour.textStream(['ok']).slice(0, 1), { write: flavour.name === 'ollama' ? '{not json\n' : 'data: {not json\n\n' }] });
    const error = await failure(collect(backend.chat(request, never())));
    expect(error.code).toBe('backend_error');
    expect(error.message).toMatch(/malformed/);
  });

  it('maps an in-band error after a 200 to backend_error with its message', async () => {
    fake.route(flavour.chatRoute, { steps: [...flavour.textStream(['partial']).slice(0, 1), flavour.inBandError('CUDA out of memory')] });
    const error = await failure(collect(backend.chat(request, never())));
    expect(error.code).toBe('backend_error');
    expect(error.message).toContain('CUDA out of memory');
  });

  it('maps a 500 to backend_error carrying the upstream message', async () => {
    fake.route(flavour.chatRoute, { status: 500, json: { error: 'llama runner process has terminated' } });
    const error = await failure(collect(backend.chat(request, never())));
    expect(error.code).toBe('backend_error');
    expect(error.message).toContain('llama runner process has terminated');
  });

  it('maps a 400 to invalid_request carrying the upstream message', async () => {
    fake.route(flavour.chatRoute, { status: 400, json: { error: { message: 'temperature must be positive' } } });
    const error = await failure(collect(backend.chat(request, never())));
    expect(error.code).toBe('invalid_request');
    expect(error.message).toBe('temperature must be positive');
  });

  it('maps a 413 to payload_too_large, a client error that does not count against the node', async () => {
    fake.route(flavour.chatRoute, { status: 413, json: { error: 'request entity too large' } });
    const error = await failure(collect(backend.chat(request, never())));
    expect(error.code).toBe('payload_too_large');
    expect(error.message).toContain('request entity too large');
  });

  it('maps a request that cannot be serialised (20,000 levels) to invalid_request and never sends it', async () => {
    let parameters: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 20_000; i++) parameters = { type: 'object', properties: { a: parameters } };
    const deep: ChatRequest = { ...request, tools: [{ name: 'f', parameters }] };
    const error = await failure(collect(backend.chat(deep, never())));
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/cannot be sent to node "n1": Maximum call stack size exceeded/);
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it('maps a 404 for the model to model_not_found', async () => {
    fake.route(flavour.chatRoute, { status: 404, json: flavour.modelMissing });
    expect((await failure(collect(backend.chat(request, never())))).code).toBe('model_not_found');
  });

  it('maps connection refused to backend_unavailable', async () => {
    const down = flavour.make(await closedPortUrl());
    try {
      expect((await failure(collect(down.chat(request, never())))).code).toBe('backend_unavailable');
      expect((await down.health()).ok).toBe(false);
    } finally {
      await down.close();
    }
  });

  it('maps an unresolvable host to backend_unavailable', async () => {
    // `.invalid` never resolves (RFC 2606).
    const nowhere = flavour.make('http://flexi-test.invalid');
    try {
      expect((await failure(collect(nowhere.chat(request, never())))).code).toBe('backend_unavailable');
    } finally {
      await nowhere.close();
    }
  });

  it('maps a socket reset mid-stream to backend_unavailable', async () => {
    fake.route(flavour.chatRoute, { steps: [...flavour.textStream(['a']).slice(0, 1), { reset: true }] });
    expect((await failure(collect(backend.chat(request, never())))).code).toBe('backend_unavailable');
  });

  it('fails a stream that ends without its final message', async () => {
    fake.route(flavour.chatRoute, { steps: flavour.textStream(['a', 'b']).slice(0, 2) });
    expect((await failure(collect(backend.chat(request, never())))).code).toBe('backend_error');
  });

  it('times out waiting for the first byte and drops the connection', async () => {
    const slow = flavour.make(fake.url, { firstByteTimeoutMs: 150 });
    fake.route(flavour.chatRoute, { steps: [{ hang: true }] });
    try {
      const error = await failure(collect(slow.chat(request, never())));
      expect(error.code).toBe('backend_timeout');
      await fake.waitForDisconnect(1);
    } finally {
      await slow.close();
    }
  });

  it('times out when the stream goes idle', async () => {
    const slow = flavour.make(fake.url, { idleTimeoutMs: 150 });
    fake.route(flavour.chatRoute, { steps: [...flavour.textStream(['a']).slice(0, 1), { hang: true }] });
    try {
      const error = await failure(collect(slow.chat(request, never())));
      expect(error.code).toBe('backend_timeout');
      expect(error.message).toMatch(/stopped sending/);
    } finally {
      await slow.close();
    }
  });

  it('aborts mid-stream at once and the upstream sees the disconnect', async () => {
    fake.route(flavour.chatRoute, { steps: [...flavour.textStream(['a']).slice(0, 1), { hang: true }] });
    const controller = new AbortController();
    const iterator = backend.chat(request, controller.signal)[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ type: 'delta', content: 'a' });
    const pending = iterator.next();
    controller.abort();
    expect((await failure(pending)).code).toBe('client_closed_request');
    await fake.waitForDisconnect(1);
    expect(fake.inFlight).toBe(0);
  });

  it('passes a FlexiError abort reason through unchanged', async () => {
    fake.route(flavour.chatRoute, { steps: [{ hang: true }] });
    const controller = new AbortController();
    const pending = collect(backend.chat(request, controller.signal));
    await fake.waitForRequest(flavour.chatRoute);
    controller.abort(new FlexiError('overloaded', 'deadline passed'));
    const error = await failure(pending);
    expect(error.code).toBe('overloaded');
  });

  it('never sends a request whose signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    expect((await failure(collect(backend.chat(request, controller.signal)))).code).toBe('client_closed_request');
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it('reuses the kept-alive connection after a complete stream', async () => {
    // One connection: a request waits for it, so a destroyed socket would show as a new port.
    const single = flavour.make(fake.url, { connections: 1 });
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => { release = resolve; });
    // The body's end is held back so the adapter closes the stream before it arrives.
    let served = 0;
    fake.route(flavour.chatRoute, () => (++served === 2
      ? { steps: [...flavour.textStream(['a']), { waitFor: released }] }
      : { steps: flavour.textStream(['a']) }));
    try {
      await collect(single.chat(request, never()));
      // Leaving right after `done`, as services do, must still return the socket to the pool.
      for await (const event of single.chat(request, never())) if (event.type === 'done') break;
      const third = collect(single.chat(request, never()));
      release();
      await third;
    } finally {
      await single.close();
    }
    const ports = fake.requests.filter((r) => r.method === 'POST').map((r) => r.remotePort);
    expect(ports).toHaveLength(3);
    expect(new Set(ports).size).toBe(1);
  });
});
