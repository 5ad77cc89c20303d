import { describe, expect, it } from 'vitest';
import type { Backend } from '../../backends/backend.js';
import { FlexiError } from '../../core/errors.js';
import type { ChatEvent, ChatRequest } from '../../core/types.js';
import type { UsageEntry } from '../../core/usage.js';
import type { Admission, AdmissionTicket, AdmitRequest, Principal } from '../identity/access-control.service.js';
import type { AcquireArgs, Dispatcher, ReleaseOutcome } from './dispatcher.js';
import { DEFAULT_IMAGE_RULES, InferenceService, type QueueNotice, type RequestContext } from './inference.service.js';
import type { ModelEntry, ModelRegistry } from './model-registry.service.js';
import { VirtualModels, type VirtualModelProvider, type VirtualPlan } from './virtual-models.js';

const DONE: ChatEvent = {
  type: 'done', finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 2 }, timings: {},
} as ChatEvent;

const RATE_LIMIT = { 'x-ratelimit-limit-requests': '5', 'x-ratelimit-remaining-requests': '4' };

/** Admits everything (or refuses with `refusal`) and records what became of each ticket. */
function recordingAdmission(refusal?: FlexiError) {
  const admitted: AdmitRequest[] = [];
  const ends: string[] = [];
  const admission: Admission = {
    admit: async (_principal, request): Promise<AdmissionTicket> => {
      if (refusal) throw refusal;
      admitted.push(request);
      return {
        maxTokens: 64, rateLimit: RATE_LIMIT,
        settle: (usage) => ends.push(`settle ${usage.promptTokens}+${usage.completionTokens}`),
        cancel: () => ends.push('cancel'),
      };
    },
    authorize: () => undefined,
  };
  return { admission, admitted, ends };
}

/** One node whose chat() plays `script`; a function entry throws its error at that point. */
function setup(script: (ChatEvent | (() => never))[], options: { refusal?: FlexiError; notices?: QueueNotice[]; virtual?: VirtualModelProvider[] } = {}) {
  const releases: ReleaseOutcome[] = [];
  const usage: UsageEntry[] = [];
  let backendReturned = 0;
  const sent: ChatRequest[] = [];
  const backend = {
    name: 'node-a',
    chat: (request: ChatRequest) => {
      sent.push(request);
      return (async function* () {
        try {
          for (const step of script) {
            if (typeof step === 'function') step();
            else yield step;
          }
        } finally {
          backendReturned++;
        }
      })();
    },
  } as unknown as Backend;
  const entry: ModelEntry = { name: 'tiny:latest', info: { name: 'tiny:latest' } as ModelEntry['info'], nodes: [backend], aliases: [] };
  const registry = { get: async () => entry } as unknown as ModelRegistry;
  const acquired: AcquireArgs[] = [];
  const dispatcher: Dispatcher = {
    acquire: async (args) => {
      acquired.push(args);
      args.onWaiting?.({ position: 2, estimatedWaitMs: 500 });
      return { backend, queueMs: 0, release: (outcome) => releases.push(outcome), firstToken: () => undefined, retryElsewhere: async () => undefined };
    },
    inFlight: () => new Map(),
  };
  const { admission, admitted, ends } = recordingAdmission(options.refusal);
  const service = new InferenceService({
    registry, dispatcher, admission, usage: { record: (e) => usage.push(e) }, retryBeforeFirstByte: false, images: DEFAULT_IMAGE_RULES,
    virtualModels: new VirtualModels(options.virtual),
  });
  const controller = new AbortController();
  const principal = { subject: 'u', priorityClass: 'interactive', policy: { maxConcurrent: 2 } } as unknown as Principal;
  const context: RequestContext = {
    requestId: 'req_1', endpoint: '/v1/chat/completions', protocol: 'openai', principal,
    signal: controller.signal, startedAtMs: performance.now(),
    onWaiting: options.notices && ((notice) => options.notices!.push(notice)),
  };
  const request = { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], options: {} } as unknown as ChatRequest;
  return { service, context, request, releases, usage, acquired, admitted, ends, sent, backendReturned: () => backendReturned };
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

describe('InferenceService admission', () => {
  it('admits the resolved model, caps max tokens with the ticket, and returns its rate limits on the started generation', async () => {
    const t = setup([delta('a'), DONE]);
    const started = await t.service.startChat(t.request, t.context);
    expect(t.admitted).toEqual([{ endpoint: '/v1/chat/completions', model: 'tiny:latest', maxTokens: undefined, promptTokens: expect.any(Number), inputParam: 'messages' }]);
    expect(started.rateLimit).toEqual(RATE_LIMIT);
    expect(t.sent.map((r) => [r.model, r.options.maxTokens])).toEqual([['tiny:latest', 64]]);
    expect(t.acquired[0]!.requester).toEqual({ subject: 'u', priorityClass: 'interactive', maxConcurrent: 2 });
    for await (const event of started.events) void event;
    expect(t.ends).toEqual(['settle 3+2']);
  });

  it('settles the ticket once with the prompt estimate when the consumer stops early', async () => {
    const t = setup([delta('a'), delta('b'), DONE]);
    const started = await t.service.startChat(t.request, t.context);
    await started.events.return();
    await started.events.return();
    expect(t.ends).toHaveLength(1);
    expect(t.ends[0]).toMatch(/^settle \d+\+0$/);
  });

  it('cancels the ticket once when the node fails before the first event, and the error carries the rate limits', async () => {
    const t = setup([() => { throw new FlexiError('backend_error', 'node fell over'); }]);
    const error = await t.service.startChat(t.request, t.context).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'backend_error', headers: RATE_LIMIT });
    expect(t.ends).toEqual(['cancel']);
    expect(t.releases).toEqual([{ ok: false }]);
  });

  it('never waits for a node when admission refuses', async () => {
    const refusal = new FlexiError('rate_limit_exceeded', 'slow down', { retryAfterSeconds: 3 });
    const t = setup([delta('a'), DONE], { refusal });
    await expect(t.service.startChat(t.request, t.context)).rejects.toBe(refusal);
    expect(t.acquired).toHaveLength(0);
    expect(t.usage).toHaveLength(0);
  });

  it('tells a waiting request its queue position together with its rate limits', async () => {
    const notices: QueueNotice[] = [];
    const t = setup([delta('a'), DONE], { notices });
    await t.service.startChat(t.request, t.context);
    expect(notices).toEqual([{ position: 2, estimatedWaitMs: 500, rateLimit: RATE_LIMIT }]);
  });
});

describe('InferenceService virtual models', () => {
  const SOURCES = [{ index: 1, document: 'script.pdf', page: 4, excerpt: 'Die Anmeldung endet am 1. Juni.' }];

  /** A provider for `bot:<name>` that plans `plan` (and remembers what it was asked). */
  function provider(plan: (name: string, request: ChatRequest) => VirtualPlan) {
    const asked: { name: string; params?: Record<string, unknown> }[] = [];
    const bot: VirtualModelProvider = {
      prefix: 'bot',
      list: async () => [{ name: 'bot:algebra' }],
      plan: async (name, request) => {
        asked.push({ name, params: request.params });
        if (name !== 'algebra') throw new FlexiError('model_not_found', `The model 'bot:${name}' does not exist.`, { param: 'model' });
        return plan(name, request);
      },
    };
    return { bot, asked };
  }

  async function drain(events: AsyncGenerator<ChatEvent, void, undefined>): Promise<ChatEvent[]> {
    const out: ChatEvent[] = [];
    for await (const event of events) out.push(event);
    return out;
  }

  it('runs the planned request on the real model, accounts it to the plan\'s group, and puts the annotations on done', async () => {
    const { bot, asked } = provider((_name, request) => ({
      kind: 'generate', groupId: 'g_course', annotations: { sources: SOURCES },
      request: { ...request, model: 'tiny', messages: [{ role: 'system', content: 'excerpts' }, ...request.messages] },
    }));
    const t = setup([{ type: 'delta', content: 'Am 1. Juni [1].' }, DONE], { virtual: [bot] });
    const started = await t.service.startChat({ ...t.request, model: 'bot:algebra', params: { week: 3 } }, t.context);
    const rest = await drain(started.events);
    expect(asked).toEqual([{ name: 'algebra', params: { week: 3 } }]);
    expect(t.sent[0]!.messages[0]).toEqual({ role: 'system', content: 'excerpts' });
    expect(t.sent[0]!.model).toBe('tiny:latest');
    expect(rest.at(-1)).toMatchObject({ type: 'done', annotations: { sources: SOURCES } });
    expect(t.admitted.map((a) => a.model)).toEqual(['tiny:latest']);
    expect(t.usage).toHaveLength(1);
    expect(t.usage[0]).toMatchObject({ model: 'tiny:latest', groupId: 'g_course', status: 200 });
  });

  it('answers a planned answer without admission or a node, and still records the request', async () => {
    const { bot } = provider(() => ({ kind: 'answer', content: 'Dazu steht nichts im Material.', groupId: 'g_course', annotations: { sources: [], refused: true } }));
    const t = setup([DONE], { virtual: [bot] });
    const started = await t.service.startChat({ ...t.request, model: 'bot:algebra' }, t.context);
    expect(started.first).toEqual({ type: 'delta', content: 'Dazu steht nichts im Material.' });
    const rest = await drain(started.events);
    expect(rest).toEqual([expect.objectContaining({ type: 'done', annotations: { sources: [], refused: true } })]);
    expect(t.acquired).toHaveLength(0);
    expect(t.admitted).toHaveLength(0);
    expect(t.usage[0]).toMatchObject({ model: 'bot:algebra', groupId: 'g_course', promptTokens: 0, completionTokens: 0 });
  });

  it('turns a completion for a virtual model into a chat with the system text and the prompt', async () => {
    const { bot } = provider((_name, request) => ({ kind: 'generate', request: { ...request, model: 'tiny' } }));
    const t = setup([{ type: 'delta', content: 'ok' }, DONE], { virtual: [bot] });
    const started = await t.service.startCompletion({ model: 'bot:algebra', prompt: 'Was ist ein Ring?', system: 'Sei kurz.', options: {} }, t.context);
    await drain(started.events);
    expect(t.sent[0]!.messages).toEqual([{ role: 'system', content: 'Sei kurz.' }, { role: 'user', content: 'Was ist ein Ring?' }]);
  });

  it('passes the provider\'s refusal through (404 for a bot the principal may not use) and lists what it may use', async () => {
    const { bot } = provider(() => ({ kind: 'answer', content: '' }));
    const t = setup([DONE], { virtual: [bot] });
    await expect(t.service.startChat({ ...t.request, model: 'bot:secret' }, t.context)).rejects.toMatchObject({ code: 'model_not_found' });
    await expect(t.service.startChat({ ...t.request, model: 'bot:' }, t.context)).rejects.toMatchObject({ code: 'model_not_found' });
    expect(await t.service.listVirtualModels(t.context.principal)).toEqual([{ name: 'bot:algebra' }]);
    expect(t.acquired).toHaveLength(0);
  });

  it('leaves names with an unknown prefix to the registry', async () => {
    const { bot, asked } = provider(() => ({ kind: 'answer', content: '' }));
    const t = setup([{ type: 'delta', content: 'x' }, DONE], { virtual: [bot] });
    const started = await t.service.startChat({ ...t.request, model: 'llama3:8b' }, t.context);
    await drain(started.events);
    expect(asked).toHaveLength(0);
    expect(t.sent).toHaveLength(1);
  });
});
