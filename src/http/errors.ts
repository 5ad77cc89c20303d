import type { FastifyReply } from 'fastify';
import { FlexiError, toFlexiError } from '../core/errors.js';

export type WireProtocol = 'openai' | 'ollama';

export function protocolOf(url: string): WireProtocol {
  return url.startsWith('/api/') || url === '/api' ? 'ollama' : 'openai';
}

/** Maps Fastify's own errors (body parsing, limits) to catalog codes. */
export function fromFrameworkError(error: unknown): FlexiError {
  if (error instanceof FlexiError) return error;
  const code = (error as { code?: string }).code;
  const status = (error as { statusCode?: number }).statusCode;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new FlexiError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new FlexiError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new FlexiError('invalid_json', 'The request body is empty; send a JSON object.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new FlexiError('invalid_request', 'The Content-Length header does not match the body.');
    default:
      if (status !== undefined && status >= 400 && status < 500) {
        return new FlexiError('invalid_request', (error as Error).message);
      }
      return toFlexiError(error);
  }
}

/** The error body in the client's protocol: OpenAI `{error:{…}}`, Ollama `{error:"…"}`. */
export function errorBody(error: FlexiError, protocol: WireProtocol): unknown {
  if (protocol === 'ollama') return { error: error.message };
  return { error: { message: error.message, type: error.openaiType, param: error.param ?? null, code: error.code } };
}

export function errorHeaders(error: FlexiError): Record<string, string> {
  const headers: Record<string, string> = { ...error.headers };
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  if (!error.retryable) headers['x-should-retry'] = 'false';
  return headers;
}

export function sendError(reply: FastifyReply, error: FlexiError, protocol: WireProtocol): FastifyReply {
  return reply.code(error.status).headers(errorHeaders(error)).send(errorBody(error, protocol));
}
