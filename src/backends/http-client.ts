import { EventEmitter } from 'node:events';
import { Pool, type Dispatcher } from 'undici';
import { FlexiError, isFlexiError } from '../core/errors.js';
import { LineSplitter, SseParser, type SseEvent } from '../lib/lines.js';

/**
 * The one way adapters talk HTTP to a node: an undici keep-alive pool per node, JSON in, JSON
 * or a streamed body out, with the caller's AbortSignal, a first-byte timeout and an idle
 * timeout between chunks. Every failure leaves here as a FlexiError.
 */

export interface HttpClientOptions {
  /** Node name, used in error messages. */
  nodeName: string;
  /** Base URL including any path prefix (`http://host:8000/v1`). */
  baseUrl: string;
  /** Keep-alive connections in the pool. */
  connections: number;
  /** From request start to the first body byte (covers queueing and model loading); 0 = none. */
  firstByteTimeoutMs: number;
  /** Longest silence between two body chunks once the first arrived; 0 = none. */
  idleTimeoutMs: number;
  /** Sent with every request (e.g. `authorization`). */
  headers?: Record<string, string>;
}

/** Largest error body read from a failed response; the rest is dropped. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * How long an idle pooled connection is reused. Below uvicorn's 5 s (vLLM, LM Studio): a longer
 * value races the server closing the socket, and a POST on a dead socket fails, not retried.
 */
const KEEP_ALIVE_TIMEOUT_MS = 4_000;

type Timer = ReturnType<typeof setTimeout>;

/**
 * One in-flight request's cancellation: the caller's signal, the first-byte timer and the idle
 * timer all end in one `abort` event that undici watches (abort destroys the socket).
 *
 * An EventEmitter, not an AbortController: undici takes either as `signal` (documented), and a
 * Node AbortController costs several microseconds to create and listen to — on every request,
 * next to the request context's own controller.
 */
class RequestGuard extends EventEmitter {
  /** Read by undici: an aborted guard never starts a request. */
  aborted = false;
  /** Read by undici as the abort error; undefined becomes its RequestAbortedError. */
  reason: unknown = undefined;
  timedOut: 'first_byte' | 'idle' | undefined;
  private firstByteTimer: Timer | undefined;
  private idleTimer: Timer | undefined;
  private readonly onCallerAbort: () => void;

  constructor(private readonly caller: AbortSignal | undefined, firstByteTimeoutMs: number, private readonly idleTimeoutMs: number) {
    super();
    this.onCallerAbort = () => this.abort(caller?.reason);
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    if (firstByteTimeoutMs > 0) {
      this.firstByteTimer = setTimeout(() => this.timeout('first_byte'), firstByteTimeoutMs);
      this.firstByteTimer.unref();
    }
  }

  /** Called per body chunk: the first one ends the first-byte wait, every one resets idle. */
  onChunk(): void {
    if (this.idleTimer !== undefined) {
      this.idleTimer.refresh();
      return;
    }
    if (this.firstByteTimer !== undefined) {
      clearTimeout(this.firstByteTimer);
      this.firstByteTimer = undefined;
    }
    if (this.idleTimeoutMs > 0) {
      this.idleTimer = setTimeout(() => this.timeout('idle'), this.idleTimeoutMs);
      this.idleTimer.unref();
    }
  }

  dispose(): void {
    if (this.firstByteTimer !== undefined) clearTimeout(this.firstByteTimer);
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.firstByteTimer = undefined;
    this.idleTimer = undefined;
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }

  private abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }

  private timeout(which: 'first_byte' | 'idle'): void {
    this.timedOut = which;
    this.abort(new Error(`${which} timeout`));
  }
}

/** A streamed response whose status was 2xx. Iterate `lineBatches()` or `sseEventBatches()` once, then `close()`. */
export class UpstreamStream {
  private complete = false;

  constructor(
    private readonly client: HttpClient,
    private readonly body: Dispatcher.ResponseData['body'],
    private readonly guard: RequestGuard,
    private readonly callerSignal: AbortSignal,
  ) {}

  /** The adapter saw the protocol's last message: the rest of the body may be drained for keep-alive. */
  markComplete(): void {
    this.complete = true;
  }

  /**
   * The body's lines, in batches: all lines one body chunk completed, split synchronously. One
   * await per chunk, not one per line and layer: this loop runs for every token of every stream.
   */
  lineBatches(): AsyncGenerator<string[]> {
    return this.batches((lines) => lines, () => []);
  }

  /** The body's server-sent events, in batches per body chunk (see `lineBatches`). */
  sseEventBatches(): AsyncGenerator<SseEvent[]> {
    const parser = new SseParser();
    return this.batches((lines) => {
      const events: SseEvent[] = [];
      for (const line of lines) {
        const event = parser.push(line);
        if (event) events.push(event);
      }
      return events;
    }, () => {
      const last = parser.end();
      return last ? [last] : [];
    });
  }

  private async *batches<T>(fromLines: (lines: string[]) => T[], atEnd: () => T[]): AsyncGenerator<T[]> {
    const guard = this.guard;
    const splitter = new LineSplitter();
    try {
      // Leaving the loop early must not destroy the body: close() decides between drain and destroy.
      for await (const chunk of this.body.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>) {
        guard.onChunk();
        const items = fromLines(splitter.push(chunk));
        if (items.length > 0) yield items;
        if (splitter.isOverLimit) throw this.unreadable(splitter.limitMessage);
      }
      const rest = fromLines(splitter.end()).concat(atEnd());
      if (rest.length > 0) yield rest;
    } catch (error) {
      throw this.client.mapFailure(error, guard, this.callerSignal);
    }
  }

  private unreadable(message: string): FlexiError {
    return new FlexiError('backend_error', `node "${this.client.nodeName}" sent an unreadable stream: ${message}`);
  }

  /**
   * Ends the request. After `markComplete()` the few bytes left (a final newline, `[DONE]`) are
   * drained so the connection goes back to the pool; otherwise the socket is destroyed, which is
   * how the node learns the client went away.
   */
  close(): void {
    if (this.body.readableEnded || this.body.destroyed) {
      this.guard.dispose();
      return;
    }
    if (!this.complete) {
      // undici turns a destroy without error into an AbortError event; nobody listens any more.
      this.body.on('error', ignore).destroy();
      this.guard.dispose();
      return;
    }
    // The idle timer stays armed: a node that never ends the body gets its socket destroyed,
    // and so does a caller's abort.
    const body = this.body;
    this.guard.onChunk();
    this.guard.once('abort', () => body.on('error', ignore).destroy());
    body.dump({ limit: Number.MAX_SAFE_INTEGER })
      .catch(() => undefined)
      .finally(() => this.guard.dispose());
  }
}

function ignore(): void {}

export class HttpClient {
  readonly nodeName: string;
  /** The node's `x-sim-speed` from its last answer (a `flexi sim`); undefined for real nodes. */
  simSpeed: number | undefined;
  private readonly pool: Pool;
  private readonly pathPrefix: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: HttpClientOptions) {
    this.nodeName = options.nodeName;
    const url = new URL(options.baseUrl);
    this.pathPrefix = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: options.connections,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // Our own timers measure first byte and idle gaps; undici's would measure headers only.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.headers = { 'content-type': 'application/json', accept: 'application/json, application/x-ndjson, text/event-stream', ...options.headers };
  }

  /** POST JSON and return the 2xx body as a stream; non-2xx and transport errors throw FlexiError. */
  async postStream(path: string, body: unknown, signal: AbortSignal): Promise<UpstreamStream> {
    const { response, guard } = await this.send('POST', path, body, signal);
    return new UpstreamStream(this, response.body, guard, signal);
  }

  postJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.requestJson<T>('POST', path, body, signal);
  }

  getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.requestJson<T>('GET', path, undefined, signal);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }

  private async requestJson<T>(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal | undefined): Promise<T> {
    const { response, guard } = await this.send(method, path, body, signal);
    try {
      // A JSON body is one unit: the first-byte timer covers it whole.
      const text = await response.body.text();
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw new FlexiError('backend_error', `node "${this.nodeName}" answered ${path} with invalid JSON`, { cause: error });
      }
    } catch (error) {
      throw this.mapFailure(error, guard, signal);
    } finally {
      guard.dispose();
    }
  }

  private async send(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal | undefined): Promise<{ response: Dispatcher.ResponseData; guard: RequestGuard }> {
    // A request cancelled before it started never reaches the node.
    if (signal?.aborted) throw abortError(signal);
    const payload = body === undefined ? undefined : serialise(this.nodeName, body);
    const guard = new RequestGuard(signal, this.options.firstByteTimeoutMs, this.options.idleTimeoutMs);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({
        method,
        path: this.pathPrefix + path,
        headers: this.headers,
        body: payload,
        signal: guard,
      });
    } catch (error) {
      guard.dispose();
      throw this.mapFailure(error, guard, signal);
    }
    this.simSpeed = parseSimSpeed(response.headers['x-sim-speed']);
    if (response.statusCode >= 200 && response.statusCode < 300) return { response, guard };
    try {
      const text = await readLimited(response.body, MAX_ERROR_BODY_BYTES);
      throw statusError(this.nodeName, path, response.statusCode, text);
    } catch (error) {
      throw this.mapFailure(error, guard, signal);
    } finally {
      guard.dispose();
    }
  }

  /** Any failure of a request → the FlexiError the Backend contract promises. */
  mapFailure(error: unknown, guard: RequestGuard, callerSignal: AbortSignal | undefined): FlexiError {
    if (isFlexiError(error)) return error;
    if (guard.timedOut !== undefined) {
      const what = guard.timedOut === 'first_byte' ? 'did not start answering' : 'stopped sending';
      const ms = guard.timedOut === 'first_byte' ? this.options.firstByteTimeoutMs : this.options.idleTimeoutMs;
      return new FlexiError('backend_timeout', `node "${this.nodeName}" ${what} within ${ms} ms`, { cause: error });
    }
    if (callerSignal?.aborted) return abortError(callerSignal);
    return transportError(this.nodeName, error);
  }
}

/** Abort by the caller: its own FlexiError reason if it gave one, else client_closed_request. */
export function abortError(signal: AbortSignal): FlexiError {
  const reason: unknown = signal.reason;
  if (isFlexiError(reason)) return reason;
  return new FlexiError('client_closed_request', 'The request was cancelled.', { cause: reason });
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function transportError(nodeName: string, error: unknown): FlexiError {
  const code = errorCode(error);
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new FlexiError('backend_timeout', `node "${nodeName}" did not answer in time`, { cause: error });
  }
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) {
    return new FlexiError('backend_unavailable', `node "${nodeName}" is unreachable (${code})`, { cause: error });
  }
  return new FlexiError('backend_error', `node "${nodeName}" failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

function errorCode(error: unknown): string | undefined {
  // undici wraps the socket error in `cause` for some failures (fetch-style); look one level down.
  for (let e: unknown = error, depth = 0; e !== null && typeof e === 'object' && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * The request as JSON text. A body that cannot be serialised (nested so deep that the stack
 * overflows, a cycle) is the request's fault, not the node's: it must not count against the
 * node's breaker, nor move to another node where it would fail the same way.
 */
function serialise(nodeName: string, body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    throw new FlexiError('invalid_request', `The request cannot be sent to node "${nodeName}": ${(error as Error).message}.`, { cause: error });
  }
}

/**
 * Upstream non-2xx → FlexiError, carrying the node's own message. What the node refuses because
 * of the request itself (400, 413, 422, a missing model) maps to a client error, which neither
 * counts against the node's breaker nor moves to another node; a 404 for the path itself, 401/403,
 * 429 and 5xx say the node is misconfigured or failing, so they stay node faults.
 */
export function statusError(nodeName: string, path: string, status: number, bodyText: string): FlexiError {
  const message = upstreamMessage(bodyText) || `HTTP ${status}`;
  if (status === 404 && /model/i.test(message)) return new FlexiError('model_not_found', message);
  if (status === 400 || status === 422) {
    if (/context (length|window)|maximum context|too long/i.test(message)) return new FlexiError('context_length_exceeded', message);
    return new FlexiError('invalid_request', message);
  }
  if (status === 413) return new FlexiError('payload_too_large', `node "${nodeName}" refused the request as too large: ${message}`);
  return new FlexiError('backend_error', `node "${nodeName}" answered ${path} with ${status}: ${message}`);
}

/** The message of an Ollama (`{"error":"…"}`), OpenAI (`{"error":{"message"}}`) or vLLM/FastAPI error body. */
export function upstreamMessage(bodyText: string): string {
  const text = bodyText.trim();
  if (text === '') return '';
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const error = body.error;
    if (typeof error === 'string') return error;
    if (error !== null && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
      return (error as { message: string }).message;
    }
    if (typeof body.message === 'string') return body.message;
    if (typeof body.detail === 'string') return body.detail;
  } catch {
    // not JSON: plain text below
  }
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

async function readLimited(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    text += decoder.decode(chunk, { stream: true });
    if (bytes >= maxBytes) {
      body.destroy();
      break;
    }
  }
  return text + decoder.decode();
}

function parseSimSpeed(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const speed = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(speed) && speed > 0 ? speed : undefined;
}
