import { Agent, request, type Dispatcher } from 'undici';

/** Wire protocol the lab tools speak to a target: OpenAI `/v1` or Ollama native `/api`. */
export type Protocol = 'openai' | 'ollama';

/** A server the lab tools measure: Flexi, a bare Ollama, vLLM, `flexi sim`, … */
export interface Target {
  /** Origin plus optional path prefix, without a trailing `/v1` or `/api`. */
  baseUrl: string;
  apiKey?: string;
  protocol: Protocol;
  /** Shared connection pool; one per run so keep-alive connections are reused. */
  dispatcher: Dispatcher;
}

export interface TargetInfo {
  protocol: Protocol;
  baseUrl: string;
  /** Ollama `/api/version`, when the target answers it. */
  serverVersion?: string;
  /** Models the target lists (`/api/tags` or `/v1/models`); undefined when it does not list them. */
  models?: string[];
  /** From the `x-sim-speed` header a `flexi sim` target sends: how much faster than real time it runs. */
  simSpeed?: number;
}

export type TargetErrorKind = 'unreachable' | 'unauthorized' | 'unsupported' | 'bad_url';

/** The target cannot be used at all; the message says what to check. */
export class TargetError extends Error {
  constructor(message: string, readonly kind: TargetErrorKind, readonly status?: number) {
    super(message);
    this.name = 'TargetError';
  }
}

/** Keep-alive pool without undici's own 300 s header/body time-outs: the tools enforce their own. */
export function createDispatcher(): Dispatcher {
  return new Agent({ headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000, connections: null });
}

/** `http://h:11434/`, `http://h/v1` and `http://h/api` all name the same target. */
export function normalizeBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TargetError(`--url "${url}" is not a URL; give e.g. http://127.0.0.1:11434`, 'bad_url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TargetError(`--url "${url}" must start with http:// or https://`, 'bad_url');
  }
  let path = parsed.pathname.replace(/\/+$/, '');
  path = path.replace(/\/(v1|api)$/, '');
  return `${parsed.origin}${path}`;
}

export function authHeaders(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

/** Node's network error codes, found on the error or its cause. */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function describeError(error: unknown): string {
  const code = networkErrorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

interface JsonAnswer {
  status: number;
  body: unknown;
  simSpeed?: number;
}

async function getJson(baseUrl: string, path: string, apiKey: string | undefined, dispatcher: Dispatcher, timeoutMs: number): Promise<JsonAnswer> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(`${baseUrl}${path}`, {
      method: 'GET', headers: { accept: 'application/json', ...authHeaders(apiKey) }, dispatcher, signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new TargetError(`cannot reach ${baseUrl} (${describeError(error)}); check --url and that the server is running`, 'unreachable');
  }
  const text = await response.body.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, body, simSpeed: parseSimSpeed(response.headers['x-sim-speed']) };
}

export function parseSimSpeed(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const speed = Number(value);
  return Number.isFinite(speed) && speed > 0 ? speed : undefined;
}

function unauthorized(baseUrl: string, status: number): TargetError {
  return new TargetError(`${baseUrl} rejected the API key (HTTP ${status}); pass a valid key with --key`, 'unauthorized', status);
}

function listModels(protocol: Protocol, body: unknown): string[] | undefined {
  if (protocol === 'ollama') {
    const models = (body as { models?: { name?: unknown; model?: unknown }[] } | undefined)?.models;
    if (!Array.isArray(models)) return undefined;
    return models.map((m) => String(m.name ?? m.model ?? '')).filter(Boolean);
  }
  const data = (body as { data?: { id?: unknown }[] } | undefined)?.data;
  if (!Array.isArray(data)) return undefined;
  return data.map((m) => String(m.id ?? '')).filter(Boolean);
}

/**
 * Finds out which protocol the target speaks (auto: GET /api/version, then /v1/models), which
 * models it lists and whether it is a `flexi sim`. Throws TargetError when it cannot be used.
 */
export async function probeTarget(options: {
  url: string; apiKey?: string; protocol: Protocol | 'auto'; dispatcher: Dispatcher; timeoutMs?: number;
}): Promise<TargetInfo> {
  const baseUrl = normalizeBaseUrl(options.url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { apiKey, dispatcher } = options;
  let protocol = options.protocol;
  let serverVersion: string | undefined;
  let simSpeed: number | undefined;
  if (protocol === 'auto' || protocol === 'ollama') {
    const version = await getJson(baseUrl, '/api/version', apiKey, dispatcher, timeoutMs);
    simSpeed = version.simSpeed;
    const v = (version.body as { version?: unknown } | undefined)?.version;
    if (version.status === 200 && typeof v === 'string') {
      serverVersion = v;
      protocol = 'ollama';
    } else if (version.status === 401 || version.status === 403) {
      throw unauthorized(baseUrl, version.status);
    }
  }
  if (protocol === 'auto' || protocol === 'openai') {
    const answer = await getJson(baseUrl, '/v1/models', apiKey, dispatcher, timeoutMs);
    simSpeed ??= answer.simSpeed;
    if (answer.status === 401 || answer.status === 403) throw unauthorized(baseUrl, answer.status);
    if (answer.status === 200) {
      return { protocol: 'openai', baseUrl, serverVersion, models: listModels('openai', answer.body), simSpeed };
    }
    if (options.protocol === 'openai') {
      // Some OpenAI-compatible servers do not list models; chat may still work.
      return { protocol: 'openai', baseUrl, simSpeed };
    }
    throw new TargetError(
      `${baseUrl} answers neither GET /api/version (Ollama) nor GET /v1/models (OpenAI) (HTTP ${answer.status}); check --url or set --protocol`,
      'unsupported', answer.status);
  }
  const tags = await getJson(baseUrl, '/api/tags', apiKey, dispatcher, timeoutMs);
  simSpeed ??= tags.simSpeed;
  if (tags.status === 401 || tags.status === 403) throw unauthorized(baseUrl, tags.status);
  return { protocol: 'ollama', baseUrl, serverVersion, models: tags.status === 200 ? listModels('ollama', tags.body) : undefined, simSpeed };
}

/** Ollama names default to the tag `latest`: `llama3` and `llama3:latest` are one model. */
export function sameModel(a: string, b: string): boolean {
  const norm = (name: string) => (name.includes(':') ? name : `${name}:latest`).toLowerCase();
  return norm(a) === norm(b);
}

/** Splits requested models into those the target lists and those it does not (all found when it lists none). */
export function checkModels(requested: string[], listed: string[] | undefined): { found: string[]; missing: string[] } {
  if (!listed) return { found: requested, missing: [] };
  const found = requested.filter((m) => listed.some((l) => sameModel(l, m)));
  return { found, missing: requested.filter((m) => !found.includes(m)) };
}
