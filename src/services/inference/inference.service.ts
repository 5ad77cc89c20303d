import type { Backend } from '../../backends/backend.js';
import { FlexiError, isFlexiError, toFlexiError } from '../../core/errors.js';
import { checkMessageImages, modelWithoutVision, takesImages, type ImageLimits } from '../../core/images.js';
import type { ChatEvent, ChatRequest, CompletionRequest, EmbeddingRequest, EmbeddingResult } from '../../core/types.js';
import type { UsageEntry, UsageSink } from '../../core/usage.js';
import type { Admission, AdmissionTicket, Principal } from '../identity/access-control.service.js';
import type { Dispatcher, GenerationUsage, NodeLease, Requester } from './dispatcher.js';
import type { ModelEntry, ModelRegistry } from './model-registry.service.js';
import { estimateInputTokens } from './token-estimate.js';
import { completionAsChat, type VirtualModelInfo, type VirtualModelProvider, type VirtualModels } from './virtual-models.js';

/** What the http layer knows about a request: plain values, no callbacks into http/ but the queue notice. */
export interface RequestContext {
  requestId: string;
  endpoint: string;
  protocol: 'openai' | 'ollama';
  /** Who asks; admitted through the Admission port, and the scheduler's fair-share subject. */
  principal: Principal;
  /** Aborted when the client disconnects. */
  signal: AbortSignal;
  /** performance.now() when the request arrived. */
  startedAtMs: number;
  /** The group (course) the request is made for, when it is made for one: accounted to it. */
  groupId?: string;
  /**
   * Called while the request waits for a node. A callback because it is an event during the call,
   * not a result: a streamed reply writes it at once (a queue comment that keeps proxies from
   * cutting the connection), long before the started generation comes back.
   */
  onWaiting?: (notice: QueueNotice) => void;
}

/** Where a waiting request stands; the first notice may commit a streamed reply's headers. */
export interface QueueNotice {
  position: number;
  estimatedWaitMs?: number;
  /** The admission's rate-limit headers' values, for a reply that commits its headers now. */
  rateLimit: Record<string, string>;
}

/** A model-only request (Ollama load/unload): authorized, not admitted (it generates nothing). */
export type ResidencyContext = Pick<RequestContext, 'principal' | 'endpoint' | 'signal'>;

/** Observes every finished request (metrics). */
export interface GenerationObserver {
  onFinished(entry: UsageEntry): void;
}

/**
 * A generation whose first event has arrived: errors up to here had a proper HTTP status;
 * from here on, failures are thrown by `events` and become one in-band error frame.
 */
export interface StartedGeneration {
  first: ChatEvent;
  /** The remaining events; ends after `done`. Calling `return()` cancels upstream. */
  events: AsyncGenerator<ChatEvent, void, undefined>;
  model: string;
  node: string;
  queueMs: number;
  /** The admission's rate-limit headers' values; http/ writes them with the response. */
  rateLimit: Record<string, string>;
}

export interface InferenceServiceOptions {
  /** Course bots, prompt templates: names no node serves, planned into requests for real models. */
  virtualModels?: VirtualModels;
  registry: ModelRegistry;
  dispatcher: Dispatcher;
  /** Policy, rate limits and budgets, asked before a request may wait for a node. */
  admission: Admission;
  usage?: UsageSink;
  observer?: GenerationObserver;
  /** Retry once on another node when a request failed before its first byte. */
  retryBeforeFirstByte: boolean;
  /** Told when a request starts on a node (the energy meter: which requests share a GPU's energy). Synchronous and cheap. */
  energy?: { started(requestId: string, node: string): void };
  /** Image limits and the models the operator says take images (config `chat`). */
  images: ImageRules;
}

export interface ImageRules extends ImageLimits {
  /** Config `chat.vision_models`: globs of models that take images although their node does not say. */
  visionModels: readonly string[];
}

/** The config's defaults, for tests that build the service by hand. */
export const DEFAULT_IMAGE_RULES: ImageRules = { maxImageBytes: 4 * 1024 * 1024, maxImagesPerRequest: 8, visionModels: [] };

/** Failures that are the node's fault: they count against its health and may move the request. */
const NODE_FAULTS: ReadonlySet<string> = new Set(['backend_unavailable', 'backend_error', 'backend_timeout']);

/** An admission and the prompt estimate that settles it when a stream breaks off without usage. */
interface Admitted {
  ticket: AdmissionTicket;
  promptTokens: number;
}

type Invoke<R> = (backend: Backend, request: R, signal: AbortSignal) => AsyncIterable<ChatEvent>;

export class InferenceService {
  /** Requests already moved once (a request is retried at most once). */
  private readonly retried = new WeakSet<RequestContext>();

  constructor(private readonly options: InferenceServiceOptions) {}

  async startChat(request: ChatRequest, context: RequestContext): Promise<StartedGeneration> {
    const virtual = this.options.virtualModels?.match(request.model);
    if (virtual) return this.startVirtual(virtual.provider, virtual.name, request, context);
    return this.start(request, context, invokeChat);
  }

  async startCompletion(request: CompletionRequest, context: RequestContext): Promise<StartedGeneration> {
    const virtual = this.options.virtualModels?.match(request.model);
    if (virtual) return this.startVirtual(virtual.provider, virtual.name, completionAsChat(request), context);
    return this.start(request, context, (backend, req, signal) => backend.complete(req, signal));
  }

  /** Whether `model` names a virtual model (a course bot, a template): planned by its provider, served by no node. */
  isVirtualModel(model: string): boolean {
    try {
      return this.options.virtualModels?.match(model) !== undefined;
    } catch {
      return true; // `course:` with no name: a virtual prefix; starting it answers 404.
    }
  }

  /** The virtual models (course bots, templates) `principal` may use; none when there are no providers. */
  listVirtualModels(principal: Principal): Promise<VirtualModelInfo[]> {
    return this.options.virtualModels?.list(principal) ?? Promise.resolve([]);
  }

  /**
   * A call to a virtual model: its provider plans it (access, retrieval, parameters), then the
   * planned request runs like any other — admitted, queued, accounted to the user and the plan's
   * group — and the plan's annotations ride on the final event. A planned answer (a refusal) asks
   * no node and costs no tokens.
   */
  private async startVirtual(provider: VirtualModelProvider, name: string, request: ChatRequest, context: RequestContext): Promise<StartedGeneration> {
    const plan = await provider.plan(name, request, { principal: context.principal, endpoint: context.endpoint, signal: context.signal });
    const planned = plan.groupId === undefined ? context : { ...context, groupId: plan.groupId };
    if (plan.kind === 'answer') {
      this.finish(planned, request.model, { node: undefined, queueMs: 0 }, { status: 200, promptTokens: 0, completionTokens: 0, ttftMs: 0 });
      const done: DoneEvent = {
        type: 'done', finishReason: 'stop', usage: { promptTokens: 0, completionTokens: 0 }, timings: {}, annotations: plan.annotations,
      };
      return { first: { type: 'delta', content: plan.content }, events: single(done), model: request.model, node: 'flexi', queueMs: 0, rateLimit: {} };
    }
    const started = await this.start(plan.request, planned, invokeChat);
    if (!plan.annotations) return started;
    const { annotations } = plan;
    const annotate = (event: ChatEvent): ChatEvent => (event.type === 'done' ? { ...event, annotations } : event);
    return { ...started, first: annotate(started.first), events: mapEvents(started.events, annotate) };
  }

  /**
   * What a model can do, as Ollama names it (`completion`, `tools`, `vision`, `embedding`): what
   * its node reported, with `vision` added where the node's families or `chat.vision_models` say so.
   */
  capabilitiesOf(name: string, info: ModelEntry['info'], reported: readonly string[] | undefined = info.capabilities): string[] {
    const capabilities = [...(reported ?? ['completion'])];
    if (!capabilities.includes('vision') && takesImages(name, { ...info, capabilities }, this.options.images.visionModels)) capabilities.push('vision');
    return capabilities;
  }

  /** Resolves the model (alias, `:latest`), or throws model_not_found naming `param`. */
  resolveModel(model: string, param = 'model'): Promise<ModelEntry> {
    return this.options.registry.get(model, param);
  }

  async embed(request: EmbeddingRequest, context: RequestContext): Promise<EmbeddingResult & { model: string; node: string; rateLimit: Record<string, string> }> {
    const entry = await this.options.registry.get(request.model);
    const req = { ...request, model: entry.name };
    const ticket = await this.options.admission.admit(context.principal, {
      endpoint: context.endpoint, model: entry.name, maxTokens: 0, promptTokens: estimateInputTokens(request), inputParam: 'input',
    });
    try {
      return await this.embedAdmitted(req, entry, context, ticket);
    } catch (error) {
      ticket.cancel();
      throw withRateLimit(error, ticket.rateLimit);
    }
  }

  private async embedAdmitted(
    req: EmbeddingRequest, entry: ModelEntry, context: RequestContext, ticket: AdmissionTicket,
  ): Promise<EmbeddingResult & { model: string; node: string; rateLimit: Record<string, string> }> {
    let lease = await this.acquire(entry, context, ticket);
    for (;;) {
      this.options.energy?.started(context.requestId, lease.backend.name);
      try {
        const result = await lease.backend.embed(req, context.signal);
        lease.release({ ok: true });
        ticket.settle({ promptTokens: result.promptTokens, completionTokens: 0 });
        this.finish(context, entry.name, placeOf(lease), { status: 200, promptTokens: result.promptTokens, completionTokens: 0 });
        return { ...result, model: entry.name, node: lease.backend.name, rateLimit: ticket.rateLimit };
      } catch (error) {
        lease = await this.nextLeaseOrThrow(lease, error, context, entry.name);
      }
    }
  }

  /**
   * Images are checked before admission, so a bad or unwanted one costs no budget and never
   * reaches a node: limits and sniffed formats, then whether the model takes images at all.
   */
  private checkImages(request: ChatRequest | CompletionRequest, entry: ModelEntry): void {
    const messages = 'messages' in request ? request.messages : [{ images: request.images }];
    const paramOf = 'messages' in request ? undefined : (_: number, image: number) => `images[${image}]`;
    const count = checkMessageImages(messages, this.options.images, paramOf);
    if (count > 0 && !takesImages(entry.name, entry.info, this.options.images.visionModels)) {
      const first = messages.findIndex((m) => (m.images?.length ?? 0) > 0);
      throw modelWithoutVision(request.model, 'messages' in request ? `messages[${first}]` : 'images');
    }
  }

  /** Loads or unloads a model on every node that serves it (Ollama's model-only requests). */
  async setResidency(model: string, keepAliveSeconds: number, context: ResidencyContext): Promise<string> {
    const entry = await this.options.registry.get(model);
    this.options.admission.authorize(context.principal, { endpoint: context.endpoint, model: entry.name });
    if (keepAliveSeconds === 0 && !context.principal.policy.admin) {
      throw new FlexiError('permission_denied', 'Unloading a model (keep_alive 0) unloads it for every user: only admins may.', { param: 'keep_alive' });
    }
    const seconds = context.principal.policy.admin ? keepAliveSeconds : (boundKeepAlive(keepAliveSeconds, context.principal) ?? DEFAULT_KEEP_ALIVE_S);
    await Promise.all(entry.nodes.map((node) => node.setResidency(entry.name, seconds, context.signal)));
    return entry.name;
  }

  private async start<R extends ChatRequest | CompletionRequest>(request: R, context: RequestContext, invoke: Invoke<R>): Promise<StartedGeneration> {
    const entry = await this.options.registry.get(request.model);
    this.checkImages(request, entry);
    const promptTokens = estimateInputTokens(request);
    const inputParam = 'messages' in request ? 'messages' : 'prompt';
    const ticket = await this.options.admission.admit(context.principal, {
      endpoint: context.endpoint, model: entry.name, maxTokens: request.options.maxTokens, promptTokens, inputParam,
    });
    const options = ticket.maxTokens === undefined ? request.options : { ...request.options, maxTokens: ticket.maxTokens };
    const req = { ...request, model: entry.name, options, keepAliveSeconds: boundKeepAlive(request.keepAliveSeconds, context.principal) };
    try {
      return await this.startAdmitted(req, entry, context, invoke, { ticket, promptTokens });
    } catch (error) {
      // Before the first event: the stream never started, so nothing settles the ticket later.
      ticket.cancel();
      throw withRateLimit(error, ticket.rateLimit);
    }
  }

  private async startAdmitted<R extends { model: string }>(
    req: R, entry: ModelEntry, context: RequestContext, invoke: Invoke<R>, admitted: Admitted,
  ): Promise<StartedGeneration> {
    let lease = await this.acquire(entry, context, admitted.ticket);
    for (;;) {
      this.options.energy?.started(context.requestId, lease.backend.name);
      const iterator = invoke(lease.backend, req, context.signal)[Symbol.asyncIterator]();
      let first: IteratorResult<ChatEvent>;
      try {
        first = await iterator.next();
        if (first.done) throw new FlexiError('backend_error', `Node '${lease.backend.name}' ended the stream without output.`);
      } catch (error) {
        lease = await this.nextLeaseOrThrow(lease, error, context, entry.name);
        continue;
      }
      const ttftMs = performance.now() - context.startedAtMs;
      lease.firstToken();
      return {
        first: first.value,
        events: this.follow(iterator, first.value, context, entry.name, lease, ttftMs, admitted),
        model: entry.name,
        node: lease.backend.name,
        queueMs: lease.queueMs,
        rateLimit: admitted.ticket.rateLimit,
      };
    }
  }

  /**
   * A failure before anything reached the client: the lease on another node to try next, or the
   * request is accounted as failed and the error thrown.
   */
  private async nextLeaseOrThrow(lease: NodeLease, error: unknown, context: RequestContext, model: string): Promise<NodeLease> {
    const failure = context.signal.aborted ? new FlexiError('client_closed_request') : toFlexiError(error);
    const next = await this.retry(lease, failure, context);
    if (next) return next;
    this.finishError(context, model, lease, failure);
    throw failure;
  }

  /**
   * After a failure before the first byte: a node fault moves the request to another node once
   * (when enabled); anything else ends the lease. Returns the new lease, if any.
   */
  private async retry(lease: NodeLease, failure: FlexiError, context: RequestContext): Promise<NodeLease | undefined> {
    const nodeFault = NODE_FAULTS.has(failure.code);
    if (!nodeFault || context.signal.aborted || !this.options.retryBeforeFirstByte || this.retried.has(context)) {
      lease.release({ ok: !nodeFault });
      return undefined;
    }
    this.retried.add(context);
    try {
      return await lease.retryElsewhere();
    } catch {
      return undefined;
    }
  }

  /** Passes the rest of the stream through; accounts and releases exactly once in every path. */
  private follow(
    iterator: AsyncIterator<ChatEvent>, first: ChatEvent, context: RequestContext,
    model: string, lease: NodeLease, ttftMs: number, admitted: Admitted,
  ): AsyncGenerator<ChatEvent, void, undefined> {
    const settled = this.options.usage?.settled && (() => this.options.usage!.settled!());
    return new FollowedEvents(iterator, first, context, lease.backend.name, settled, (done, completionTokens, failure) => {
      lease.release({ ok: !failure || !NODE_FAULTS.has(failure.code), usage: done && generationUsage(done) });
      admitted.ticket.settle(done ? done.usage : { promptTokens: admitted.promptTokens, completionTokens });
      if (done) {
        this.finish(context, model, placeOf(lease), {
          status: 200, promptTokens: done.usage.promptTokens, completionTokens: done.usage.completionTokens, ttftMs,
        });
      } else {
        this.finishError(context, model, lease, failure!, { completionTokens, ttftMs });
      }
    });
  }

  private acquire(entry: ModelEntry, context: RequestContext, ticket: AdmissionTicket): Promise<NodeLease> {
    if (context.signal.aborted) return Promise.reject(new FlexiError('client_closed_request'));
    const { onWaiting } = context;
    return this.options.dispatcher.acquire({
      model: entry, requester: toRequester(context.principal), signal: context.signal,
      onWaiting: onWaiting && ((info) => onWaiting({ ...info, rateLimit: ticket.rateLimit })),
    });
  }

  private finish(
    context: RequestContext, model: string, place: { node: string | undefined; queueMs: number | undefined },
    fields: { status: number; promptTokens: number; completionTokens: number; ttftMs?: number; errorCode?: string },
  ): void {
    const entry: UsageEntry = {
      requestId: context.requestId,
      createdAt: new Date(),
      apiKeyId: context.principal.apiKeyId,
      subject: context.principal.subject,
      endpoint: context.endpoint,
      protocol: context.protocol,
      model,
      node: place.node,
      queueMs: place.queueMs,
      priorityClass: context.principal.priorityClass,
      groupId: context.groupId,
      durationMs: performance.now() - context.startedAtMs,
      ...fields,
    };
    this.options.usage?.record(entry);
    this.options.observer?.onFinished(entry);
  }

  private finishError(context: RequestContext, model: string, lease: NodeLease, failure: FlexiError, extra: { completionTokens?: number; ttftMs?: number } = {}): void {
    this.finish(context, model, placeOf(lease), {
      status: failure.status, errorCode: failure.code, promptTokens: 0, completionTokens: extra.completionTokens ?? 0, ttftMs: extra.ttftMs,
    });
  }
}

type DoneEvent = Extract<ChatEvent, { type: 'done' }>;

const invokeChat: Invoke<ChatRequest> = (backend, req, signal) => backend.chat(req, signal);

function placeOf(lease: NodeLease): { node: string; queueMs: number } {
  return { node: lease.backend.name, queueMs: lease.queueMs };
}

/** The events after a planned answer's first: just its `done`. */
async function* single(done: DoneEvent): AsyncGenerator<ChatEvent, void, undefined> {
  yield done;
}

/** `events` with each one mapped; leaving early (a client gone) returns the inner stream too. */
async function* mapEvents(events: AsyncGenerator<ChatEvent, void, undefined>, map: (event: ChatEvent) => ChatEvent): AsyncGenerator<ChatEvent, void, undefined> {
  for await (const event of events) yield map(event);
}

/** Who asks, as the scheduler sees it: the fair-share subject and class, no identity. */
function toRequester(principal: Principal): Requester {
  // The role's concurrency limit is also the scheduler's per-user cap (unlimited roles: no cap).
  return {
    subject: principal.subject,
    priorityClass: principal.priorityClass,
    maxConcurrent: Math.max(1, principal.policy.maxConcurrent ?? Number.MAX_SAFE_INTEGER),
  };
}

/**
 * A refusal after admission (queue full, node down) still tells the client where its rate limits
 * stand, as every admitted response does; the refusal's own headers win.
 */
function withRateLimit(error: unknown, rateLimit: Record<string, string>): unknown {
  if (!isFlexiError(error) || Object.keys(rateLimit).length === 0) return error;
  const copy = new FlexiError(error.code, error.message, {
    param: error.param, retryAfterSeconds: error.retryAfterSeconds, headers: { ...rateLimit, ...error.headers }, cause: error.cause,
  });
  // The log of a 500 shows where it was thrown, not this copy.
  copy.stack = error.stack;
  return copy;
}

function generationUsage(done: DoneEvent): GenerationUsage {
  const loadNs = done.timings.loadNs;
  return { ...done.usage, loadMs: loadNs === undefined ? undefined : loadNs / 1e6 };
}

/**
 * The events after the first, passed through until `done`; `onEnd` runs exactly once: at the
 * first `next()` after `done`, on a failure, or on `return()` (the consumer stopped early: a
 * client disconnect, which cancels upstream). A hand-written iterator rather than an async
 * generator: it sits on every event of every request, and a generator layer costs a chain of
 * promises per event on top of the backend's own.
 */
class FollowedEvents implements AsyncGenerator<ChatEvent, void, undefined> {
  private done: DoneEvent | undefined;
  private completionTokens = 0;
  private ended = false;

  constructor(
    private readonly iterator: AsyncIterator<ChatEvent>,
    first: ChatEvent,
    private readonly context: RequestContext,
    private readonly nodeName: string,
    /** Awaited after a complete answer was accounted, before the stream reports its end (durable usage). */
    private readonly settled: (() => Promise<void>) | undefined,
    private readonly onEnd: (done: DoneEvent | undefined, completionTokens: number, failure: FlexiError | undefined) => void,
  ) {
    if (first.type === 'done') this.done = first;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<ChatEvent, void>> {
    if (this.ended) return { done: true, value: undefined };
    if (this.done) {
      this.end(undefined);
      await this.settled?.();
      return { done: true, value: undefined };
    }
    let next: IteratorResult<ChatEvent>;
    try {
      next = await this.iterator.next();
      if (next.done) throw new FlexiError('backend_error', `Node '${this.nodeName}' ended the stream without a final event.`);
    } catch (error) {
      throw this.fail(error);
    }
    if (next.value.type === 'done') this.done = next.value;
    else this.completionTokens++;
    return { done: false, value: next.value };
  }

  async return(): Promise<IteratorResult<ChatEvent, void>> {
    if (!this.ended) this.end(this.done ? undefined : new FlexiError('client_closed_request'));
    return { done: true, value: undefined };
  }

  async throw(error: unknown): Promise<IteratorResult<ChatEvent, void>> {
    if (this.ended) throw error;
    throw this.fail(error);
  }

  private fail(error: unknown): FlexiError {
    const failure = this.context.signal.aborted ? new FlexiError('client_closed_request') : toFlexiError(error);
    this.end(failure);
    return failure;
  }

  private end(failure: FlexiError | undefined): void {
    this.ended = true;
    // In every path, also after `done`: the backend's generator may still be suspended at its
    // last event, and finishing it runs its finally blocks (the embedded engine frees its slot).
    void this.iterator.return?.();
    this.onEnd(this.done, this.completionTokens, failure);
  }
}

/** The longest a non-admin may keep a model in memory after its request (`keep_alive`). */
const MAX_USER_KEEP_ALIVE_S = 3600;
/** Ollama's own default residency, used when a non-admin's load-only request asks to pin a model. */
const DEFAULT_KEEP_ALIVE_S = 300;

/**
 * Residency is shared by everyone on a node: a user's `keep_alive: 0` would unload the model for all,
 * `-1` pin it for ever. Admins decide that; for anyone else 0 and negative values fall back to the
 * node's default and longer ones are cut to an hour.
 */
export function boundKeepAlive(seconds: number | undefined, principal: Principal): number | undefined {
  if (seconds === undefined || principal.policy.admin) return seconds;
  return seconds <= 0 ? undefined : Math.min(seconds, MAX_USER_KEEP_ALIVE_S);
}
