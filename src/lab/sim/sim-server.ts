import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomId } from '../../lib/ids.js';
import {
  SIM_OLLAMA_VERSION, handleOllamaChat, handleOllamaEmbed, handleOllamaGenerate, handleOllamaPs, handleOllamaPull,
  handleOllamaShow, handleOllamaTags,
} from './ollama-routes.js';
import { handleChatCompletions, handleCompletions, handleEmbeddings, handleGetModel, handleListModels } from './openai-routes.js';
import { wasDropped } from './sim-generation.js';
import { SimEngine } from './sim-engine.js';
import { SimEvalOracle, type SimAnswerKey } from './sim-evals.js';
import { SIM_FAULT_KINDS, type SimFaultKind } from './sim-state.js';
import { SimHttpError, readJsonBody, sendError, sendJson, type SimRequestContext } from './sim-http.js';
import type { SimFaults, SimProfile } from './profile.js';
import { PAPER_SERVER_B } from './profiles.js';

/** The port `flexi sim` listens on unless told otherwise (Ollama's 11434 stays free). */
export const SIM_DEFAULT_PORT = 11500;

export interface SimServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  profile?: SimProfile;
  speed?: number;
  seed?: number;
  /** Override the profile's fault rates. */
  faults?: Partial<SimFaults>;
  /** Override every model's `slots`: requests of a model running at once; more wait FIFO inside the sim (like OLLAMA_NUM_PARALLEL). */
  parallel?: number;
  /** Benchmark files the sim knows the answers of (`flexi eval` against the sim scores each model's quality). */
  answerKeys?: SimAnswerKey[];
}

export interface SimServer {
  /** Base URL, e.g. `http://127.0.0.1:11500`; OpenAI clients use `${url}/v1`. */
  url: string;
  state: SimEngine;
  server: Server;
  close(): Promise<void>;
}

/** Starts the simulated inference server and resolves once it listens. */
export async function startSimServer(options: SimServerOptions = {}): Promise<SimServer> {
  const base = withParallel(options.profile ?? PAPER_SERVER_B, options.parallel);
  const profile: SimProfile = options.faults ? { ...base, faults: { ...base.faults, ...definedOnly(options.faults) } } : base;
  const seed = options.seed ?? 0;
  const evalOracle = options.answerKeys && options.answerKeys.length > 0 ? SimEvalOracle.fromFiles(seed, options.answerKeys) : undefined;
  const engine = new SimEngine({ profile, speed: options.speed ?? 1, seed, evalOracle });
  const server = createServer((req, res) => {
    void handleRequest(engine, req, res);
  });
  // Load generators keep connections open between requests; outlive their idle timeouts.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? SIM_DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    state: engine,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        engine.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handleRequest(engine: SimEngine, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sim');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const controller = new AbortController();
  const ctx: SimRequestContext = {
    engine, req, res, signal: controller.signal,
    requestId: headerValue(req, 'x-request-id') ?? randomId(16),
    protocol: path.startsWith('/v1') ? 'openai' : 'ollama',
    forcedFault: undefined,
    startedAtMs: performance.now(),
  };
  res.setHeader('x-sim-speed', String(engine.speed));
  res.setHeader('x-request-id', ctx.requestId);
  res.on('close', () => {
    if (res.writableFinished) return;
    // The client went away (or the sim dropped it): abort the work so its slot frees at once.
    if (!wasDropped(ctx)) engine.disconnected();
    controller.abort(new Error('client disconnected'));
  });
  try {
    ctx.forcedFault = readForcedFault(req);
    await route(ctx, req.method ?? 'GET', path);
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error instanceof SimHttpError) {
      sendError(ctx, error.status, error.message, error.param);
      return;
    }
    sendError(ctx, 500, `internal error: ${(error as Error).message}`);
  }
}

async function route(ctx: SimRequestContext, method: string, path: string): Promise<void> {
  const isGet = method === 'GET' || method === 'HEAD';
  const post = async (handler: (ctx: SimRequestContext, body: Record<string, unknown>) => unknown): Promise<void> => {
    if (method !== 'POST') throw new SimHttpError(405, `method ${method} not allowed on ${path}`);
    await handler(ctx, await readJsonBody(ctx.req));
  };
  switch (path) {
    case '/':
      if (!isGet) break;
      ctx.res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      ctx.res.end('Ollama is running');
      return;
    case '/api/version':
      if (!isGet) break;
      return sendJson(ctx, 200, { version: SIM_OLLAMA_VERSION });
    case '/api/tags':
      if (!isGet) break;
      return handleOllamaTags(ctx);
    case '/api/ps':
      if (!isGet) break;
      return handleOllamaPs(ctx);
    case '/api/show':
      return post(handleOllamaShow);
    case '/api/pull':
      return post(handleOllamaPull);
    case '/api/chat':
      return post(handleOllamaChat);
    case '/api/generate':
      return post(handleOllamaGenerate);
    case '/api/embed':
      return post((c, body) => handleOllamaEmbed(c, body, false));
    case '/api/embeddings':
      return post((c, body) => handleOllamaEmbed(c, body, true));
    case '/v1/chat/completions':
      return post(handleChatCompletions);
    case '/v1/completions':
      return post(handleCompletions);
    case '/v1/embeddings':
      return post(handleEmbeddings);
    case '/v1/models':
      if (!isGet) break;
      return handleListModels(ctx);
    case '/sim/info':
      if (!isGet) break;
      return sendJson(ctx, 200, ctx.engine.info());
    default:
      if (isGet && path.startsWith('/v1/models/')) return handleGetModel(ctx, decodeURIComponent(path.slice('/v1/models/'.length)));
      throw new SimHttpError(404, `404 page not found: ${path}`);
  }
  throw new SimHttpError(405, `method ${method} not allowed on ${path}`);
}

function readForcedFault(req: IncomingMessage): SimFaultKind | undefined {
  const value = headerValue(req, 'x-sim-fail');
  if (value === undefined || value === '') return undefined;
  if (!(SIM_FAULT_KINDS as readonly string[]).includes(value)) {
    throw new SimHttpError(400, `x-sim-fail must be one of ${SIM_FAULT_KINDS.join(', ')}`);
  }
  return value as SimFaultKind;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The profile with every model's slots set to `parallel` (when given). */
export function withParallel(profile: SimProfile, parallel: number | undefined): SimProfile {
  if (parallel === undefined) return profile;
  if (!(Number.isInteger(parallel) && parallel >= 1)) throw new RangeError(`parallel must be an integer ≥ 1, got ${parallel}`);
  return { ...profile, models: profile.models.map((model) => ({ ...model, slots: parallel })) };
}
