import type { FastifyReply, FastifyRequest } from 'fastify';
import { FlexiError } from '../core/errors.js';
import type { RequestContext, StartedGeneration } from '../services/inference/inference.service.js';
import type { Principal } from '../services/identity/access-control.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on API routes. */
    principal?: Principal;
    /** performance.now() at arrival. */
    startedAtMs: number;
  }
}

/**
 * The service-level context of an API request. Its signal aborts when the client goes away
 * before the response finished, which cancels the upstream request and frees the lease.
 */
export function requestContext(request: FastifyRequest, reply: FastifyReply, endpoint: string, protocol: 'openai' | 'ollama'): RequestContext {
  // API routes are private: the auth hook set the principal before the handler ran.
  const principal = request.principal;
  if (!principal) throw new FlexiError('unauthorized');
  const controller = new AbortController();
  const res = reply.raw;
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  return {
    requestId: request.id, endpoint, protocol, principal, signal: controller.signal, startedAtMs: request.startedAtMs, groupId: principal.course?.id,
  };
}

/** The headers of an answered generation: its admission's rate limits, the request id, the time queued. */
export function generationHeaders(request: FastifyRequest, started: Pick<StartedGeneration, 'queueMs' | 'rateLimit'>): Record<string, string> {
  return { ...started.rateLimit, 'x-request-id': request.id, 'x-flexi-queue-ms': String(Math.round(started.queueMs)) };
}
