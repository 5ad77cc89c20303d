import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  chatCompletionRequestSchema, completionRequestSchema, embeddingRequestSchema,
  type ChatCompletion, type ChatCompletionMessage, type CreateEmbeddingResponse, type ModelList, type OpenAiModel, type TextCompletion,
} from '../api/openai.js';
import { parseBody } from '../api/validation.js';
import { toDisplayModelName } from '../core/model-name.js';
import { randomId } from '../lib/ids.js';
import type { InferenceService } from '../services/inference/inference.service.js';
import { modelWithoutVision } from '../core/images.js';
import type { ImageUrlFetcher } from '../services/inference/image-url-fetcher.js';
import type { ModelEntry, ModelRegistry } from '../services/inference/model-registry.service.js';
import {
  fromOpenAiChat, fromOpenAiCompletion, fromOpenAiEmbedding, toOpenAiAnnotations, toOpenAiFinishReason, toOpenAiToolCalls, toOpenAiUsage,
} from './openai-translate.js';
import { OpenAiChatStreamEncoder, OpenAiCompletionStreamEncoder, SYSTEM_FINGERPRINT } from './openai-stream.js';
import type { Principal } from '../services/identity/access-control.service.js';
import { generationHeaders, requestContext } from './request-context.js';
import { collect, PendingSseStream, writeStream, type StreamEncoder } from './stream-writer.js';
import { FlexiError, toFlexiError } from '../core/errors.js';
import type { RequestContext, StartedGeneration } from '../services/inference/inference.service.js';
import type { VirtualModelInfo } from '../services/inference/virtual-models.js';

export interface OpenAiRouteDeps {
  inference: InferenceService;
  /** Inlines http(s) image URLs when the operator allows fetching them. */
  imageUrls: ImageUrlFetcher;
  registry: ModelRegistry;
  /** Models the request's principal may see; all when absent. */
  isModelVisible?: (principal: Principal | undefined, model: string) => boolean;
}

/**
 * An SSE response that may wait in the scheduler's queue first: while it waits, comments
 * (`: queued position=3 eta_ms=1200`) keep proxies from cutting it and tell the client where it
 * stands. Errors before anything was written keep their real HTTP status.
 */
async function streamWithQueueComments(
  request: FastifyRequest, reply: FastifyReply, context: RequestContext, encoder: StreamEncoder, start: () => Promise<StartedGeneration>,
): Promise<void> {
  const pending = new PendingSseStream(reply, { 'x-request-id': request.id });
  context.onWaiting = ({ position, estimatedWaitMs, rateLimit }) => {
    pending.comment(`queued position=${position}${estimatedWaitMs === undefined ? '' : ` eta_ms=${Math.round(estimatedWaitMs)}`}`, rateLimit);
  };
  let started: StartedGeneration;
  try {
    started = await start();
  } catch (error) {
    if (!pending.isCommitted) throw error;
    pending.fail(toFlexiError(error), encoder);
    return;
  }
  await writeStream(reply, started, encoder, generationHeaders(request, started), pending);
}

function toOpenAiModel(id: string, entry: ModelEntry, inference: InferenceService): OpenAiModel {
  const created = entry.info.modifiedAt ? Math.floor(entry.info.modifiedAt.getTime() / 1000) : 0;
  return { id, object: 'model', created, owned_by: entry.nodes[0]?.name ?? 'flexi', capabilities: inference.capabilitiesOf(entry.name, entry.info) };
}

function toVirtualOpenAiModel(model: VirtualModelInfo): OpenAiModel {
  return { id: model.name, object: 'model', created: model.createdAt ? Math.floor(model.createdAt.getTime() / 1000) : 0, owned_by: 'flexi' };
}

/** Float32 little-endian, base64: the openai SDK asks for this by default and decodes it. */
function toBase64Embedding(vector: number[]): string {
  const floats = new Float32Array(vector);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
}

export function registerOpenAiRoutes(app: FastifyInstance, deps: OpenAiRouteDeps): void {
  const { inference, registry } = deps;

  const chat = async (request: FastifyRequest, reply: FastifyReply, rawBody: unknown) => {
    const body = parseBody(chatCompletionRequestSchema, rawBody);
    const context = requestContext(request, reply, '/v1/chat/completions', 'openai');
    if (deps.imageUrls.enabled && deps.imageUrls.countRemote(body) > 0) {
      // Fetch nothing for a model that would refuse the images anyway.
      const entry = await inference.resolveModel(body.model);
      if (!inference.capabilitiesOf(entry.name, entry.info).includes('vision')) throw modelWithoutVision(body.model, 'messages');
      await deps.imageUrls.inline(body, context.signal);
    }
    const canonical = fromOpenAiChat(body);
    const id = `chatcmpl-${randomId(24)}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream) {
      const encoder = new OpenAiChatStreamEncoder(id, created, body.model, body.stream_options?.include_usage === true);
      await streamWithQueueComments(request, reply, context, encoder, () => inference.startChat(canonical, context));
      return reply;
    }
    const started = await inference.startChat(canonical, context);
    // Before collecting: an answer that breaks off midway still tells the client its rate limits.
    reply.headers(generationHeaders(request, started));
    const result = await collect(started);
    const message: ChatCompletionMessage = {
      role: 'assistant',
      content: result.toolCalls.length > 0 && result.content === '' ? null : result.content,
      refusal: null,
    };
    if (result.toolCalls.length > 0) message.tool_calls = toOpenAiToolCalls(result.toolCalls);
    if (result.thinking) message.reasoning_content = result.thinking;
    const completion: ChatCompletion = {
      id,
      object: 'chat.completion',
      created,
      model: body.model,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: [{ index: 0, message, logprobs: null, finish_reason: toOpenAiFinishReason(result.finishReason) }],
      usage: toOpenAiUsage(result.usage),
      ...(result.annotations ? toOpenAiAnnotations(result.annotations) : {}),
    };
    return reply.send(completion);
  };

  app.post('/v1/chat/completions', (request, reply) => chat(request, reply, request.body));

  // Azure OpenAI's URL form, as Moodle's Azure AI provider and Azure-mode plugins call it
  // (`?api-version=…` is accepted and ignored): the deployment is the model, the key comes in
  // `api-key`. The same endpoint for policies and usage as /v1/chat/completions.
  app.post('/openai/deployments/:deployment/chat/completions', (request, reply) => {
    const deployment = (request.params as { deployment: string }).deployment;
    const body = request.body;
    const isObject = body !== null && typeof body === 'object' && !Array.isArray(body);
    return chat(request, reply, isObject ? { ...(body as Record<string, unknown>), model: deployment } : body);
  });

  app.post('/v1/completions', async (request, reply) => {
    const body = parseBody(completionRequestSchema, request.body);
    const canonical = fromOpenAiCompletion(body);
    const context = requestContext(request, reply, '/v1/completions', 'openai');
    const id = `cmpl-${randomId(24)}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream) {
      const encoder = new OpenAiCompletionStreamEncoder(id, created, body.model, body.stream_options?.include_usage === true);
      await streamWithQueueComments(request, reply, context, encoder, () => inference.startCompletion(canonical, context));
      return reply;
    }
    const started = await inference.startCompletion(canonical, context);
    // Before collecting: an answer that breaks off midway still tells the client its rate limits.
    reply.headers(generationHeaders(request, started));
    const result = await collect(started);
    const completion: TextCompletion = {
      id,
      object: 'text_completion',
      created,
      model: body.model,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: [{ index: 0, text: result.content, logprobs: null, finish_reason: toOpenAiFinishReason(result.finishReason) }],
      usage: toOpenAiUsage(result.usage),
      ...(result.annotations ? toOpenAiAnnotations(result.annotations) : {}),
    };
    return reply.send(completion);
  });

  app.post('/v1/embeddings', async (request, reply) => {
    const body = parseBody(embeddingRequestSchema, request.body);
    const canonical = fromOpenAiEmbedding(body);
    const context = requestContext(request, reply, '/v1/embeddings', 'openai');
    const result = await inference.embed(canonical, context);
    const base64 = body.encoding_format === 'base64';
    const embeddings: CreateEmbeddingResponse = {
      object: 'list',
      data: result.embeddings.map((embedding, index) => ({
        object: 'embedding', index, embedding: base64 ? toBase64Embedding(embedding) : embedding,
      })),
      model: body.model,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    };
    return reply.headers({ ...result.rateLimit, 'x-request-id': request.id }).send(embeddings);
  });

  const visible = (request: FastifyRequest, name: string) => deps.isModelVisible?.(request.principal, name) ?? true;

  app.get('/v1/models', async (request): Promise<ModelList> => {
    const data: OpenAiModel[] = [];
    for (const entry of registry.list()) {
      if (visible(request, entry.name)) data.push(toOpenAiModel(toDisplayModelName(entry.name), entry, inference));
    }
    for (const { alias, entry } of registry.aliasEntries()) {
      if (visible(request, entry.name)) data.push(toOpenAiModel(toDisplayModelName(alias), entry, inference));
    }
    for (const model of await virtualModels(request)) data.push(toVirtualOpenAiModel(model));
    return { object: 'list', data };
  });

  const virtualModels = (request: FastifyRequest) => (request.principal ? inference.listVirtualModels(request.principal) : Promise.resolve([]));

  app.get('/v1/models/*', async (request) => {
    const id = decodeURIComponent((request.params as { '*': string })['*']);
    const virtual = (await virtualModels(request)).find((model) => model.name === id);
    if (virtual) return toVirtualOpenAiModel(virtual);
    const entry = registry.find(id) ?? (await registry.get(id).catch(() => undefined));
    if (!entry || !visible(request, entry.name)) {
      throw new FlexiError('model_not_found', `The model '${id}' does not exist.`, { param: 'model' });
    }
    return toOpenAiModel(id, entry, inference);
  });
}
