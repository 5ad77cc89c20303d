import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { FlexiError } from '../core/errors.js';
import { sendError, protocolOf } from './errors.js';

export interface ClientLimits {
  /** `server.headers_timeout_ms` */
  headersTimeoutMs: number;
  /** `server.request_timeout_ms`; 0: none. */
  requestTimeoutMs: number;
  /** `server.unauthenticated_requests_per_address`; 0: none. */
  unauthenticatedPerAddress: number;
}

/**
 * Node's timeouts for receiving a request. `requestTimeout` runs until the request (headers and
 * body) has fully arrived, so a response streamed for minutes is not affected. Node refuses a
 * headers timeout above the request timeout; the request timeout covers the headers anyway. Node
 * looks for expired requests only every `connectionsCheckingInterval` (30 s by default, which
 * would double a 15 s limit): check ten times per timeout, at most once a second.
 */
export function requestTimeouts(limits: ClientLimits): { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number } {
  const requestTimeout = limits.requestTimeoutMs;
  const headersTimeout = requestTimeout > 0 ? Math.min(limits.headersTimeoutMs, requestTimeout) : limits.headersTimeoutMs;
  const shortest = Math.min(...[headersTimeout, requestTimeout].filter((ms) => ms > 0), 10_000);
  return { requestTimeout, headersTimeout, connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(shortest / 10))) };
}

/**
 * Limits on clients that have not shown who they are, so that slow or idle connections from one
 * address cannot tie up the server (docs/security.md, "Slow clients and connections").
 *
 * Node's `headersTimeout`/`requestTimeout` cut a request whose headers or body trickle in, but
 * only once its first byte has arrived: a connection that sends nothing at all is never checked
 * by them. `cutSilentConnections` closes such a connection when no request has started on it
 * within the headers timeout.
 */
export function cutSilentConnections(server: Server, timeoutMs: number): void {
  if (timeoutMs <= 0) return;
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    // A client that sent part of a request is Node's to cut (with a 408); this one sent nothing.
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, timeoutMs);
    timer.unref();
    timers.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  // A request has begun on the socket: from here Node's own timeouts (and keep-alive) govern it.
  server.prependListener('request', (request: IncomingMessage) => {
    const timer = timers.get(request.socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    timers.delete(request.socket);
  });
}

/** Probes must answer whatever a client does: they are cheap and carry no body. */
const EXEMPT_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/**
 * Counts, per client address (`request.ip`, so `X-Forwarded-For` with `server.trust_proxy`),
 * the requests in progress that the auth hook did not authenticate, from the moment their
 * headers arrive until they are answered. A public route such as `/auth/login` counts for its
 * whole life, its body included, so one address trickling bodies holds at most `perAddress`
 * requests; the next gets 429 at once and its connection is closed. A request with a valid key
 * or session is never counted: such a client may run as many parallel requests as its policy
 * allows. Private routes without valid credentials are answered 401 before their body is read.
 */
export class UnauthenticatedRequestLimit {
  private readonly counts = new Map<string, number>();

  constructor(private readonly perAddress: number) {}

  /** onRequest hook; must run after the auth hook. */
  readonly admit = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (this.perAddress <= 0 || request.principal !== undefined || EXEMPT_ROUTES.has(request.routeOptions.url ?? '')) {
      done();
      return;
    }
    const address = request.ip;
    const count = this.counts.get(address) ?? 0;
    if (count >= this.perAddress) {
      // Closing the connection frees the descriptor now instead of after the body timeout.
      const refusal = new FlexiError('too_many_unauthenticated_requests', undefined, { retryAfterSeconds: 1, headers: { connection: 'close' } });
      sendError(reply, refusal, protocolOf(request.url));
      return;
    }
    this.counts.set(address, count + 1);
    // 'close' fires exactly once, whether the response finished or the client went away.
    reply.raw.once('close', () => {
      const left = (this.counts.get(address) ?? 1) - 1;
      if (left <= 0) this.counts.delete(address);
      else this.counts.set(address, left);
    });
    done();
  };
}
