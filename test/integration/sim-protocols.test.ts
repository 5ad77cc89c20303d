import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNdjson, readSseEvents } from '../../src/lib/lines.js';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';

let sim: SimServer;
let openai: OpenAI;
let ollama: Ollama;

beforeAll(async () => {
  sim = await startSimServer({ port: 0, profile: TINY, speed: 1000, seed: 7 });
  openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'sim', maxRetries: 0 });
  ollama = new Ollama({ host: sim.url });
});
afterAll(() => sim.close());

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${sim.url}${path}`, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers },
  });
}

async function ndjson(response: Response): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for await (const value of readNdjson(response.body!)) out.push(value as Record<string, unknown>);
  return out;
}

const COUNTERS = ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration'];
const weatherTool = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { location: { type: 'string' }, days: { type: 'integer' } }, required: ['location', 'days'] } },
};

describe('Ollama protocol', () => {
  it('streams /api/chat as NDJSON with the counters on the final chunk', async () => {
    const response = await post('/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 'hello' }] });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    expect(response.headers.get('x-sim-speed')).toBe('1000');
    const chunks = await ndjson(response);
    const final = chunks.at(-1)!;
    expect(chunks.slice(0, -1).every((c) => c.done === false && (c.message as { role: string }).role === 'assistant')).toBe(true);
    expect(final).toMatchObject({ model: 'tiny', done: true, done_reason: 'stop', message: { role: 'assistant', content: '' } });
    for (const key of COUNTERS) expect(Number.isInteger(final[key]), key).toBe(true);
    expect(final.eval_count).toBe(chunks.length - 1);
    expect(typeof final.created_at).toBe('string');
  });

  it('answers /api/chat with stream:false through the ollama client', async () => {
    const reply = await ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], stream: false, options: { num_predict: 5 } });
    expect(reply.done).toBe(true);
    expect(reply.done_reason).toBe('length');
    expect(reply.eval_count).toBe(5);
    expect(reply.message.content.split(' ')).toHaveLength(5);
  });

  it('streams /api/generate through the ollama client and ends with context', async () => {
    const parts: string[] = [];
    let last: Record<string, unknown> = {};
    for await (const part of await ollama.generate({ model: 'tiny', prompt: 'tell me', stream: true })) {
      parts.push(part.response ?? '');
      last = part as unknown as Record<string, unknown>;
    }
    expect(last.done).toBe(true);
    expect(Array.isArray(last.context)).toBe(true);
    const whole = await post('/api/generate', { model: 'tiny', prompt: 'tell me', stream: false });
    expect(((await whole.json()) as { response: string }).response).toBe(parts.join(''));
  });

  it('loads on a model-only request and unloads with keep_alive 0', async () => {
    const load = await (await post('/api/generate', { model: 'small' })).json();
    expect(load).toMatchObject({ done: true, done_reason: 'load', response: '' });
    const ps = (await (await fetch(`${sim.url}/api/ps`)).json()) as { models: Array<Record<string, unknown>> };
    const entry = ps.models.find((m) => m.name === 'small:latest')!;
    expect(entry).toMatchObject({ size: 1e9, size_vram: 1e9, details: { format: 'gguf' } });
    expect(Date.parse(entry.expires_at as string)).toBeGreaterThan(Date.now());
    const unload = await (await post('/api/chat', { model: 'small', messages: [], keep_alive: 0 })).json();
    expect(unload).toMatchObject({ done: true, done_reason: 'unload' });
    const after = (await (await fetch(`${sim.url}/api/ps`)).json()) as { models: Array<{ name: string }> };
    expect(after.models.map((m) => m.name)).not.toContain('small:latest');
  });

  it('embeds deterministically with unit vectors on /api/embed and /api/embeddings', async () => {
    const a = (await (await post('/api/embed', { model: 'embed', input: ['one', 'two'] })).json()) as { embeddings: number[][]; prompt_eval_count: number };
    expect(a.embeddings).toHaveLength(2);
    expect(a.embeddings[0]).toHaveLength(8);
    expect(Math.hypot(...a.embeddings[0]!)).toBeCloseTo(1, 5);
    expect(a.embeddings[0]).not.toEqual(a.embeddings[1]);
    const legacy = (await (await post('/api/embeddings', { model: 'embed', prompt: 'one' })).json()) as { embedding: number[] };
    expect(legacy.embedding).toEqual(a.embeddings[0]);
  });

  it('lists models, shows details, reports a version', async () => {
    const tags = await ollama.list();
    expect(tags.models.map((m) => m.name)).toEqual(['tiny:latest', 'small:latest', 'big:latest', 'embed:latest']);
    expect(tags.models[0]).toMatchObject({ size: 4e9, details: { parameter_size: '1B', quantization_level: 'Q4_0', family: 'llama' } });
    const show = (await (await post('/api/show', { model: 'big' })).json()) as Record<string, unknown>;
    expect(show.model_info).toMatchObject({ 'general.parameter_count': 13e9, 'llama.context_length': 8192 });
    expect(show.capabilities).toEqual(['completion', 'vision']);
    expect(((await (await fetch(`${sim.url}/api/version`)).json()) as { version: string }).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('returns Ollama-shaped errors: 404 unknown model, 400 bad JSON, 400 tools on a model without them', async () => {
    const missing = await post('/api/chat', { model: 'nope', messages: [{ role: 'user', content: 'x' }] });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toMatch(/not found, try pulling it first/);
    const bad = await post('/api/generate', '{"model": ');
    expect(bad.status).toBe(400);
    expect(typeof ((await bad.json()) as { error: unknown }).error).toBe('string');
    const noTools = await post('/api/chat', { model: 'small', messages: [{ role: 'user', content: 'weather' }], tools: [weatherTool] });
    expect(noTools.status).toBe(400);
  });

  it('answers a weather question with a tool call whose arguments are an object', async () => {
    const reply = await ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: 'What is the weather in Hagen?' }], tools: [weatherTool], stream: false });
    expect(reply.message.tool_calls?.[0]?.function).toEqual({ name: 'get_weather', arguments: { location: 'Hagen', days: expect.any(Number) } });
    const names: string[] = [];
    for await (const part of await ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: 'weather?' }], tools: [weatherTool], stream: true })) {
      for (const call of part.message.tool_calls ?? []) names.push(call.function.name);
    }
    expect(names).toEqual(['get_weather']);
  });

  it('emits valid JSON for format json', async () => {
    const reply = await ollama.generate({ model: 'tiny', prompt: 'give json', format: 'json', stream: false });
    expect(JSON.parse(reply.response ?? '')).toHaveProperty('answer');
  });
});

describe('OpenAI protocol', () => {
  it('answers chat.completion with usage and system_fingerprint', async () => {
    const completion = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.system_fingerprint).toBeTruthy();
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage!.completion_tokens).toBe(completion.choices[0]!.message.content!.split(' ').length);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
  });

  it('streams chunks with finish_reason on the last content chunk and a usage chunk before [DONE]', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'tiny', messages: [{ role: 'user', content: 'hello' }], stream: true, stream_options: { include_usage: true }, max_tokens: 4,
    });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events: string[] = [];
    for await (const event of readSseEvents(response.body!)) events.push(event.data);
    expect(events.at(-1)).toBe('[DONE]');
    type Chunk = { id: string; object: string; usage: unknown; choices: Array<{ finish_reason: string | null; delta: { content?: string } }> };
    const chunks = events.slice(0, -1).map((data) => JSON.parse(data) as Chunk);
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({ completion_tokens: 4 });
    const content = chunks.slice(0, -1);
    expect(new Set(content.map((c) => c.id)).size).toBe(1);
    expect(content.every((c) => c.object === 'chat.completion.chunk' && c.usage === null)).toBe(true);
    expect(content.at(-1)!.choices[0]!.finish_reason).toBe('length');
    expect(content.at(-1)!.choices[0]!.delta.content).toBeTruthy();
    expect(content.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null)).toBe(true);
  });

  it('streams through the openai client and matches the non-streamed text', async () => {
    const stream = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'same' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    const whole = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'same' }] });
    expect(text).toBe(whole.choices[0]!.message.content);
  });

  it('calls the tool with JSON-string arguments, streamed and not', async () => {
    const body = { model: 'tiny', messages: [{ role: 'user' as const, content: 'weather tomorrow?' }], tools: [weatherTool] };
    const completion = await openai.chat.completions.create(body);
    const call = completion.choices[0]!.message.tool_calls![0]!;
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toMatchObject({ location: 'Hagen' });
    const stream = await openai.chat.completions.create({ ...body, stream: true });
    const finishes: Array<string | null> = [];
    let name: string | undefined;
    for await (const chunk of stream) {
      finishes.push(chunk.choices[0]!.finish_reason);
      name ??= chunk.choices[0]!.delta.tool_calls?.[0]?.function?.name;
    }
    expect(name).toBe('get_weather');
    expect(finishes.at(-1)).toBe('tool_calls');
    const forced = await openai.chat.completions.create({ ...body, messages: [{ role: 'user', content: 'hi' }], tool_choice: 'required' });
    expect(forced.choices[0]!.message.tool_calls).toHaveLength(1);
    const none = await openai.chat.completions.create({ ...body, tool_choice: 'none' });
    expect(none.choices[0]!.message.tool_calls).toBeUndefined();
  });

  it('honours stop, max_tokens and response_format json_object', async () => {
    const base = { model: 'tiny', messages: [{ role: 'user' as const, content: 'stop test' }] };
    const full = (await openai.chat.completions.create(base)).choices[0]!.message.content!;
    const stopWord = full.split(' ')[3]!;
    const stopped = await openai.chat.completions.create({ ...base, stop: [stopWord] });
    expect(stopped.choices[0]!.message.content).toBe(full.slice(0, full.indexOf(stopWord)));
    expect(stopped.choices[0]!.finish_reason).toBe('stop');
    const short = await openai.chat.completions.create({ ...base, max_tokens: 2 });
    expect(short.choices[0]!.finish_reason).toBe('length');
    expect(short.usage!.completion_tokens).toBe(2);
    const json = await openai.chat.completions.create({ ...base, response_format: { type: 'json_object' } });
    expect(() => JSON.parse(json.choices[0]!.message.content!)).not.toThrow();
  });

  it('serves legacy completions, streamed and not', async () => {
    const completion = await openai.completions.create({ model: 'tiny', prompt: 'Once upon', max_tokens: 3 });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]!.finish_reason).toBe('length');
    const stream = await openai.completions.create({ model: 'tiny', prompt: 'Once upon', max_tokens: 3, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]!.text;
    expect(text).toBe(completion.choices[0]!.text);
  });

  it('embeds and lists models', async () => {
    const result = await openai.embeddings.create({ model: 'embed', input: ['a', 'b'], encoding_format: 'float' });
    expect(result.data.map((d) => d.index)).toEqual([0, 1]);
    expect(result.data[0]!.embedding).toHaveLength(8);
    expect(result.usage.prompt_tokens).toBe(2);
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toContain('tiny:latest');
    expect(await openai.models.retrieve('tiny:latest')).toMatchObject({ id: 'tiny:latest', object: 'model', owned_by: 'library' });
  });

  it('returns OpenAI-shaped errors for unknown models and bad JSON', async () => {
    await expect(openai.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      status: 404, error: { type: 'not_found_error', param: 'model', code: 'model_not_found' },
    });
    const bad = await post('/v1/chat/completions', 'not json');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringMatching(/JSON/), param: null, code: null } });
  });
});
