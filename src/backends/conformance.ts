import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlexiError } from '../core/errors.js';
import { toCanonicalModelName } from '../core/model-name.js';
import type { ChatEvent, ChatRequest, Usage } from '../core/types.js';
import type { Backend } from './backend.js';

/**
 * The suite every Backend adapter passes (DESIGN.md §2). Used only by tests: it imports Vitest.
 * Call it from a test file with a setup that starts the adapter against some upstream.
 */

export interface ConformanceTarget {
  backend: Backend;
  /** A model that chats and completes (canonical or short name). */
  chatModel: string;
  /** A model that embeds. */
  embedModel: string;
  close(): Promise<void>;
  /** Requests the upstream received so far; lets the suite prove a pre-aborted request never left. */
  upstreamRequestCount?: () => number | Promise<number>;
  /** Generations the upstream is serving now; lets the suite prove an abort reached it. */
  upstreamInFlight?: () => number | Promise<number>;
}

interface Collected {
  text: string;
  events: ChatEvent[];
  done: Extract<ChatEvent, { type: 'done' }>;
}

async function collect(stream: AsyncIterable<ChatEvent>): Promise<Collected> {
  const events: ChatEvent[] = [];
  let text = '';
  for await (const event of stream) {
    events.push(event);
    if (event.type === 'delta' && event.content !== undefined) text += event.content;
  }
  const dones = events.filter((e) => e.type === 'done');
  expect(dones, 'exactly one done event').toHaveLength(1);
  expect(events.at(-1)?.type, 'done is the last event').toBe('done');
  return { text, events, done: dones[0] as Collected['done'] };
}

function expectUsage(usage: Usage): void {
  expect(usage.promptTokens).toBeGreaterThan(0);
  expect(usage.completionTokens).toBeGreaterThan(0);
}

async function expectFlexiError(promise: Promise<unknown>, code: FlexiError['code']): Promise<FlexiError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error, `expected FlexiError ${code}`).toBeInstanceOf(FlexiError);
  expect((error as FlexiError).code).toBe(code);
  return error as FlexiError;
}

/** Polls a condition the upstream exposes; bounded, so a broken adapter fails instead of hanging. */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return check();
}

const never = (): AbortSignal => new AbortController().signal;

export function describeBackendConformance(label: string, setup: () => Promise<ConformanceTarget>): void {
  describe(`Backend conformance: ${label}`, () => {
    let target: ConformanceTarget;
    let backend: Backend;
    const chatRequest = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
      model: target.chatModel,
      messages: [{ role: 'user', content: 'Say a few words.' }],
      options: {},
      ...overrides,
    });

    beforeAll(async () => {
      target = await setup();
      backend = target.backend;
    });
    afterAll(async () => {
      await target?.close();
    });

    it('a forced tool call (tool_choice names it) arrives whole: one call, JSON arguments fitting the schema, finish tool_calls', async () => {
      // Bounded strings and enums: a grammar-forced random model (embedded) must be able to finish.
      const weather = {
        name: 'get_weather', description: 'Current weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['C', 'F'] } }, required: ['city', 'unit'] },
      };
      const other = { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string', maxLength: 8 } }, required: ['zone'] } };
      const { events, done } = await collect(backend.chat(chatRequest({
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools: [weather, other], toolChoice: { name: 'get_weather' },
        options: { maxTokens: 200, temperature: 0 },
      }), never()));
      const calls = events.flatMap((e) => (e.type === 'delta' ? e.toolCalls ?? [] : []));
      expect(done.finishReason).toBe('tool_calls');
      expect(calls).toHaveLength(1);
      expect(calls[0]!.name).toBe('get_weather');
      expect(calls[0]!.id).not.toBe('');
      const args = JSON.parse(calls[0]!.arguments) as Record<string, unknown>;
      expect(typeof args.city).toBe('string');
      expect(['C', 'F']).toContain(args.unit);
    });
    it('lists models under canonical names with a tag', async () => {
      const models = await backend.listModels();
      expect(models.length).toBeGreaterThan(0);
      for (const model of models) expect(model.name).toBe(toCanonicalModelName(model.name));
      const names = models.map((m) => m.name);
      expect(names).toContain(toCanonicalModelName(target.chatModel));
      expect(names).toContain(toCanonicalModelName(target.embedModel));
    });

    it('streams a chat as deltas ending in exactly one done with usage', async () => {
      const { text, events, done } = await collect(backend.chat(chatRequest({ options: { maxTokens: 16 } }), never()));
      expect(text.length).toBeGreaterThan(0);
      expect(events.filter((e) => e.type === 'delta').length).toBeGreaterThan(0);
      expect(['stop', 'length']).toContain(done.finishReason);
      expectUsage(done.usage);
    });

    it('stops at a stop sequence', async () => {
      const seed = 7;
      const free = await collect(backend.chat(chatRequest({ options: { seed, temperature: 0, maxTokens: 24 } }), never()));
      const words = free.text.trim().split(/\s+/);
      expect(words.length, 'needs a few words to pick a stop word from').toBeGreaterThanOrEqual(3);
      const stopWord = words[2]!;
      const stopped = await collect(backend.chat(chatRequest({ options: { seed, temperature: 0, maxTokens: 24, stop: [stopWord] } }), never()));
      expect(stopped.text).not.toContain(stopWord);
      expect(free.text.startsWith(stopped.text)).toBe(true);
      expect(stopped.done.finishReason).toBe('stop');
    });

    it('ends with finishReason length at maxTokens', async () => {
      const { done } = await collect(backend.chat(chatRequest({ options: { maxTokens: 3 } }), never()));
      expect(done.finishReason).toBe('length');
      expect(done.usage.completionTokens).toBeGreaterThan(0);
      expect(done.usage.completionTokens).toBeLessThanOrEqual(3);
    });

    it('gives the same text for the same seed', async () => {
      const options = { seed: 1234, temperature: 0.8, maxTokens: 12 };
      const first = await collect(backend.chat(chatRequest({ options }), never()));
      const second = await collect(backend.chat(chatRequest({ options }), never()));
      expect(second.text).toBe(first.text);
    });

    it('completes a prompt', async () => {
      const { text, done } = await collect(backend.complete({ model: target.chatModel, prompt: 'Once upon a time', options: { maxTokens: 8 } }, never()));
      expect(text.length).toBeGreaterThan(0);
      expectUsage(done.usage);
    });

    it('embeds every input as finite numbers of one dimension', async () => {
      const result = await backend.embed({ model: target.embedModel, input: ['first', 'second', 'third'] }, never());
      expect(result.embeddings).toHaveLength(3);
      const dimension = result.embeddings[0]!.length;
      expect(dimension).toBeGreaterThan(0);
      for (const vector of result.embeddings) {
        expect(vector).toHaveLength(dimension);
        expect(vector.every((x) => typeof x === 'number' && Number.isFinite(x))).toBe(true);
      }
    });

    it('reports the chat model as loaded after using it', async () => {
      await collect(backend.chat(chatRequest({ options: { maxTokens: 2 } }), never()));
      const loaded = await backend.loadedModels();
      expect(loaded.map((m) => m.name)).toContain(toCanonicalModelName(target.chatModel));
    });

    it('shows a model', async () => {
      const details = await backend.showModel(target.chatModel);
      expect(details.name).toBe(toCanonicalModelName(target.chatModel));
    });

    it('is healthy', async () => {
      const health = await backend.health();
      expect(health.ok).toBe(true);
      expect(health.latencyMs).toBeGreaterThanOrEqual(0);
    });

    it('throws model_not_found for an unknown model', async () => {
      await expectFlexiError(collect(backend.chat(chatRequest({ model: 'no-such-model-xyz:latest' }), never())), 'model_not_found');
      await expectFlexiError(backend.showModel('no-such-model-xyz:latest'), 'model_not_found');
    });

    it('ends the stream promptly on abort and the upstream sees the disconnect', async () => {
      const controller = new AbortController();
      const iterator = backend.chat(chatRequest({ options: { maxTokens: 100_000 } }), controller.signal)[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      controller.abort();
      let error: unknown;
      for (let i = 0; i < 1000 && error === undefined; i++) {
        try {
          const next = await iterator.next();
          if (next.done === true) break;
          expect(next.value.type).toBe('delta');
        } catch (e) {
          error = e;
        }
      }
      expect(error).toBeInstanceOf(FlexiError);
      expect((error as FlexiError).code).toBe('client_closed_request');
      if (target.upstreamInFlight !== undefined) {
        const inFlight = target.upstreamInFlight;
        expect(await eventually(async () => (await inFlight()) === 0)).toBe(true);
      }
    });

    it('frees the request once done is delivered, even when the consumer reads no further', async () => {
      // The gateway stops iterating at `done`; an adapter must not hold the upstream slot until a
      // next() that never comes.
      const iterator = backend.chat(chatRequest({ options: { maxTokens: 4 } }), never())[Symbol.asyncIterator]();
      let sawDone = false;
      while (!sawDone) {
        const next = await iterator.next();
        if (next.done === true) break;
        sawDone = next.value.type === 'done';
      }
      expect(sawDone).toBe(true);
      if (target.upstreamInFlight !== undefined) {
        const inFlight = target.upstreamInFlight;
        expect(await eventually(async () => (await inFlight()) === 0)).toBe(true);
      }
    });

    it('never sends a request whose signal is already aborted', async () => {
      const before = await target.upstreamRequestCount?.();
      const controller = new AbortController();
      controller.abort();
      await expectFlexiError(collect(backend.chat(chatRequest(), controller.signal)), 'client_closed_request');
      await expectFlexiError(backend.embed({ model: target.embedModel, input: ['x'] }, controller.signal), 'client_closed_request');
      if (before !== undefined) expect(await target.upstreamRequestCount?.()).toBe(before);
    });
  });
}
