/**
 * One error class, one catalog. Services throw codes, never HTTP statuses; the http layer is
 * the one place that turns a FlexiError into wire JSON (OpenAI shape on /v1, Ollama shape on
 * /api). docs/errors.md is checked against this catalog by a test.
 */

export interface ErrorSpec {
  /** HTTP status the code maps to. */
  status: number;
  /** OpenAI error `type` field. */
  openaiType: string;
  /** Default message when the thrower gives none. */
  message: string;
  /** Whether a client may retry the same request later. */
  retryable: boolean;
  /** One line for docs/errors.md: when it happens and what to do. */
  description: string;
}

export const ERROR_CATALOG = {
  invalid_request: {
    status: 400, openaiType: 'invalid_request_error', retryable: false,
    message: 'The request is invalid.',
    description: 'A field is missing, has the wrong type or an out-of-range value; the message names the field.',
  },
  pull_source_not_allowed: {
    status: 400, openaiType: 'invalid_request_error', retryable: false,
    message: 'The download source is not allowed.',
    description: 'A model pull named a host that is not in `models.pull.allow_hosts`, or a host or redirect that leads to a loopback, link-local, private or other non-public address outside `models.pull.allow_networks`. Nothing was sent to it.',
  },
  invalid_json: {
    status: 400, openaiType: 'invalid_request_error', retryable: false,
    message: 'The request body is not valid JSON.',
    description: 'The body could not be parsed as JSON (or is not valid UTF-8). Fix the client\'s serialisation.',
  },
  unsupported_parameter: {
    status: 400, openaiType: 'invalid_request_error', retryable: false,
    message: 'A parameter is not supported.',
    description: 'The request uses a parameter Flexi deliberately does not support, such as `n` > 1.',
  },
  context_length_exceeded: {
    status: 400, openaiType: 'invalid_request_error', retryable: false,
    message: 'The prompt is longer than the model\'s context.',
    description: 'Shorten the prompt or use a model with a longer context.',
  },
  input_too_long: {
    status: 400, openaiType: 'invalid_request_error', retryable: false,
    message: 'The input is larger than your role allows.',
    description: 'The messages, prompt or input exceed the role\'s `max_input_tokens` (counted as UTF-8 bytes plus per-message overhead). Send less, or ask for a role with a larger limit.',
  },
  unauthorized: {
    status: 401, openaiType: 'authentication_error', retryable: false,
    message: 'Missing API key. Send it as `Authorization: Bearer <key>` or in the `api-key` header.',
    description: 'No API key was sent.',
  },
  invalid_api_key: {
    status: 401, openaiType: 'authentication_error', retryable: false,
    message: 'Invalid API key.',
    description: 'The key is unknown, revoked or expired. Create a new one with `flexi keys create`.',
  },
  permission_denied: {
    status: 403, openaiType: 'permission_error', retryable: false,
    message: 'You are not allowed to do this.',
    description: 'The key or role may not use this model or endpoint.',
  },
  agreement_required: {
    status: 403, openaiType: 'permission_error', retryable: false,
    message: 'Accept the user agreement first (GET /auth/agreement, POST /auth/agreement/accept).',
    description: 'A browser session tried to chat or use the API before its user accepted the current user agreement (`agreement.version`). API keys are not affected.',
  },
  not_found: {
    status: 404, openaiType: 'invalid_request_error', retryable: false,
    message: 'Not found.',
    description: 'No such route or resource.',
  },
  model_not_found: {
    status: 404, openaiType: 'invalid_request_error', retryable: false,
    message: 'The model does not exist.',
    description: 'No node serves this model. `GET /v1/models` lists what is available.',
  },
  method_not_allowed: {
    status: 405, openaiType: 'invalid_request_error', retryable: false,
    message: 'Method not allowed.',
    description: 'The route exists but not for this HTTP method.',
  },
  conflict: {
    status: 409, openaiType: 'invalid_request_error', retryable: false,
    message: 'The resource already exists.',
    description: 'A resource with this name already exists.',
  },
  payload_too_large: {
    status: 413, openaiType: 'invalid_request_error', retryable: false,
    message: 'The request body is too large.',
    description: 'The body exceeds `server.body_limit_bytes` (default 4 MiB), or the node refused the request as too large. Flexi reads the rest of a refused body (up to 64 MiB, 30 s) before it closes, so clients can read this answer.',
  },
  unsupported_media_type: {
    status: 415, openaiType: 'invalid_request_error', retryable: false,
    message: 'Send the body as application/json.',
    description: 'The Content-Type is not JSON.',
  },
  rate_limit_exceeded: {
    status: 429, openaiType: 'rate_limit_error', retryable: true,
    message: 'Rate limit exceeded.',
    description: 'Too many requests or tokens in a window, or more than your fair share is waiting; wait `Retry-After` seconds.',
  },
  too_many_unauthenticated_requests: {
    status: 429, openaiType: 'rate_limit_error', retryable: true,
    message: 'Too many requests from your address are in progress before authentication; retry shortly.',
    description: 'More requests from one client address than `server.unauthenticated_requests_per_address` were in progress before authentication (logins, public pages, wrong keys): a slow-client attack or a crowd behind one address without `server.trust_proxy`. The connection is closed.',
  },
  insufficient_quota: {
    status: 429, openaiType: 'insufficient_quota', retryable: false,
    message: 'Your token budget is spent.',
    description: 'The budget of the period is used up; the message says when it resets.',
  },
  client_closed_request: {
    status: 499, openaiType: 'invalid_request_error', retryable: false,
    message: 'The client closed the connection.',
    description: 'Logged only: the client went away before the answer was complete.',
  },
  internal_error: {
    status: 500, openaiType: 'server_error', retryable: true,
    message: 'Internal error. The request id identifies the details in the server log.',
    description: 'A bug in Flexi. Report it with the `x-request-id`.',
  },
  backend_error: {
    status: 502, openaiType: 'server_error', retryable: true,
    message: 'The inference server answered with an error.',
    description: 'The node returned an error or a malformed answer.',
  },
  node_unreachable: {
    status: 503, openaiType: 'server_error', retryable: true,
    message: 'The node that serves this model cannot be reached.',
    description: 'The model is known (a configured node served it before, or the config declares it) but its node does not answer now; the message names the node, its URL and the cause. Retry after `Retry-After`; operators: start the node or fix its `url`.',
  },
  backend_unavailable: {
    status: 503, openaiType: 'server_error', retryable: true,
    message: 'No inference server for this model is reachable.',
    description: 'Every node serving the model is down, draining or failing; retry after `Retry-After`.',
  },
  overloaded: {
    status: 503, openaiType: 'server_error', retryable: true,
    message: 'The system is full; please retry later.',
    description: 'The queue for the model is full or the request could not start before its deadline.',
  },
  store_unavailable: {
    status: 503, openaiType: 'server_error', retryable: true,
    message: 'A store Flexi depends on is unreachable; please retry shortly.',
    description: 'The shared quota store (Redis) did not answer, so the request was not sent to a model. Operators: check `redis.url` and that Redis runs.',
  },
  backend_timeout: {
    status: 504, openaiType: 'server_error', retryable: true,
    message: 'The inference server did not answer in time.',
    description: 'The node accepted the request but did not produce output within the node timeout.',
  },
  model_without_vision: {
    status: 400, openaiType: 'invalid_request_error', retryable: false,
    message: 'The model does not take images.',
    description: 'A message carries an image but the model has no vision capability (`GET /v1/models` and `/api/show` list capabilities; the embedded engine takes text only). Send text only or pick a vision model. Nothing reached a node.',
  },
  chats_locked: {
    status: 403, openaiType: 'permission_error', retryable: false,
    message: 'Your chats are encrypted and locked: sign in again with your password (or unlock them with your recovery key).',
    description: 'Chats are encrypted at rest (`privacy.encrypt_chats`) and this session holds no key for them: after an administrator reset the password, or a session that began before encryption. Sign in again, or unlock with the recovery key.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface FlexiErrorOptions {
  /** The request field the error is about (OpenAI `param`). */
  param?: string;
  /** Seconds the client should wait before retrying (sent as Retry-After). */
  retryAfterSeconds?: number;
  /** Extra response headers (e.g. x-ratelimit-*). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class FlexiError extends Error {
  readonly code: ErrorCode;
  readonly param: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message?: string, options: FlexiErrorOptions = {}) {
    super(message ?? ERROR_CATALOG[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlexiError';
    this.code = code;
    this.param = options.param;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers;
  }

  get status(): number {
    return ERROR_CATALOG[this.code].status;
  }

  get openaiType(): string {
    return ERROR_CATALOG[this.code].openaiType;
  }

  get retryable(): boolean {
    return ERROR_CATALOG[this.code].retryable;
  }
}

export function isFlexiError(error: unknown): error is FlexiError {
  return error instanceof FlexiError;
}

/** Any thrown value as a FlexiError; unknown errors become `internal_error` (details stay in the log). */
export function toFlexiError(error: unknown): FlexiError {
  if (error instanceof FlexiError) return error;
  return new FlexiError('internal_error', undefined, { cause: error });
}

export function invalidRequest(param: string, message: string): FlexiError {
  return new FlexiError('invalid_request', message, { param });
}
