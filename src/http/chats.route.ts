import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { appendMessagesRequestSchema, createChatRequestSchema, updateChatRequestSchema, type UiModel, type UiPublicConfig } from '../api/ui.js';
import { parseBody } from '../api/validation.js';
import { FlexiError } from '../core/errors.js';
import { toCanonicalModelName, toDisplayModelName } from '../core/model-name.js';
import type { ModelInfo } from '../core/types.js';
import type { ChatAnswerService } from '../services/chat-answer.service.js';
import type { ChatKeyService } from '../services/chat-key.service.js';
import type { ChatService, ChatSettings, ExportFormat } from '../services/chat.service.js';
import type { InferenceService } from '../services/inference/inference.service.js';
import type { ModelRegistry } from '../services/inference/model-registry.service.js';
import type { Principal } from '../services/identity/access-control.service.js';
import { ownerOf, userOf } from './chat-owner.js';
import type { VirtualModelInfo } from '../services/inference/virtual-models.js';
import { publicRoute } from './route-access.js';

export interface ChatRouteDeps {
  chats: ChatService;
  chatKeys: ChatKeyService;
  answers: ChatAnswerService;
  inference: InferenceService;
  registry: ModelRegistry;
  isModelVisible: (principal: Principal | undefined, model: string) => boolean;
  /** Config `models.descriptions`. */
  modelDescriptions: Readonly<Record<string, string>>;
  /** Whether single sign-on is configured. */
  sso: boolean;
  /** Virtual models (course bots…) the principal may use; the picker lists them with the rest. */
  listVirtualModels: (principal: Principal) => Promise<VirtualModelInfo[]>;
}

/** Family, size, quantisation and context, e.g. `llama · 8.0B · Q4_K_M · 8192 tokens`. */
export function describeModel(info: ModelInfo): string {
  const parts = [info.family, info.parameterSize, info.quantization, info.contextLength ? `${info.contextLength} tokens` : undefined];
  return parts.filter((p): p is string => typeof p === 'string' && p !== '').join(' · ');
}

function descriptionOf(id: string, info: ModelInfo, descriptions: Readonly<Record<string, string>>): string {
  return descriptions[id] ?? descriptions[toCanonicalModelName(id)] ?? descriptions[toDisplayModelName(info.name)] ?? describeModel(info);
}

export function chatId(request: FastifyRequest): string {
  const id = (request.params as { id: string }).id;
  // Ids are random base62; anything else cannot exist (and must not reach a LIKE or a log unbounded).
  if (!/^[A-Za-z0-9]{1,64}$/.test(id)) throw new FlexiError('not_found', 'No such chat.');
  return id;
}

function exportFormat(request: FastifyRequest): ExportFormat {
  const format = (request.query as Record<string, unknown>).format ?? 'json';
  if (format === 'json' || format === 'markdown') return format;
  throw new FlexiError('invalid_request', 'format must be json or markdown.', { param: 'format' });
}

function toPatch(body: { title?: string; model?: string | null; system_prompt?: string | null; temperature?: number | null }): ChatSettings {
  return { title: body.title, model: body.model, systemPrompt: body.system_prompt, temperature: body.temperature };
}

async function sendExport(reply: FastifyReply, file: { body: string; fileName: string; contentType: string }): Promise<FastifyReply> {
  return reply.type(file.contentType).header('content-disposition', `attachment; filename="${file.fileName}"`).header('cache-control', 'no-store').send(file.body);
}

/**
 * The web UI's API: `/ui/v1/models` (allowed models with a one-line description) and
 * `/ui/v1/chats` (a user's chat history). Browser sessions only; changes need X-CSRF-Token
 * (checked by the auth hook), and the agreement must be accepted (agreement hook).
 */
export function registerChatRoutes(app: FastifyInstance, deps: ChatRouteDeps): void {
  const { chats, answers } = deps;
  const owner = (request: FastifyRequest) => ownerOf(request, deps.chatKeys);

  // Read by the login page, before anyone signed in.
  app.get('/ui/config', publicRoute(), async (): Promise<UiPublicConfig> => ({ sso: deps.sso }));

  app.get('/ui/v1/models', async (request) => {
    userOf(request);
    const data: UiModel[] = [];
    const add = (id: string, info: ModelInfo) => data.push({
      id, description: descriptionOf(id, info, deps.modelDescriptions), family: info.family ?? null,
      parameter_size: info.parameterSize ?? null, quantization: info.quantization ?? null, context_length: info.contextLength ?? null,
      vision: deps.inference.capabilitiesOf(id, info).includes('vision'),
    });
    for (const entry of deps.registry.list()) {
      if (entry.info.capabilities?.includes('embedding') && !entry.info.capabilities.includes('completion')) continue;
      if (deps.isModelVisible(request.principal, entry.name)) add(toDisplayModelName(entry.name), entry.info);
    }
    for (const { alias, entry } of deps.registry.aliasEntries()) {
      if (deps.isModelVisible(request.principal, entry.name)) add(toDisplayModelName(alias), entry.info);
    }
    for (const virtual of await deps.listVirtualModels(request.principal!)) {
      data.push({
        id: virtual.name, description: virtual.description ?? '', family: null, parameter_size: null, quantization: null, context_length: null,
        vision: virtual.capabilities?.includes('vision') ?? false,
      });
    }
    data.sort((a, b) => a.id.localeCompare(b.id));
    return { data };
  });

  app.get('/ui/v1/chats', async (request) => {
    const q = (request.query as Record<string, unknown>).q;
    return { data: await chats.list(await owner(request), typeof q === 'string' ? q : undefined) };
  });

  app.post('/ui/v1/chats', async (request, reply) => {
    const who = await owner(request);
    const body = parseBody(createChatRequestSchema, request.body ?? {});
    return reply.code(201).send(await chats.create(who, toPatch(body)));
  });

  app.delete('/ui/v1/chats', async (request) => ({ deleted: await chats.deleteAll(userOf(request)) }));

  app.get('/ui/v1/chats/export', async (request, reply) => sendExport(reply, await chats.export(await owner(request), undefined, exportFormat(request))));

  app.get('/ui/v1/chats/:id', async (request) => answers.withLiveState(await chats.get(await owner(request), chatId(request))));

  app.patch('/ui/v1/chats/:id', async (request) => {
    const who = await owner(request);
    const id = chatId(request);
    const body = parseBody(updateChatRequestSchema, request.body);
    return answers.withLiveState(await chats.update(who, id, toPatch(body)));
  });

  app.delete('/ui/v1/chats/:id', async (request, reply) => {
    await chats.delete(userOf(request), chatId(request));
    return reply.code(204).send();
  });

  app.get('/ui/v1/chats/:id/export', async (request, reply) => sendExport(reply, await chats.export(await owner(request), chatId(request), exportFormat(request))));

  app.post('/ui/v1/chats/:id/messages', async (request) => {
    const who = await owner(request);
    const id = chatId(request);
    const body = parseBody(appendMessagesRequestSchema, request.body);
    answers.checkImages(body.messages);
    if (answers.withLiveState(await chats.get(who, id)).messages.some((m) => m.streaming)) {
      throw new FlexiError('conflict', 'An answer is being written in this chat: wait for it or stop it first.');
    }
    return chats.append(who, id, body.messages, body.replace_from);
  });
}
