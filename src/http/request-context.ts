import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl } from '../services/access-control.service.js';
import type { RequestContext } from '../services/inference.service.js';
import type { Principal } from '../services/access-control.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on API routes. */
    principal?: Principal;
    /** performance.now() at arrival. */
    startedAtMs: number;
  }
  interface FastifyInstance {
    /** Who may do what (identity); absent in builds without it. */
    accessControl?: AccessControl;
  }
}

/**
 * The service-level context of an API request. Its signal aborts when the client goes away
 * before the response finished, which cancels the upstream request and frees the lease.
 */
export function requestContext(request: FastifyRequest, reply: FastifyReply, endpoint: string, protocol: 'openai' | 'ollama'): RequestContext {
  const controller = new AbortController();
  const res = reply.raw;
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  const principal = request.principal;
  const access = request.server.accessControl;
  return {
    requestId: request.id,
    endpoint,
    protocol,
    requester: {
      subject: principal?.subject ?? 'anonymous',
      priorityClass: principal?.priorityClass,
      // The role's concurrency limit is also the scheduler's per-user cap (unlimited roles: no cap).
      maxConcurrent: principal ? Math.max(1, principal.policy.maxConcurrent ?? Number.MAX_SAFE_INTEGER) : undefined,
    },
    apiKeyId: principal?.apiKeyId,
    signal: controller.signal,
    startedAtMs: request.startedAtMs,
    admit: access && principal ? async (admitRequest) => {
      const admission = await access.admit(principal, { ...admitRequest, endpoint });
      // On the raw response, so they survive hijacked (streaming) replies: writeHead merges them.
      for (const [name, value] of Object.entries(admission.headers)) res.setHeader(name, value);
      return admission;
    } : undefined,
    authorize: access && principal ? (model) => access.authorize(principal, { endpoint, model }) : undefined,
  };
}

export function generationHeaders(request: FastifyRequest, queueMs: number): Record<string, string> {
  return { 'x-request-id': request.id, 'x-flexi-queue-ms': String(Math.round(queueMs)) };
}
