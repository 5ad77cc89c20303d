import type { FastifyRequest } from 'fastify';
import { FlexiError } from '../core/errors.js';
import type { ChatKeyService } from '../services/chat-key.service.js';
import type { ChatOwner } from '../services/chat.service.js';
import { SESSION_COOKIE } from '../services/identity/session.service.js';

/** The signed-in user of a browser session; the chats API is not for API keys. */
export function userOf(request: FastifyRequest): string {
  const principal = request.principal;
  if (!principal?.userId || principal.via !== 'session') {
    throw new FlexiError('permission_denied', 'The chats API is for signed-in browser sessions.');
  }
  return principal.userId;
}

/** The browser session behind a request: its id and its cookie value (which unwraps its chat key). */
export function sessionOf(request: FastifyRequest): { id: string; token: string } {
  userOf(request);
  const token = request.cookies[SESSION_COOKIE];
  if (!request.principal?.sessionId || !token) throw new FlexiError('permission_denied', 'The chats API is for signed-in browser sessions.');
  return { id: request.principal.sessionId, token };
}

/** The user and, with encrypted chats, the data key their session holds. */
export async function ownerOf(request: FastifyRequest, chatKeys: ChatKeyService): Promise<ChatOwner> {
  const userId = userOf(request);
  return { userId, key: chatKeys.enabled ? await chatKeys.keyOf(userId, sessionOf(request)) : undefined };
}
