import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimEngine } from './sim-engine.js';
import type { SimFaultKind } from './sim-state.js';

/** An error answered before the first byte, in the protocol of the route that raised it. */
export class SimHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'SimHttpError';
  }
}

export type SimProtocol = 'ollama' | 'openai';

/** What every route handler gets. */
export interface SimRequestContext {
  engine: SimEngine;
  req: IncomingMessage;
  res: ServerResponse;
  /** Aborted when the client disconnects before the answer is complete. */
  signal: AbortSignal;
  requestId: string;
  protocol: SimProtocol;
  /** Fault forced by the `x-sim-fail` header, if any. */
  forcedFault: SimFaultKind | undefined;
  /** Real ms (performance.now) when the request arrived. */
  startedAtMs: number;
}

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Reads and parses the JSON body; 400 with the parser's message when it is not JSON. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new SimHttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new SimHttpError(400, 'missing request body');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SimHttpError(400, `invalid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SimHttpError(400, 'request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function sendJson(ctx: SimRequestContext, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  ctx.res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  ctx.res.end(text);
}

/** Error JSON in the route's protocol: `{"error":"…"}` for Ollama, `{"error":{message,type,param,code}}` for OpenAI. */
export function sendError(ctx: SimRequestContext, status: number, message: string, param: string | null = null): void {
  if (ctx.res.headersSent) {
    ctx.res.destroy();
    return;
  }
  if (ctx.protocol === 'ollama') {
    sendJson(ctx, status, { error: message });
    return;
  }
  const type = status === 404 ? 'not_found_error' : status < 500 ? 'invalid_request_error' : 'api_error';
  const code = status === 404 ? 'model_not_found' : status === 503 ? 'server_busy' : null;
  sendJson(ctx, status, { error: { message, type, param, code } });
}

export function startStream(ctx: SimRequestContext, contentType: string): void {
  if (ctx.res.headersSent) return;
  ctx.res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
  ctx.res.flushHeaders();
}

// ---- small readers for loosely typed request bodies -------------------------------------

export function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new SimHttpError(400, `${key} must be a string`, key);
  return value;
}

export function requireModel(ctx: SimRequestContext, body: Record<string, unknown>): string {
  const model = optionalString(body, 'model');
  if (!model) throw new SimHttpError(400, 'model is required', 'model');
  if (!ctx.engine.findModel(model)) {
    throw new SimHttpError(404, `model "${model}" not found, try pulling it first`, 'model');
  }
  return model;
}

export function optionalNumber(source: Record<string, unknown> | undefined, key: string): number | undefined {
  const value = source?.[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new SimHttpError(400, `${key} must be a number`, key);
  return value;
}

export function optionalObject(source: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const value = source[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new SimHttpError(400, `${key} must be an object`, key);
  return value as Record<string, unknown>;
}

/** `stop` as string or array of strings. */
export function readStop(value: unknown, param: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((s) => typeof s === 'string')) return value as string[];
  throw new SimHttpError(400, `${param} must be a string or an array of strings`, param);
}

/** Text of a message `content`: a string, or OpenAI content parts whose text parts are joined. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : ''))
      .join('');
  }
  return '';
}

/** Ollama keep_alive: seconds as a number, or a Go duration string such as "5m", "1h30m", "0", "-1". */
export function parseKeepAliveMs(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number') return value < 0 ? -1 : value * 1000;
  if (typeof value !== 'string') throw new SimHttpError(400, 'keep_alive must be a number or a duration string', 'keep_alive');
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value) < 0 ? -1 : Number(value) * 1000;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const negative = value.startsWith('-');
  let total = 0;
  let rest = negative ? value.slice(1) : value;
  const part = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (!match) throw new SimHttpError(400, `keep_alive: invalid duration "${value}"`, 'keep_alive');
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return negative ? -1 : total;
}
