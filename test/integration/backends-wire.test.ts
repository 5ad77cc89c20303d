import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backends/factory.js';
import { HttpClient } from '../../src/backends/http-client.js';
import { OllamaBackend } from '../../src/backends/ollama.backend.js';
import { OpenAiBackend } from '../../src/backends/openai.backend.js';
import { configSchema } from '../../src/config/schema.js';
import type { ChatEvent, ChatRequest } from '../../src/core/types.js';
import { ndjsonSteps, sseSteps, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

/** What each adapter puts on the wire and how it reads the answers, checked at the fake upstream. */

const never = () => new AbortController().signal;
const client = (url: string) => new HttpClient({ nodeName: 'n1', baseUrl: url, connections: 2, firstByteTimeoutMs: 10_000, idleTimeoutMs: 10_000 });

async function collect(stream: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const events: ChatEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

const toolRequest: ChatRequest = {
  model: 'm:latest',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'weather?', images: ['iVBORw0KGgo='] },
    { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Hagen"}' }] },
    { role: 'tool', content: '12°C', toolCallId: 'call_1', toolName: 'get_weather' },
  ],
  tools: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
  options: { temperature: 0.2, topP: 0.9, topK: 40, seed: 7, stop: ['END'], maxTokens: 64, numCtx: 8192, frequencyPenalty: 0.1, presencePenalty: 0.2 },
  responseFormat: { type: 'json_schema', name: 'w', schema: { type: 'object' } },
  keepAliveSeconds: -1,
};

let fake: FakeUpstream;
beforeEach(async () => {
  fake = await startFakeUpstream();
});
afterEach(async () => {
  await fake.close();
});

describe('OllamaBackend on the wire', () => {
  it('sends options, format, tools with object arguments, images and keep_alive', async () => {
    fake.route('POST /api/chat', { steps: ndjsonSteps([{ message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 1, eval_count: 1 }]) });
    const backend = new OllamaBackend('n1', client(fake.url));
    await collect(backend.chat(toolRequest, never()));
    await backend.close();
    const body = fake.requests[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'm:latest', stream: true, keep_alive: -1, format: { type: 'object' },
      options: { temperature: 0.2, top_p: 0.9, top_k: 40, seed: 7, stop: ['END'], num_predict: 64, num_ctx: 8192, frequency_penalty: 0.1, presence_penalty: 0.2 },
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather' } }],
    });
    const messages = body.messages as Array<Record<string, unknown>>;
    expect(messages[1]).toMatchObject({ role: 'user', images: ['iVBORw0KGgo='] });
    expect(messages[2]).toMatchObject({ role: 'assistant', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Hagen' } } }] });
    expect(messages[3]).toMatchObject({ role: 'tool', content: '12°C', tool_name: 'get_weather' });
  });

  it('turns object tool arguments into JSON text and finishes with tool_calls', async () => {
    fake.route('POST /api/chat', { steps: ndjsonSteps([
      { message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Hagen' } } }] }, done: false },
      { message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 9, eval_count: 4, total_duration: 100, load_duration: 10, prompt_eval_duration: 20, eval_duration: 70 },
    ]) });
    const backend = new OllamaBackend('n1', client(fake.url));
    const events = await collect(backend.chat(toolRequest, never()));
    await backend.close();
    const delta = events[0] as Extract<ChatEvent, { type: 'delta' }>;
    expect(delta.toolCalls?.[0]).toMatchObject({ name: 'get_weather', arguments: '{"city":"Hagen"}' });
    expect(delta.toolCalls?.[0]?.id).toMatch(/^call_/);
    expect(events[1]).toEqual({
      type: 'done', finishReason: 'tool_calls', usage: { promptTokens: 9, completionTokens: 4 },
      timings: { totalNs: 100, loadNs: 10, promptEvalNs: 20, evalNs: 70 },
    });
  });

  it('reads generate responses, thinking and done_reason length', async () => {
    fake.route('POST /api/generate', { steps: ndjsonSteps([
      { response: '', thinking: 'hmm', done: false },
      { response: 'Hi', done: false },
      { response: '', done: true, done_reason: 'length', prompt_eval_count: 2, eval_count: 2 },
    ]) });
    const backend = new OllamaBackend('n1', client(fake.url));
    const events = await collect(backend.complete({ model: 'm', prompt: 'p', system: 's', raw: true, options: { maxTokens: 2 } }, never()));
    await backend.close();
    expect(events).toMatchObject([{ type: 'delta', thinking: 'hmm' }, { type: 'delta', content: 'Hi' }, { type: 'done', finishReason: 'length' }]);
    expect(fake.requests[0]!.body).toMatchObject({ model: 'm', prompt: 'p', system: 's', raw: true, options: { num_predict: 2 } });
  });

  it('loads and unloads through /api/generate with keep_alive', async () => {
    fake.route('POST /api/generate', { json: { done: true, done_reason: 'unload' } });
    const backend = new OllamaBackend('n1', client(fake.url));
    await backend.setResidency('m:latest', 0);
    await backend.close();
    expect(fake.requests[0]!.body).toEqual({ model: 'm:latest', keep_alive: 0, stream: false });
  });

  it('lists, shows and reports loaded models with canonical names', async () => {
    fake.route('GET /api/tags', { json: { models: [{ name: 'llama3', size: 5, digest: 'd', modified_at: '2026-01-02T00:00:00Z', details: { family: 'llama', parameter_size: '8B', quantization_level: 'Q4_K_M' } }] } });
    fake.route('GET /api/ps', { json: { models: [{ name: 'llama3:latest', size: 5, size_vram: 3, expires_at: '2026-01-02T00:05:00Z', context_length: 4096 }] } });
    fake.route('POST /api/show', { json: { model_info: { 'general.architecture': 'llama', 'llama.context_length': 8192 }, capabilities: ['completion', 'tools'], template: 't' } });
    const backend = new OllamaBackend('n1', client(fake.url));
    expect(await backend.listModels()).toMatchObject([{ name: 'llama3:latest', sizeBytes: 5, family: 'llama', parameterSize: '8B', quantization: 'Q4_K_M' }]);
    expect(await backend.loadedModels()).toMatchObject([{ name: 'llama3:latest', sizeVramBytes: 3, contextLength: 4096 }]);
    expect(await backend.showModel('llama3')).toMatchObject({ name: 'llama3:latest', contextLength: 8192, capabilities: ['completion', 'tools'], template: 't' });
    await backend.close();
  });
});

describe('OpenAiBackend on the wire', () => {
  beforeEach(() => {
    fake.route('GET /v1/models', { json: { object: 'list', data: [{ id: 'org/model', object: 'model', created: 1767225600, max_model_len: 32768 }] } });
  });

  it('sends the listed model id, streaming usage, tools and sampling', async () => {
    fake.route('POST /v1/chat/completions', { steps: sseSteps([{ choices: [{ index: 0, delta: { content: 'x' }, finish_reason: 'stop' }] }]) });
    const backend = new OpenAiBackend('n1', client(`${fake.url}/v1`));
    await collect(backend.chat({ ...toolRequest, model: 'org/model:latest', toolChoice: { name: 'get_weather' } }, never()));
    await backend.close();
    const body = fake.requests.find((r) => r.path === '/v1/chat/completions')!.body as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'org/model', stream: true, stream_options: { include_usage: true },
      temperature: 0.2, top_p: 0.9, top_k: 40, seed: 7, stop: ['END'], max_tokens: 64, frequency_penalty: 0.1, presence_penalty: 0.2,
      response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' } } },
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const messages = body.messages as Array<Record<string, unknown>>;
    expect(messages[1]!.content).toEqual([{ type: 'text', text: 'weather?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }]);
    expect(messages[2]).toMatchObject({ tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Hagen"}' } }] });
    expect(messages[3]).toMatchObject({ role: 'tool', tool_call_id: 'call_1' });
  });

  it('joins streamed tool call fragments into one delta before done', async () => {
    fake.route('POST /v1/chat/completions', { steps: sseSteps([
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, finish_reason: null }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 1, id: 'call_b', function: { name: 'get_time', arguments: '{}' } }] }, finish_reason: null }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, finish_reason: null }] },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Hagen"}' } }] }, finish_reason: 'tool_calls' }] },
      { choices: [], usage: { prompt_tokens: 11, completion_tokens: 5 } },
    ]) });
    const backend = new OpenAiBackend('n1', client(`${fake.url}/v1`));
    const events = await collect(backend.chat({ ...toolRequest, model: 'org/model' }, never()));
    await backend.close();
    expect(events).toEqual([
      { type: 'delta', toolCalls: [{ id: 'call_a', name: 'get_weather', arguments: '{"city":"Hagen"}' }, { id: 'call_b', name: 'get_time', arguments: '{}' }] },
      { type: 'done', finishReason: 'tool_calls', usage: { promptTokens: 11, completionTokens: 5 }, timings: {} },
    ]);
  });

  it('counts streamed chunks as tokens when the server sends no usage', async () => {
    fake.route('POST /v1/completions', { steps: sseSteps([
      { choices: [{ index: 0, text: 'a' }] }, { choices: [{ index: 0, text: 'b' }] }, { choices: [{ index: 0, text: 'c', finish_reason: 'length' }] },
    ]) });
    const backend = new OpenAiBackend('n1', client(`${fake.url}/v1`));
    const events = await collect(backend.complete({ model: 'org/model', prompt: 'twelve chars', options: {} }, never()));
    await backend.close();
    expect(events.at(-1)).toEqual({ type: 'done', finishReason: 'length', usage: { promptTokens: 3, completionTokens: 3 }, timings: {} });
  });

  it('throws model_not_found for a model the server does not list, without sending it', async () => {
    const backend = new OpenAiBackend('n1', client(`${fake.url}/v1`));
    await expect(collect(backend.chat({ ...toolRequest, model: 'other' }, never()))).rejects.toMatchObject({ code: 'model_not_found' });
    await backend.close();
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/models']);
  });

  it('lists models with canonical names and context length; everything listed is loaded', async () => {
    const backend = new OpenAiBackend('n1', client(`${fake.url}/v1`));
    expect(await backend.listModels()).toEqual([{ name: 'org/model:latest', modifiedAt: new Date(1767225600_000), contextLength: 32768 }]);
    expect(await backend.loadedModels()).toEqual([{ name: 'org/model:latest', contextLength: 32768 }]);
    expect((await backend.health()).ok).toBe(true);
    await backend.close();
  });

  it('sends the node api_key as a Bearer token (factory)', async () => {
    fake.route('POST /v1/embeddings', { json: { data: [{ index: 1, embedding: [2] }, { index: 0, embedding: [1] }], usage: { prompt_tokens: 2 } } });
    const config = configSchema.parse({});
    const backend = createBackend({ name: 'vllm', type: 'openai', url: `${fake.url}/v1`, api_key: 'sk-test' }, config);
    const result = await backend.embed({ model: 'org/model', input: ['a', 'b'] }, never());
    await backend.close();
    expect(result.embeddings).toEqual([[1], [2]]);
    expect(fake.requests.every((r) => r.headers.authorization === 'Bearer sk-test')).toBe(true);
  });
});

describe('createBackend', () => {
  const config = configSchema.parse({});
  it('builds ollama, sim and openai adapters', async () => {
    const made = [
      createBackend({ name: 'a', type: 'ollama', url: 'http://127.0.0.1:1' }, config),
      createBackend({ name: 'b', type: 'sim', url: 'http://127.0.0.1:1' }, config),
      createBackend({ name: 'c', type: 'openai', url: 'http://127.0.0.1:1/v1' }, config),
    ];
    expect(made.map((b) => [b.name, b.type])).toEqual([['a', 'ollama'], ['b', 'sim'], ['c', 'openai']]);
    await Promise.all(made.map((b) => b.close()));
  });

  it('needs an injected factory for embedded nodes', () => {
    expect(() => createBackend({ name: 'e', type: 'embedded' }, config)).toThrow(/embedded engine/);
    const stub = { name: 'e', type: 'embedded' } as never;
    expect(createBackend({ name: 'e', type: 'embedded' }, config, { createEmbedded: () => stub })).toBe(stub);
  });
});
