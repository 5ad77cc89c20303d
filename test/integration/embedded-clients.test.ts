/**
 * The official `openai` and `ollama` npm clients against Flexi's HTTP API over an embedded node
 * (llama.cpp in-process) serving generated GGUF files: real inference on a tiny random model.
 * The folder also holds a truncated GGUF and a file that is no GGUF at all.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBackend } from '../../src/backends/embedded/embedded.backend.js';
import type { UsageEntry } from '../../src/core/usage.js';
import { LLAMA2_CHAT_TEMPLATE, writeTinyLlamaGguf } from '../helpers/gguf-writer.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

const CONTEXT = 1024;
const dir = mkdtempSync(join(tmpdir(), 'flexi-embedded-clients-'));
let backend: EmbeddedBackend;
let gateway: TestGateway;
let openai: OpenAI;
let ollama: Ollama;

/** Usage records as the gateway writes them; waiters see every new one. */
const usage: UsageEntry[] = [];
const usageWaiters: ((entry: UsageEntry) => void)[] = [];
function nextUsage(match: (entry: UsageEntry) => boolean): Promise<UsageEntry> {
  const found = usage.find(match);
  if (found) return Promise.resolve(found);
  return new Promise((resolve) => {
    const waiter = (entry: UsageEntry) => {
      if (!match(entry)) return;
      usageWaiters.splice(usageWaiters.indexOf(waiter), 1);
      resolve(entry);
    };
    usageWaiters.push(waiter);
  });
}

/**
 * Polls the engine's own state (slot release happens after the HTTP response ended). Bounded by
 * the number of event-loop turns, not by wall-clock time: on a loaded machine a turn takes
 * longer, and a fixed deadline failed there although nothing was wrong.
 */
async function eventually(check: () => boolean, turns = 1000): Promise<boolean> {
  for (let i = 0; i < turns && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return check();
}

const busySlots = () => backend.stats().models.reduce((sum, m) => sum + m.busySlots, 0);
const signal = () => new AbortController().signal;

beforeAll(async () => {
  // Seed 1 answers "{}" in JSON mode at temperature 0: a random model that closes its JSON.
  writeTinyLlamaGguf(join(dir, 'tiny.gguf'), { chatTemplate: LLAMA2_CHAT_TEMPLATE, seed: 1, contextLength: CONTEXT, license: 'mit' });
  const whole = readFileSync(join(dir, 'tiny.gguf'));
  writeFileSync(join(dir, 'broken.gguf'), whole.subarray(0, Math.floor(whole.length / 2)));
  writeFileSync(join(dir, 'notes.gguf'), 'this is not a model\n');
  backend = new EmbeddedBackend({
    name: 'local', modelsDir: dir, slots: 4, contextSize: CONTEXT, gpu: 'cpu', threads: 1,
    keepAliveSeconds: -1, memoryBudgetBytes: 1 << 30,
    // Replies of exactly max_tokens (a random model ends at random otherwise); JSON mode ignores it.
    ignoreEos: true,
  });
  gateway = await startGateway([backend], {
    deps: { usage: { record: (entry) => { usage.push(entry); for (const waiter of [...usageWaiters]) waiter(entry); } } },
  });
  openai = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  ollama = new Ollama({ host: gateway.url, headers: { Authorization: `Bearer ${TEST_KEY}` } as Record<string, string> });
});

afterAll(async () => {
  await gateway?.close();
  rmSync(dir, { recursive: true, force: true });
});

const HELLO = [{ role: 'user' as const, content: 'hello world' }];

describe('openai client → embedded node', () => {
  it('lists the readable models of the folder', async () => {
    const ids = (await openai.models.list()).data.map((m) => m.id);
    expect(ids).toContain('tiny');
    expect(ids).toContain('broken');
    expect(ids).not.toContain('notes');
  });

  it('chat gives max_tokens tokens with usage', async () => {
    const completion = await openai.chat.completions.create({ model: 'tiny', messages: HELLO, max_tokens: 8, temperature: 0 });
    expect(completion.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(completion.choices[0]!.finish_reason).toBe('length');
    expect(completion.usage).toMatchObject({ completion_tokens: 8 });
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(5);
  });

  it('streaming chat gives the same text as the non-streaming one at temperature 0', async () => {
    const whole = await openai.chat.completions.create({ model: 'tiny', messages: HELLO, max_tokens: 10, temperature: 0 });
    const stream = await openai.chat.completions.create({
      model: 'tiny', messages: HELLO, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usageTokens: number | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      chunks += 1;
      usageTokens = chunk.usage?.completion_tokens ?? usageTokens;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(usageTokens).toBe(10);
  });

  it('completions send the prompt raw (no chat template)', async () => {
    const completion = await openai.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
    let raw = '';
    let templated = '';
    for await (const event of backend.complete({ model: 'tiny', prompt: 'Once upon a time', raw: true, options: { temperature: 0, maxTokens: 6 } }, signal())) {
      if (event.type === 'delta') raw += event.content ?? '';
    }
    for await (const event of backend.complete({ model: 'tiny', prompt: 'Once upon a time', options: { temperature: 0, maxTokens: 6 } }, signal())) {
      if (event.type === 'delta') templated += event.content ?? '';
    }
    expect(completion.choices[0]!.text).toBe(raw);
    expect(raw).not.toBe(templated);
    expect(completion.usage!.completion_tokens).toBe(6);
  });

  it('embeddings: base64 (the SDK default) and float decode to the engine\'s vectors', async () => {
    const direct = await backend.embed({ model: 'tiny', input: ['hello world', 'the test'] }, signal());
    const base64 = await openai.embeddings.create({ model: 'tiny', input: ['hello world', 'the test'] });
    const floats = await openai.embeddings.create({ model: 'tiny', input: 'hello world', encoding_format: 'float' });
    expect(base64.data).toHaveLength(2);
    expect(base64.data[0]!.embedding).toHaveLength(64);
    for (const [i, vector] of direct.embeddings.entries()) {
      base64.data[i]!.embedding.forEach((x, j) => expect(x).toBeCloseTo(vector[j]!, 5));
    }
    floats.data[0]!.embedding.forEach((x, j) => expect(x).toBeCloseTo(direct.embeddings[0]![j]!, 5));
    expect(base64.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('JSON mode (response_format json_object) answers valid JSON', async () => {
    const completion = await openai.chat.completions.create({
      model: 'tiny', messages: [{ role: 'user', content: 'Reply in JSON.' }], max_tokens: 300, temperature: 0, response_format: { type: 'json_object' },
    });
    const content = completion.choices[0]!.message.content!;
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(() => JSON.parse(content) as unknown).not.toThrow();
  });
});

describe('tool calls on the embedded engine', () => {
  // Bounded strings and an enum: the random model writes inside the grammar until it may stop.
  const tools: OpenAI.ChatCompletionTool[] = [{
    type: 'function',
    function: {
      name: 'get_weather', description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['C', 'F'] } }, required: ['city', 'unit'] },
    },
  }];
  const question: OpenAI.ChatCompletionMessageParam = { role: 'user', content: 'What is the weather in Paris?' };

  it('a round trip through the openai client: a forced call, its result sent back, an answer', async () => {
    const first = await openai.chat.completions.create({
      model: 'tiny', messages: [question], tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 200, temperature: 0,
    });
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe('function');
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments) as { city: string; unit: string };
    expect(['C', 'F']).toContain(args.unit);
    // Without the tools this time: their documentation alone nearly fills the tiny model's 1024-token context.
    const second = await openai.chat.completions.create({
      model: 'tiny', max_tokens: 6, temperature: 0,
      messages: [question, choice.message, { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temperature: 21, unit: args.unit }) }],
    });
    expect(second.choices[0]!.finish_reason).toBe('length');
    expect(second.choices[0]!.message.content!.length).toBeGreaterThan(0);
  });

  it('streams the call as OpenAI frames it (tool_calls delta with index, id and name; finish tool_calls) with tool_choice required', async () => {
    const stream = await openai.chat.completions.create({ model: 'tiny', messages: [question], tools, tool_choice: 'required', max_tokens: 200, temperature: 0, stream: true });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    expect(deltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather' } });
    expect(deltas[0]!.id).toMatch(/^call_/);
    const args = JSON.parse(deltas.map((d) => d.function?.arguments ?? '').join('')) as { unit: string };
    expect(['C', 'F']).toContain(args.unit);
  });

  it('a prompt whose tool documentation overflows the context is a 400, not a failed generation', async () => {
    const long = 'x'.repeat(600);
    const error = await openai.chat.completions.create({
      model: 'tiny', max_tokens: 6, tools: [{ type: 'function', function: { name: 'long_tool', description: long } }], messages: [{ role: 'user', content: long }],
    }).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('context_length_exceeded');
  });

  it('the ollama client gets the call with object arguments', async () => {
    // Ollama has no tool_choice: the model decides (functions); a random model may or may not call.
    const reply = await ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools: tools as never, options: { num_predict: 8, temperature: 0 } });
    expect(reply.done).toBe(true);
    for (const call of reply.message.tool_calls ?? []) expect(call.function.name).toBe('get_weather');
  });
});

describe('ollama client → embedded node', () => {
  it('chat, streaming and not, with Ollama timings', async () => {
    const reply = await ollama.chat({ model: 'tiny', messages: HELLO, options: { num_predict: 5, temperature: 0 } });
    expect(reply.done).toBe(true);
    expect(reply.done_reason).toBe('length');
    expect(reply.eval_count).toBe(5);
    expect(reply.prompt_eval_count).toBeGreaterThan(5);
    expect(reply.total_duration).toBeGreaterThan(0);
    let text = '';
    let parts = 0;
    for await (const part of await ollama.chat({ model: 'tiny', messages: HELLO, stream: true, options: { num_predict: 5, temperature: 0 } })) {
      text += part.message.content;
      parts += 1;
    }
    expect(parts).toBeGreaterThan(2);
    expect(text).toBe(reply.message.content);
  });

  it('generate wraps the prompt in the template; raw sends it as it is', async () => {
    const templated = await ollama.generate({ model: 'tiny', prompt: 'Once upon a time', options: { num_predict: 6, temperature: 0 } });
    const raw = await ollama.generate({ model: 'tiny', prompt: 'Once upon a time', raw: true, options: { num_predict: 6, temperature: 0 } });
    const openaiRaw = await openai.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
    expect(templated.eval_count).toBe(6);
    expect(raw.response).toBe(openaiRaw.choices[0]!.text);
    expect(templated.response).not.toBe(raw.response);
  });

  it('embed', async () => {
    const result = await ollama.embed({ model: 'tiny', input: ['one', 'two'] });
    expect(result.embeddings).toHaveLength(2);
    expect(result.embeddings[0]).toHaveLength(64);
    expect(result.embeddings[0]).not.toEqual(result.embeddings[1]);
  });

  it('list, ps and show', async () => {
    const names = (await ollama.list()).models.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['tiny:latest', 'broken:latest']));
    await ollama.chat({ model: 'tiny', messages: HELLO, options: { num_predict: 1 } });
    const running = (await ollama.ps()).models.find((m) => m.name === 'tiny:latest');
    expect((running as unknown as { context_length?: number } | undefined)?.context_length).toBe(CONTEXT);
    expect(running?.size).toBeGreaterThan(0);
    const shown = await ollama.show({ model: 'tiny' });
    expect(shown.template).toBe(LLAMA2_CHAT_TEMPLATE);
    expect(shown.license).toBe('mit');
    expect(shown.details).toMatchObject({ format: 'gguf', family: 'llama', quantization_level: 'Q8_0' });
    expect((shown.model_info as unknown as Record<string, unknown>)['llama.embedding_length']).toBe(64);
  });
});

describe('engine behaviour through HTTP', () => {
  it('answers the same at temperature 0 twice and across both protocols', async () => {
    const ask = () => openai.chat.completions.create({ model: 'tiny', messages: HELLO, max_tokens: 12, temperature: 0 });
    const first = (await ask()).choices[0]!.message.content;
    const second = (await ask()).choices[0]!.message.content;
    const viaOllama = (await ollama.chat({ model: 'tiny', messages: HELLO, options: { num_predict: 12, temperature: 0 } })).message.content;
    expect(first!.length).toBeGreaterThan(0);
    expect(second).toBe(first);
    expect(viaOllama).toBe(first);
  });

  it('batches 4 parallel streams in one context, and all complete', async () => {
    const maxTokens = 150;
    // The most slots busy at once, sampled on every event-loop turn while the streams run: reading it
    // once after all headers arrived raced with a fast stream finishing first on a loaded machine.
    let peak = 0;
    let sampling = true;
    const sample = () => {
      peak = Math.max(peak, busySlots());
      if (sampling) setImmediate(sample);
    };
    sample();
    const streams = await Promise.all([0, 1, 2, 3].map(() => openai.chat.completions.create({
      model: 'tiny', messages: HELLO, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true },
    })));
    const results = await Promise.all(streams.map(async (stream) => {
      let text = '';
      let tokens = 0;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        tokens = chunk.usage?.completion_tokens ?? tokens;
      }
      return { text, tokens };
    }));
    sampling = false;
    expect(peak).toBe(4);
    for (const result of results) {
      expect(result.tokens).toBe(maxTokens);
      expect(result.text).toBe(results[0]!.text);
    }
    expect(await eventually(() => busySlots() === 0)).toBe(true);
  });

  it('a client disconnect stops the generation and frees the slot; the model stays loaded', async () => {
    const controller = new AbortController();
    const stream = await openai.chat.completions.create(
      { model: 'tiny', messages: [{ role: 'user', content: 'a long story' }], max_tokens: 900, temperature: 0, stream: true },
      { signal: controller.signal },
    );
    const cancelled = nextUsage((entry) => entry.status === 499);
    let received = 0;
    // The SDK ends the iteration quietly once its own signal aborts.
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) received += 1;
      if (received === 1) controller.abort();
    }
    expect(received).toBeGreaterThan(0);
    const entry = await cancelled;
    expect(entry.errorCode).toBe('client_closed_request');
    expect(entry.completionTokens).toBeLessThan(900);
    expect(await eventually(() => busySlots() === 0)).toBe(true);
    expect((await backend.loadedModels()).map((m) => m.name)).toContain('tiny:latest');
    const after = await openai.chat.completions.create({ model: 'tiny', messages: HELLO, max_tokens: 3 });
    expect(after.usage!.completion_tokens).toBe(3);
  });
});

describe('bad input through HTTP', () => {
  const long = 'hello world '.repeat(1000);

  it('a prompt longer than the context is a 400 context_length_exceeded naming the problem', async () => {
    const error = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: long }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'messages' });
    expect((error as Error).message).toMatch(new RegExp(`prompt has \\d+ tokens; tiny:latest holds ${CONTEXT}`));
    const viaOllama = await ollama.generate({ model: 'tiny', prompt: long }).catch((e: unknown) => e);
    expect(viaOllama).toMatchObject({ status_code: 400 });
    expect((viaOllama as Error).message).toContain('Shorten prompt');
    expect(busySlots()).toBe(0);
  });

  it('a corrupt GGUF fails clearly while the other model serves and the process survives', async () => {
    const error = await openai.chat.completions.create({ model: 'broken', messages: HELLO, max_tokens: 2 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, code: 'backend_error' });
    expect((error as Error).message).toContain('broken.gguf');
    expect((error as Error).message).toContain('is not a valid GGUF model file');
    const viaOllama = await ollama.chat({ model: 'broken', messages: HELLO }).catch((e: unknown) => e);
    expect((viaOllama as Error).message).toContain('broken.gguf');
    // A file that is no GGUF at all is not listed, so it is an unknown model.
    const notes = await openai.chat.completions.create({ model: 'notes', messages: HELLO }).catch((e: unknown) => e);
    expect(notes).toBeInstanceOf(OpenAI.NotFoundError);
    const ok = await openai.chat.completions.create({ model: 'tiny', messages: HELLO, max_tokens: 4 });
    expect(ok.usage!.completion_tokens).toBe(4);
    expect((await backend.loadedModels()).map((m) => m.name)).toEqual(['tiny:latest']);
  });
});
