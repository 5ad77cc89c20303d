import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  type OllamaChatResponse, type OllamaEmbedResponse, type OllamaGenerateResponse, type OllamaMessage, type OllamaRunningModel, type OllamaShowResponse,
  ollamaChatRequestSchema, ollamaEmbedRequestSchema, ollamaGenerateRequestSchema, ollamaLegacyEmbeddingsRequestSchema, ollamaShowRequestSchema,
} from '../api/ollama.js';
import { parseBody } from '../api/validation.js';
import { FlexiError, invalidRequest } from '../core/errors.js';
import type { ChatEvent, LoadedModel } from '../core/types.js';
import type { InferenceService, StartedGeneration } from '../services/inference/inference.service.js';
import type { ModelRegistry } from '../services/inference/model-registry.service.js';
import { errorBody } from './errors.js';
import {
  fromOllamaChat, fromOllamaGenerate, keepAliveFromOllama, ollamaCounters, toOllamaModelDetails, toOllamaTag, toOllamaToolCalls,
} from './ollama-translate.js';
import type { Principal } from '../services/identity/access-control.service.js';
import { toOpenAiAnnotations } from './openai-translate.js';
import { generationHeaders, requestContext } from './request-context.js';
import { publicRoute } from './route-access.js';
import { collect, writeStream, type StreamEncoder } from './stream-writer.js';

/** The Ollama version Flexi's /api answers as (the API surface it implements). */
export const OLLAMA_COMPAT_VERSION = '0.12.0';

export interface OllamaRouteDeps {
  inference: InferenceService;
  registry: ModelRegistry;
  isModelVisible?: (principal: Principal | undefined, model: string) => boolean;
}

type Kind = 'chat' | 'generate';

/**
 * NDJSON frames (`OllamaChatResponse` / `OllamaGenerateResponse` lines, written as text: this runs per
 * token); the final one carries done_reason and the six counters in nanoseconds.
 */
class OllamaStreamEncoder implements StreamEncoder {
  readonly contentType = 'application/x-ndjson';
  private firstAtMs: number | undefined;

  constructor(private readonly kind: Kind, private readonly model: string, private readonly startedAtMs: number) {}

  encode(event: ChatEvent): string {
    const now = performance.now();
    this.firstAtMs ??= now;
    const head = `{"model":${JSON.stringify(this.model)},"created_at":"${new Date().toISOString()}",`;
    if (event.type === 'done') {
      const counters = ollamaCounters(event.usage, event.timings, { totalMs: now - this.startedAtMs, ttftMs: this.firstAtMs - this.startedAtMs });
      const body = this.kind === 'chat' ? '"message":{"role":"assistant","content":""},' : '"response":"",';
      const reason = event.finishReason === 'length' ? 'length' : 'stop';
      const annotations = event.annotations ? `${JSON.stringify(toOpenAiAnnotations(event.annotations)).slice(1, -1)},` : '';
      return `${head}${body}"done":true,"done_reason":"${reason}",${annotations}${JSON.stringify(counters).slice(1)}\n`;
    }
    if (this.kind === 'generate') return `${head}"response":${JSON.stringify(event.content ?? '')},"done":false}\n`;
    const message: OllamaMessage = { role: 'assistant', content: event.content ?? '' };
    if (event.thinking) message.thinking = event.thinking;
    if (event.toolCalls && event.toolCalls.length > 0) message.tool_calls = toOllamaToolCalls(event.toolCalls);
    return `${head}"message":${JSON.stringify(message)},"done":false}\n`;
  }

  encodeError(error: FlexiError): string {
    return `${JSON.stringify(errorBody(error, 'ollama'))}\n`;
  }
}

async function respondGeneration(
  kind: Kind, request: FastifyRequest, reply: FastifyReply, started: StartedGeneration, model: string, stream: boolean,
): Promise<unknown> {
  const headers = generationHeaders(request, started);
  if (stream) {
    await writeStream(reply, started, new OllamaStreamEncoder(kind, model, request.startedAtMs), headers);
    return reply;
  }
  const firstAt = performance.now();
  // Before collecting: an answer that breaks off midway still tells the client its rate limits.
  reply.headers(headers);
  const result = await collect(started);
  const counters = ollamaCounters(result.usage, result.timings, { totalMs: performance.now() - request.startedAtMs, ttftMs: firstAt - request.startedAtMs });
  const base = { model, created_at: new Date().toISOString() };
  const reason = result.finishReason === 'length' ? 'length' : 'stop';
  const annotations = result.annotations ? toOpenAiAnnotations(result.annotations) : {};
  if (kind === 'generate') {
    const generated: OllamaGenerateResponse = {
      ...base, response: result.content, ...(result.thinking ? { thinking: result.thinking } : {}), done: true, done_reason: reason, ...annotations, ...counters,
    };
    return reply.send(generated);
  }
  const message: OllamaMessage = { role: 'assistant', content: result.content };
  if (result.thinking) message.thinking = result.thinking;
  if (result.toolCalls.length > 0) message.tool_calls = toOllamaToolCalls(result.toolCalls);
  const answer: OllamaChatResponse = { ...base, message, done: true, done_reason: reason, ...annotations, ...counters };
  return reply.send(answer);
}

export function registerOllamaRoutes(app: FastifyInstance, deps: OllamaRouteDeps): void {
  const { inference, registry } = deps;
  const visible = (request: FastifyRequest, name: string) => deps.isModelVisible?.(request.principal, name) ?? true;

  /** Ollama's meaning of a request with only a model: load it (or unload with keep_alive 0). */
  async function loadOnly(
    kind: Kind, model: string, keepAlive: number | string | undefined, request: FastifyRequest, reply: FastifyReply,
  ): Promise<OllamaChatResponse | OllamaGenerateResponse> {
    const seconds = keepAliveFromOllama(keepAlive) ?? 300;
    const context = requestContext(request, reply, `/api/${kind}`, 'ollama');
    await inference.setResidency(model, seconds, context);
    const base = { model, created_at: new Date().toISOString() };
    const doneReason = seconds === 0 ? 'unload' as const : 'load' as const;
    return kind === 'chat'
      ? { ...base, message: { role: 'assistant', content: '' }, done_reason: doneReason, done: true }
      : { ...base, response: '', done: true, done_reason: doneReason };
  }

  app.post('/api/chat', async (request, reply) => {
    const body = parseBody(ollamaChatRequestSchema, request.body);
    if (!body.messages || body.messages.length === 0) return loadOnly('chat', body.model, body.keep_alive, request, reply);
    const canonical = fromOllamaChat(body);
    const context = requestContext(request, reply, '/api/chat', 'ollama');
    const started = await inference.startChat(canonical, context);
    return respondGeneration('chat', request, reply, started, body.model, body.stream ?? true);
  });

  app.post('/api/generate', async (request, reply) => {
    const body = parseBody(ollamaGenerateRequestSchema, request.body);
    if (!body.prompt && !(body.images && body.images.length > 0)) return loadOnly('generate', body.model, body.keep_alive, request, reply);
    if (body.template) throw new FlexiError('unsupported_parameter', "'template' is not supported; the node applies the model's own template.", { param: 'template' });
    const canonical = fromOllamaGenerate(body);
    const context = requestContext(request, reply, '/api/generate', 'ollama');
    const started = await inference.startCompletion(canonical, context);
    return respondGeneration('generate', request, reply, started, body.model, body.stream ?? true);
  });

  app.post('/api/embed', async (request, reply) => {
    const body = parseBody(ollamaEmbedRequestSchema, request.body);
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    if (input.length === 0) throw invalidRequest('input', "'input' must not be empty.");
    const context = requestContext(request, reply, '/api/embed', 'ollama');
    const started = performance.now();
    const result = await inference.embed({ model: body.model, input, dimensions: body.dimensions, truncate: body.truncate }, context);
    const embedded: OllamaEmbedResponse = {
      model: body.model,
      embeddings: result.embeddings,
      total_duration: Math.round(result.timings.totalNs ?? (performance.now() - started) * 1e6),
      load_duration: Math.round(result.timings.loadNs ?? 0),
      prompt_eval_count: result.promptTokens,
    };
    return reply.headers({ ...result.rateLimit, 'x-request-id': request.id }).send(embedded);
  });

  app.post('/api/embeddings', async (request, reply) => {
    const body = parseBody(ollamaLegacyEmbeddingsRequestSchema, request.body);
    const context = requestContext(request, reply, '/api/embeddings', 'ollama');
    const result = await inference.embed({ model: body.model, input: [body.prompt] }, context);
    return reply.headers({ ...result.rateLimit, 'x-request-id': request.id }).send({ embedding: result.embeddings[0] ?? [] });
  });

  app.get('/api/tags', async (request) => {
    const models = registry.list().filter((entry) => visible(request, entry.name)).map((entry) => toOllamaTag(entry.name, entry.info));
    for (const { alias, entry } of registry.aliasEntries()) {
      if (visible(request, entry.name)) models.push(toOllamaTag(alias, entry.info));
    }
    const virtual = request.principal ? await inference.listVirtualModels(request.principal) : [];
    for (const model of virtual) models.push(toOllamaTag(model.name, { name: model.name, modifiedAt: model.createdAt, capabilities: model.capabilities }));
    return { models };
  });

  app.get('/api/ps', async (request) => {
    const perNode = await Promise.all(registry.backends.map((backend) =>
      backend.loadedModels(AbortSignal.timeout(3000)).catch((): LoadedModel[] => [])));
    const models = perNode.flat().filter((model) => visible(request, model.name)).map((model): OllamaRunningModel => {
      const info = registry.find(model.name)?.info;
      return {
        name: model.name,
        model: model.name,
        size: model.sizeBytes ?? info?.sizeBytes ?? 0,
        digest: info?.digest ?? '',
        details: toOllamaModelDetails(info ?? { name: model.name }),
        expires_at: (model.expiresAt ?? new Date(Date.now() + 300_000)).toISOString(),
        size_vram: model.sizeVramBytes ?? model.sizeBytes ?? 0,
        context_length: model.contextLength ?? info?.contextLength ?? 0,
      };
    });
    return { models };
  });

  app.post('/api/show', async (request): Promise<OllamaShowResponse> => {
    const body = parseBody(ollamaShowRequestSchema, request.body);
    const name = body.model ?? body.name;
    if (!name) throw invalidRequest('model', "'model' is required.");
    const entry = await registry.get(name);
    if (!visible(request, entry.name)) throw new FlexiError('model_not_found', `The model '${name}' does not exist.`, { param: 'model' });
    const details = await entry.nodes[0]!.showModel(entry.name, AbortSignal.timeout(10_000));
    return {
      modelfile: details.modelfile ?? '',
      parameters: details.parameters ?? '',
      template: details.template ?? '',
      ...(details.system ? { system: details.system } : {}),
      license: details.license ?? '',
      details: toOllamaModelDetails({ ...entry.info, ...details }),
      model_info: details.modelInfo ?? {},
      capabilities: inference.capabilitiesOf(entry.name, { ...entry.info, ...details }, details.capabilities ?? entry.info.capabilities),
      modified_at: (details.modifiedAt ?? entry.info.modifiedAt ?? new Date(0)).toISOString(),
    };
  });
}

/** GET/HEAD /api/version needs no key: Ollama clients probe it before anything else. */
export function registerOllamaVersionRoute(app: FastifyInstance): void {
  app.get('/api/version', publicRoute(), async () => ({ version: OLLAMA_COMPAT_VERSION }));
}
