import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { startAnswerRequestSchema, type UiAnswerEvent } from '../api/ui.js';
import { parseBody } from '../api/validation.js';
import { FlexiError } from '../core/errors.js';
import type { ChatAnswerService } from '../services/chat-answer.service.js';
import type { ChatKeyService } from '../services/chat-key.service.js';
import { ownerOf, sessionOf, userOf } from './chat-owner.js';
import { chatId } from './chats.route.js';

export interface ChatAnswerRouteDeps {
  answers: ChatAnswerService;
  chatKeys: ChatKeyService;
}

/** Proxies cut silent connections: a comment this often keeps a waiting stream open. */
const KEEP_ALIVE_MS = 15_000;

/**
 * One browser following an answer as server-sent events. Events that come before the response
 * is opened (the answer may queue at once) wait in a buffer; when the browser goes away it
 * stops following and the answer goes on.
 */
class AnswerEventStream {
  private res: ServerResponse | undefined;
  private readonly buffered: UiAnswerEvent[] = [];
  private ended = false;
  private keepAlive: NodeJS.Timeout | undefined;
  readonly push = (event: UiAnswerEvent): void => {
    if (this.ended) return;
    if (!this.res) this.buffered.push(event);
    else this.write(event);
  };

  open(request: FastifyRequest, reply: FastifyReply, onClose: () => void): void {
    reply.hijack();
    const res = reply.raw;
    this.res = res;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'x-request-id': request.id });
    res.once('close', () => {
      this.ended = true;
      clearInterval(this.keepAlive);
      onClose();
    });
    this.keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    this.keepAlive.unref();
    for (const event of this.buffered.splice(0)) this.write(event);
  }

  private write(event: UiAnswerEvent): void {
    const res = this.res!;
    if (res.destroyed) return;
    res.write(`data: ${JSON.stringify(event)}\n\n`);
    if (event.type === 'done' || event.type === 'error') {
      this.ended = true;
      clearInterval(this.keepAlive);
      res.end();
    }
  }
}

const unlockRequestSchema = z.object({
  recovery_key: z.string().min(1).max(200).describe('The recovery key the user saved.'),
  password: z.string().min(1).max(1024).optional().describe('The current password, to wrap the key with it again (after a password reset).'),
}).strict();

/**
 * Answers the server writes for the web UI (`/ui/v1/chats/:id/answer`: start, follow, stop)
 * and the user's chat encryption key (`/ui/v1/chat-key`). Browser sessions only.
 */
export function registerChatAnswerRoutes(app: FastifyInstance, deps: ChatAnswerRouteDeps): void {
  const { answers, chatKeys } = deps;

  app.post('/ui/v1/chats/:id/answer', async (request, reply) => {
    const owner = await ownerOf(request, chatKeys);
    const id = chatId(request);
    const body = parseBody(startAnswerRequestSchema, request.body);
    const stream = new AnswerEventStream();
    // Errors until here (bad input, unknown model, a chat that is not theirs) are real statuses.
    const chat = await answers.start(owner, request.principal!, id, body, request.id, stream.push);
    stream.open(request, reply, () => answers.unfollow(id, stream.push));
    stream.push({ type: 'started', chat });
    return reply;
  });

  app.get('/ui/v1/chats/:id/answer', async (request, reply) => {
    const userId = userOf(request);
    const id = chatId(request);
    const stream = new AnswerEventStream();
    const following = answers.follow(userId, id, stream.push);
    if (!following) throw new FlexiError('not_found', 'No answer is being written in this chat.');
    stream.open(request, reply, following.unfollow);
    stream.push(following.snapshot);
    return reply;
  });

  app.post('/ui/v1/chats/:id/answer/stop', async (request, reply) => {
    if (!answers.stop(userOf(request), chatId(request))) throw new FlexiError('not_found', 'No answer is being written in this chat.');
    return reply.code(204).send();
  });

  app.get('/ui/v1/chat-key', async (request) => {
    const owner = await ownerOf(request, chatKeys);
    const status = await chatKeys.status(owner.userId, owner.key);
    return { enabled: status.enabled, unlocked: status.unlocked, recovery_key: status.recoveryKey };
  });

  app.post('/ui/v1/chat-key/recovery', async (request) => {
    const owner = await ownerOf(request, chatKeys);
    return { recovery_key: await chatKeys.createRecoveryKey(owner.userId, owner.key) };
  });

  app.post('/ui/v1/chat-key/unlock', async (request, reply) => {
    const userId = userOf(request);
    const body = parseBody(unlockRequestSchema, request.body);
    await chatKeys.unlockWithRecoveryKey(userId, body.recovery_key, sessionOf(request), body.password);
    return reply.code(204).send();
  });
}
