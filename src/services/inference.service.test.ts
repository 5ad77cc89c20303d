import { describe, expect, it } from 'vitest';
import type { Backend } from '../backends/backend.js';
import { FlexiError } from '../core/errors.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import type { UsageEntry } from '../core/usage.js';
import type { Dispatcher, ReleaseOutcome } from './dispatcher.js';
import { InferenceService, type RequestContext } from './inference.service.js';
import type { ModelEntry, ModelRegistry } from './model-registry.service.js';

const DONE: ChatEvent = {
  type: 'done', finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 2 }, timings: {},
} as ChatEvent;

/** One node whose chat() plays `script`; a function entry throws its error at that point. */
function setup(script: (ChatEvent | (() => never))[]) {
  const releases: ReleaseOutcome[] = [];
  const usage: UsageEntry[] = [];
  let backendReturned = 0;
  const backend = {
    name: 'node-a',
    chat: () => (async function* () {
      try {
        for (const step of script) {
          if (typeof step === 'function') step();
          else yield step;
        }
      } finally {
        backendReturned++;
      }
    })(),
  } as unknown as Backend;
  const entry: ModelEntry = { name: 'tiny:latest', info: { name: 'tiny:latest' } as ModelEntry['info'], nodes: [backend], aliases: [] };
  const registry = { get: async () => entry } as unknown as ModelRegistry;
  const dispatcher: Dispatcher = {
    acquire: async () => ({ backend, queueMs: 0, release: (outcome) => releases.push(outcome), firstToken: () => undefined, retryElsewhere: async () => undefined }),
    inFlight: () => new Map(),
  };
  const service = new InferenceService({ registry, dispatcher, usage: { record: (e) => usage.push(e) }, retryBeforeFirstByte: false });
  const controller = new AbortController();
  const context: RequestContext = {
    requestId: 'req_1', endpoint: '/v1/chat/completions', protocol: 'openai', requester: { subject: 'u' },
    signal: controller.signal, startedAtMs: performance.now(),
  };
  const request = { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], options: {} } as unknown as ChatRequest;
  return { service, context, request, releases, usage, backendReturned: () => backendReturned };
}

const delta = (content: string): ChatEvent => ({ type: 'delta', content });

describe('InferenceService stream accounting', () => {
  it('passes every event through and accounts once, after done, with the node\'s usage', async () => {
    const t = setup([delta('a'), delta('b'), DONE]);
    const started = await t.service.startChat(t.request, t.context);
    const events: ChatEvent[] = [started.first];
    for await (const event of started.events) events.push(event);
    expect(events).toEqual([delta('a'), delta('b'), DONE]);
    expect(t.releases).toEqual([{ ok: true, usage: { promptTokens: 3, completionTokens: 2, loadMs: undefined } }]);
    expect(t.usage.map((u) => [u.status, u.promptTokens, u.completionTokens])).toEqual([[200, 3, 2]]);
    expect(await started.events.next()).toEqual({ done: true, value: undefined });
    expect(t.releases).toHaveLength(1);
    expect(t.backendReturned()).toBe(1);
  });

  it('records a consumer that stops early as client_closed_request and cancels the backend', async () => {
    const t = setup([delta('a'), delta('b'), delta('c'), DONE]);
    const started = await t.service.startChat(t.request, t.context);
    for await (const event of started.events) {
      expect(event).toEqual(delta('b'));
      break;
    }
    expect(t.releases).toEqual([{ ok: true }]);
    expect(t.usage.map((u) => [u.status, u.errorCode, u.completionTokens])).toEqual([[499, 'client_closed_request', 1]]);
    await started.events.return();
    expect(t.usage).toHaveLength(1);
    expect(t.backendReturned()).toBe(1);
  });

  it('turns a failure after the first event into a FlexiError and counts it against the node', async () => {
    const t = setup([delta('a'), () => { throw new FlexiError('backend_error', 'node fell over'); }]);
    const started = await t.service.startChat(t.request, t.context);
    await expect(started.events.next()).rejects.toMatchObject({ code: 'backend_error' });
    expect(t.releases).toEqual([{ ok: false }]);
    expect(t.usage.map((u) => [u.status, u.errorCode])).toEqual([[502, 'backend_error']]);
    expect(await started.events.next()).toEqual({ done: true, value: undefined });
    expect(t.usage).toHaveLength(1);
  });

  it('fails a stream that ends without a done event', async () => {
    const t = setup([delta('a')]);
    const started = await t.service.startChat(t.request, t.context);
    await expect(started.events.next()).rejects.toThrow(/without a final event/);
    expect(t.releases).toEqual([{ ok: false }]);
  });
});
