import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LLAMA2_CHAT_TEMPLATE, writeTinyLlamaGguf } from '../../../test/helpers/gguf-writer.js';
import { FlexiError } from '../../core/errors.js';
import type { ChatEvent, ChatRequest } from '../../core/types.js';
import { loadConfig } from '../../config/load.js';
import { createEmbeddedBackend, EmbeddedBackend, type EmbeddedBackendOptions } from './embedded.backend.js';
import type { Timers } from './model-residency.js';

// Created at collection time: describe blocks build their backends before beforeAll runs.
const dir = mkdtempSync(join(tmpdir(), 'flexi-embedded-'));

function makeBackend(overrides: Partial<EmbeddedBackendOptions> = {}): EmbeddedBackend {
  return new EmbeddedBackend({
    name: 'embedded-test', modelsDir: dir, slots: 2, contextSize: 256, gpu: 'cpu', threads: 1,
    keepAliveSeconds: -1, memoryBudgetBytes: 1 << 30, ignoreEos: true, ...overrides,
  });
}

async function collect(stream: AsyncIterable<ChatEvent>) {
  const deltas: string[] = [];
  let done: Extract<ChatEvent, { type: 'done' }> | undefined;
  for await (const event of stream) {
    if (event.type === 'delta') deltas.push(event.content ?? '');
    else done = event;
  }
  if (!done) throw new Error('stream ended without done');
  return { text: deltas.join(''), deltas, done };
}

function chatRequest(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: 'tiny', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello world' }],
    options: { temperature: 0, maxTokens: 12 }, ...overrides,
  };
}

async function errorOf(promise: Promise<unknown>): Promise<FlexiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FlexiError);
  return error as FlexiError;
}

const signal = () => new AbortController().signal;

beforeAll(() => {
  writeTinyLlamaGguf(join(dir, 'tiny.gguf'), { chatTemplate: LLAMA2_CHAT_TEMPLATE, license: 'mit', seed: 1 });
  writeTinyLlamaGguf(join(dir, 'plain.gguf'), { weightType: 'F16', seed: 2 });
  writeFileSync(join(dir, 'notes.gguf'), 'this is not a model\n');
  const whole = readFileSync(join(dir, 'tiny.gguf'));
  writeFileSync(join(dir, 'truncated.gguf'), whole.subarray(0, Math.floor(whole.length / 2)));
  writeFileSync(join(dir, 'readme.txt'), 'ignored');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('EmbeddedBackend model files', () => {
  it('lists every readable .gguf with its header metadata and leaves out non-GGUF files', async () => {
    const backend = makeBackend();
    const models = await backend.listModels();
    const names = models.map((m) => m.name);
    expect(names).toContain('tiny:latest');
    expect(names).toContain('plain:latest');
    expect(names).not.toContain('notes:latest');
    const tiny = models.find((m) => m.name === 'tiny:latest')!;
    expect(tiny).toMatchObject({ format: 'gguf', family: 'llama', quantization: 'Q8_0', contextLength: 256, parameterSize: '120.6K' });
    expect(models.find((m) => m.name === 'plain:latest')!.quantization).toBe('F16');
  });

  it('shows template, licence and GGUF keys', async () => {
    const details = await makeBackend().showModel('tiny');
    expect(details.template).toBe(LLAMA2_CHAT_TEMPLATE);
    expect(details.license).toBe('mit');
    expect(details.modelInfo?.['general.architecture']).toBe('llama');
    expect(details.modelInfo?.['llama.embedding_length']).toBe(64);
    expect(details.modelInfo?.['general.parameter_count']).toBe(120640);
  });

  it('is built from a node and the embedded config section', async () => {
    const config = loadConfig({ fileText: `embedded:\n  context_size: 512\n  threads: 2\nnodes:\n  - {name: local, type: embedded, models_dir: ${JSON.stringify(dir)}, slots: 3}\n` });
    const backend = createEmbeddedBackend(config.nodes![0]!, config);
    expect(backend).toMatchObject({ name: 'local', type: 'embedded', modelsDir: dir, threads: 2 });
    const health = await backend.health();
    expect(health.ok).toBe(true);
    expect(health.version).toContain('node-llama-cpp');
    // A folder that does not exist yet (a fresh installation) is a node without models, not a dead one.
    const missing = createEmbeddedBackend({ name: 'x', type: 'embedded', models_dir: join(dir, 'absent') }, config);
    expect(await missing.health()).toMatchObject({ ok: true, message: expect.stringContaining('does not exist yet') });
    expect(await missing.listModels()).toEqual([]);
    writeFileSync(join(dir, 'not-a-folder'), 'x');
    const unreadable = createEmbeddedBackend({ name: 'y', type: 'embedded', models_dir: join(dir, 'not-a-folder') }, config);
    expect((await unreadable.health()).ok).toBe(false);
  });

  it('answers model_not_found for a model that has no file', async () => {
    expect((await errorOf(makeBackend().showModel('missing'))).code).toBe('model_not_found');
  });
});

describe('EmbeddedBackend inference', () => {
  const backend = makeBackend();
  afterAll(() => backend.close());

  it('chats deterministically at temperature 0 with usage and timings', async () => {
    const first = await collect(backend.chat(chatRequest(), signal()));
    const second = await collect(backend.chat(chatRequest(), signal()));
    expect(first.text.length).toBeGreaterThan(0);
    expect(second.text).toBe(first.text);
    expect(first.done.finishReason).toBe('length');
    expect(first.done.usage.completionTokens).toBe(12);
    expect(first.done.usage.promptTokens).toBeGreaterThan(10);
    expect(first.done.timings.totalNs).toBeGreaterThan(0);
    expect(first.deltas.length).toBeGreaterThan(1);
  });

  it('completes raw text deterministically and honours a seed', async () => {
    const request = { model: 'plain:latest', prompt: 'hello', raw: true, options: { temperature: 0, maxTokens: 10 } };
    const a = await collect(backend.complete(request, signal()));
    const b = await collect(backend.complete(request, signal()));
    expect(a.text).toBe(b.text);
    expect(a.done.usage.completionTokens).toBe(10);
    const seeded = { ...request, options: { temperature: 1, seed: 7, maxTokens: 10 } };
    expect((await collect(backend.complete(seeded, signal()))).text).toBe((await collect(backend.complete(seeded, signal()))).text);
  });

  it('stops at a stop sequence and reports finish reason stop', async () => {
    const full = await collect(backend.complete({ model: 'tiny', prompt: 'hello', raw: true, options: { temperature: 0, maxTokens: 30 } }, signal()));
    const stop = [...full.text.slice(2)].find((c) => /[!-~]/.test(c));
    expect(stop).toBeDefined();
    const cut = await collect(backend.complete({ model: 'tiny', prompt: 'hello', raw: true, options: { temperature: 0, maxTokens: 30, stop: [stop!] } }, signal()));
    expect(cut.text).toBe(full.text.slice(0, full.text.indexOf(stop!)));
    expect(cut.done.finishReason).toBe('stop');
  });

  it('constrains output to JSON in JSON mode', async () => {
    const result = await collect(backend.chat(chatRequest({ responseFormat: { type: 'json' }, options: { temperature: 0, maxTokens: 60 } }), signal()));
    expect(result.text.trimStart().startsWith('{')).toBe(true);
    if (result.done.finishReason === 'stop') expect(() => JSON.parse(result.text) as unknown).not.toThrow();
  });

  it('runs concurrent requests beyond the slots and gives each the sequential answer', async () => {
    const alone = await collect(backend.chat(chatRequest(), signal()));
    const results = await Promise.all(Array.from({ length: 5 }, () => collect(backend.chat(chatRequest(), signal()))));
    for (const result of results) {
      expect(result.done.usage.completionTokens).toBe(12);
      expect(result.text).toBe(alone.text);
    }
  });

  it('cancellation ends the stream with client_closed_request and frees the slot at once', async () => {
    const single = makeBackend({ slots: 1 });
    try {
      const controller = new AbortController();
      const stream = single.chat(chatRequest({ options: { temperature: 0, maxTokens: 200 } }), controller.signal);
      const error = await errorOf((async () => {
        for await (const event of stream) if (event.type === 'delta') controller.abort();
      })());
      expect(error.code).toBe('client_closed_request');
      // With one slot, this only finishes if the aborted request gave it back.
      const next = await collect(single.chat(chatRequest(), signal()));
      expect(next.done.usage.completionTokens).toBe(12);
    } finally {
      await single.close();
    }
  });

  it('frees the slot when the consumer stops iterating early', async () => {
    const single = makeBackend({ slots: 1 });
    try {
      for await (const event of single.chat(chatRequest({ options: { temperature: 0, maxTokens: 200 } }), signal())) {
        if (event.type === 'delta') break;
      }
      expect((await collect(single.chat(chatRequest(), signal()))).done.usage.completionTokens).toBe(12);
    } finally {
      await single.close();
    }
  });

  it('embeds to vectors of the embedding width, deterministically', async () => {
    const result = await backend.embed({ model: 'tiny', input: ['hello world', 'the test'] }, signal());
    expect(result.embeddings).toHaveLength(2);
    expect(result.embeddings[0]).toHaveLength(64);
    expect(result.embeddings.flat().every(Number.isFinite)).toBe(true);
    expect(result.promptTokens).toBeGreaterThan(0);
    const again = await backend.embed({ model: 'tiny', input: ['hello world'] }, signal());
    expect(again.embeddings[0]).toEqual(result.embeddings[0]);
  });
});

describe('EmbeddedBackend bad input', () => {
  const backend = makeBackend();
  afterAll(() => backend.close());

  it('rejects a prompt longer than the context with context_length_exceeded', async () => {
    const long = 'hello world '.repeat(100);
    const error = await errorOf(collect(backend.chat(chatRequest({ messages: [{ role: 'user', content: long }] }), signal())));
    expect(error.code).toBe('context_length_exceeded');
    expect(error.param).toBe('messages');
    const embedError = await errorOf(backend.embed({ model: 'tiny', input: [long], truncate: false }, signal()));
    expect(embedError.code).toBe('context_length_exceeded');
  });

  it('fails a non-GGUF and a truncated file with backend_error while other models keep serving', async () => {
    const notGguf = await errorOf(collect(backend.chat(chatRequest({ model: 'notes' }), signal())));
    expect(notGguf.code).toBe('backend_error');
    expect(notGguf.message).toContain('notes.gguf');
    const truncated = await errorOf(collect(backend.chat(chatRequest({ model: 'truncated' }), signal())));
    expect(truncated.code).toBe('backend_error');
    expect((await collect(backend.chat(chatRequest(), signal()))).done.usage.completionTokens).toBe(12);
  });

  it('refuses a model larger than the memory budget with a message naming the setting', async () => {
    const small = makeBackend({ memoryBudgetBytes: 1000 });
    const error = await errorOf(collect(small.chat(chatRequest(), signal())));
    expect(error.code).toBe('backend_error');
    expect(error.message).toContain('memory_budget_bytes');
  });

  it('forces a call to the named tool with arguments that fit its schema', async () => {
    // A random model wanders inside the grammar: bounded strings let it finish within max_tokens.
    const weather = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['C', 'F'] } }, required: ['city', 'unit'] } };
    const events: ChatEvent[] = [];
    for await (const event of backend.chat(chatRequest({ tools: [{ name: 'other' }, weather], toolChoice: { name: 'get_weather' }, options: { maxTokens: 200, temperature: 0 } }), signal())) events.push(event);
    const calls = events.flatMap((e) => (e.type === 'delta' ? e.toolCalls ?? [] : []));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.name).toBe('get_weather');
    const args = JSON.parse(calls[0]!.arguments) as { city: unknown; unit: unknown };
    expect(typeof args.city).toBe('string');
    expect(['C', 'F']).toContain(args.unit);
    expect(events.filter((e) => e.type === 'delta' && e.content)).toHaveLength(0);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
  });

  it('refuses tool_choice naming a tool that was not offered, and images', async () => {
    const tools = await errorOf(collect(backend.chat(chatRequest({ tools: [{ name: 'f' }], toolChoice: { name: 'g' } }), signal())));
    expect(tools.param).toBe('tool_choice');
    const images = await errorOf(collect(backend.chat(chatRequest({ messages: [{ role: 'user', content: 'x', images: ['AAAA'] }] }), signal())));
    expect(images.param).toBe('messages[0].images');
  });
});

describe('EmbeddedBackend residency', () => {
  function manualTimers() {
    const pending = new Map<number, () => void>();
    let next = 0;
    const timers: Timers = {
      setTimeout: (callback) => { pending.set(++next, callback); return next; },
      clearTimeout: (handle) => { pending.delete(handle as number); },
    };
    const fireAll = () => { for (const [id, callback] of [...pending]) { pending.delete(id); callback(); } };
    return { timers, fireAll, pending };
  }

  it('unloads after the reply with keep_alive 0 and keeps the model with a negative keep_alive', async () => {
    const backend = makeBackend();
    try {
      await collect(backend.chat(chatRequest({ keepAliveSeconds: 0 }), signal()));
      expect(await backend.loadedModels()).toEqual([]);
      await collect(backend.chat(chatRequest({ keepAliveSeconds: -1 }), signal()));
      const loaded = await backend.loadedModels();
      expect(loaded.map((m) => m.name)).toEqual(['tiny:latest']);
      expect(loaded[0]!.expiresAt).toBeUndefined();
    } finally {
      await backend.close();
    }
  });

  it('unloads when keep_alive expires and loads/unloads through setResidency', async () => {
    const { timers, fireAll, pending } = manualTimers();
    const backend = makeBackend({ timers, keepAliveSeconds: 300 });
    try {
      await backend.setResidency('tiny', 60);
      const [loaded] = await backend.loadedModels();
      expect(loaded?.expiresAt).toBeInstanceOf(Date);
      expect(pending.size).toBe(1);
      fireAll();
      expect(await backend.loadedModels()).toEqual([]);
      await backend.setResidency('plain', -1);
      expect((await backend.loadedModels()).map((m) => m.name)).toEqual(['plain:latest']);
      await backend.setResidency('plain', 0);
      expect(await backend.loadedModels()).toEqual([]);
    } finally {
      await backend.close();
    }
  });

  it('evicts the least recently used idle model when the memory budget is full', async () => {
    const backend = makeBackend({ memoryBudgetBytes: 600_000 });
    try {
      await backend.setResidency('tiny', -1);
      await backend.setResidency('plain', -1);
      expect((await backend.loadedModels()).map((m) => m.name)).toEqual(['plain:latest']);
    } finally {
      await backend.close();
    }
  });
});
