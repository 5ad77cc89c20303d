/**
 * The official `openai` and `ollama` npm clients against Flexi fronting a `flexi sim` twice:
 * once over the Ollama protocol (node type `sim`) and once over the OpenAI protocol (node type
 * `openai`, the sim's /v1). Each node serves different models, so every client call below runs
 * against both node types.
 */
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backends/factory.js';
import { loadConfig } from '../../src/config/load.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { TINY } from '../../src/lab/sim/profiles.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

let sim: SimServer;
let gateway: TestGateway;
let openai: OpenAI;
let ollama: Ollama;

// `tiny` is served through the Ollama protocol, `small` through the OpenAI protocol.
const MODELS = [['tiny', 'Ollama-protocol node'], ['small', 'OpenAI-protocol node']] as const;

beforeAll(async () => {
  // `small` gets tool support so tool calls cross both protocols; `big` answers at length so a
  // disconnect test can cut it mid-stream.
  const profile = {
    ...TINY,
    memoryGb: 100,
    models: TINY.models.map((m) => m.name === 'small:latest' ? { ...m, capabilities: ['completion', 'tools'] }
      : m.name === 'big:latest' ? { ...m, decodeTokensPerSecond: 20, outputTokens: { ...m.outputTokens, mean: 10_000, spread: 0 } } : m),
  };
  sim = await startSimServer({ port: 0, profile, speed: 20, seed: 7 });
  const nodes = `nodes:
  - { name: via-ollama, type: sim, url: "${sim.url}", models: [tiny, embed] }
  - { name: via-openai, type: openai, url: "${sim.url}/v1", models: [small, big] }
server:
  body_limit_bytes: 65536
`;
  const config = loadConfig({ fileText: nodes });
  const backends = config.nodes!.map((node) => createBackend(node, config));
  gateway = await startGateway(backends, { config: { fileText: nodes } });
  openai = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  ollama = new Ollama({ host: gateway.url, headers: { Authorization: `Bearer ${TEST_KEY}` } as Record<string, string> });
});
afterAll(async () => {
  await gateway?.close();
  await sim?.close();
});

describe.each(MODELS)('openai client → %s (%s)', (model) => {
  it('chat', async () => {
    const completion = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, seed: 1 });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(completion.choices[0]!.finish_reason).toMatch(/stop|length/);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
  });

  it('streaming chat with usage', async () => {
    const stream = await openai.chat.completions.create({
      model, messages: [{ role: 'user', content: 'Hello' }], max_completion_tokens: 6, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(6);
  });

  it('completions', async () => {
    const completion = await openai.completions.create({ model, prompt: 'Once upon a time', max_tokens: 5 });
    expect(completion.choices[0]!.text.length).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBe(5);
  });

  it('models.retrieve', async () => {
    const found = await openai.models.retrieve(model);
    expect(found.id).toBe(model);
  });
});

describe('openai client: embeddings, listing and error classes', () => {
  it('embeddings (the SDK asks for base64 and decodes it)', async () => {
    const result = await openai.embeddings.create({ model: 'embed', input: ['a', 'b c'] });
    expect(result.data).toHaveLength(2);
    expect(result.data[0]!.embedding).toHaveLength(8);
    expect(result.data[0]!.embedding.every(Number.isFinite)).toBe(true);
    const floats = await openai.embeddings.create({ model: 'embed', input: 'x', encoding_format: 'float' });
    expect(floats.data[0]!.embedding).toHaveLength(8);
  });

  it('lists the models of both nodes', async () => {
    const ids = (await openai.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['tiny', 'small', 'embed']));
  });

  it('maps 400, 401, 404 and 413 to the SDK error classes', async () => {
    await expect(openai.chat.completions.create({ model: 'tiny', messages: [] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], n: 3 }))
      .rejects.toMatchObject({ status: 400, code: 'unsupported_parameter', param: 'n' });
    const stranger = new OpenAI({ apiKey: 'flx-nope', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await expect(stranger.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(openai.chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const tooBig = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }).catch((e: unknown) => e);
    expect((tooBig as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    expect((tooBig as InstanceType<typeof OpenAI.APIError>).requestID).toBeTruthy();
  });

  it('translates tool calls from either protocol', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    for (const [model] of MODELS) {
      const completion = await openai.chat.completions.create({ model, tools, tool_choice: 'required', messages: [{ role: 'user', content: 'weather in Hagen?' }] });
      const call = completion.choices[0]!.message.tool_calls?.[0];
      expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
      expect(call?.type === 'function' && call.function.name).toBe('get_weather');
      expect(() => JSON.parse(call?.type === 'function' ? call.function.arguments : '')).not.toThrow();
    }
  });
});

describe.each(MODELS)('ollama client → %s (%s)', (model) => {
  it('chat, streaming and not', async () => {
    const reply = await ollama.chat({ model, messages: [{ role: 'user', content: 'Hello' }], options: { num_predict: 5, seed: 3 } });
    expect(reply.done).toBe(true);
    expect(reply.message.content.length).toBeGreaterThan(0);
    expect(reply.eval_count).toBe(5);
    expect(reply.total_duration).toBeGreaterThan(0);
    let text = '';
    let last;
    for await (const part of await ollama.chat({ model, messages: [{ role: 'user', content: 'Hello' }], stream: true, options: { num_predict: 4 } })) {
      text += part.message.content;
      last = part;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(last?.done_reason).toBe('length');
    expect(last?.eval_count).toBe(4);
  });

  it('generate, streaming and not', async () => {
    const reply = await ollama.generate({ model, prompt: 'Why is the sky blue?', options: { num_predict: 3 } });
    expect((reply.response ?? "").length).toBeGreaterThan(0);
    expect(reply.prompt_eval_count).toBeGreaterThan(0);
    const parts: string[] = [];
    for await (const part of await ollama.generate({ model, prompt: 'Hi', stream: true, options: { num_predict: 3 } })) parts.push(part.response ?? "");
    expect(parts.length).toBeGreaterThanOrEqual(2);
  });

  it('show', async () => {
    const shown = await ollama.show({ model });
    expect(shown.details).toBeTruthy();
    expect(shown.capabilities).toEqual(expect.arrayContaining(['completion']));
  });
});

describe('ollama client: embed, list, ps, version', () => {
  it('embed', async () => {
    const result = await ollama.embed({ model: 'embed', input: ['one', 'two'] });
    expect(result.embeddings).toHaveLength(2);
    expect(result.embeddings[0]).toHaveLength(8);
  });

  it('list, ps and version', async () => {
    const names = (await ollama.list()).models.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['tiny:latest', 'small:latest', 'embed:latest']));
    const running = await ollama.ps();
    expect(running.models.map((m) => m.name)).toEqual(expect.arrayContaining(['tiny:latest']));
    expect((await ollama.version()).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('reports an unknown model as an error the client throws', async () => {
    await expect(ollama.chat({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toThrow(/does not exist/);
  });
});

describe('cancellation through a real node', () => {
  it('a client disconnect aborts the upstream stream on the sim', async () => {
    const before = sim.state.counters.disconnects;
    const controller = new AbortController();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', signal: controller.signal,
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'big', stream: true, messages: [{ role: 'user', content: 'a long story' }] }),
    });
    expect(response.status).toBe(200);
    await response.body!.getReader().read();
    controller.abort();
    for (let i = 0; i < 300 && sim.state.counters.disconnects === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sim.state.counters.disconnects).toBe(before + 1);
    for (let i = 0; i < 300 && [...gateway.app.dispatcher.inFlight().values()].some((n) => n > 0); i++) await new Promise((r) => setTimeout(r, 10));
    expect([...gateway.app.dispatcher.inFlight().values()].every((n) => n === 0)).toBe(true);
  });
});
