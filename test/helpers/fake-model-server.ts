import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../src/lib/random.js';

/**
 * A tiny deterministic "model" speaking Ollama's native API at `/api` and the OpenAI API at
 * `/v1`, so the conformance suite can run without the real sim or a GPU. Text is words drawn
 * from a PRNG seeded by `seed`; `stop`, `num_predict`/`max_tokens` are honoured like an engine
 * would. The /v1 side lists ids without a tag (`fake-chat`), as vLLM does.
 */

export interface FakeModelServer {
  /** Base URL of the Ollama API; the OpenAI API is at `${url}/v1`. */
  url: string;
  /** Generation and embedding requests received. */
  readonly requestCount: number;
  /** Generations being streamed now. */
  readonly inFlight: number;
  close(): Promise<void>;
}

const MODELS = ['fake-chat', 'fake-embed'];
const WORDS = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(' ');
const DEFAULT_TOKENS = 16;
const EMBED_DIMENSIONS = 8;

function knownModel(name: unknown, withTag: boolean): string | undefined {
  if (typeof name !== 'string') return undefined;
  const base = withTag ? name.replace(/:latest$/, '') : name;
  return MODELS.includes(base) ? base : undefined;
}

interface Generation { tokens: string[]; finish: 'stop' | 'length' }

/** The whole answer up front; streaming then only paces it out. */
function generate(seed: number | undefined, maxTokens: number | undefined, stop: string[]): Generation {
  const random = seededRandom(seed ?? Math.floor(Math.random() * 2 ** 31));
  const limit = maxTokens ?? DEFAULT_TOKENS;
  const tokens: string[] = [];
  let text = '';
  for (let i = 0; i < Math.min(limit, DEFAULT_TOKENS * 100); i++) {
    const token = (i === 0 ? '' : ' ') + WORDS[Math.floor(random() * WORDS.length)];
    const next = text + token;
    const hit = stop.map((s) => next.indexOf(s)).filter((at) => at >= 0).sort((a, b) => a - b)[0];
    if (hit !== undefined) {
      const kept = next.slice(text.length, hit);
      if (kept !== '') tokens.push(kept);
      return { tokens, finish: 'stop' };
    }
    tokens.push(token);
    text = next;
  }
  return { tokens, finish: maxTokens !== undefined && tokens.length >= maxTokens ? 'length' : 'stop' };
}

function embedding(text: string): number[] {
  const random = seededRandom([...text].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261));
  return Array.from({ length: EMBED_DIMENSIONS }, () => random() * 2 - 1);
}

function promptTokens(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<{ content?: unknown }>) : [];
  const text = messages.map((m) => String(m.content ?? '')).join(' ') + String(body.prompt ?? '');
  return Math.max(1, text.split(/\s+/).filter(Boolean).length);
}

type FakeTool = { function: { name: string; parameters?: { properties?: Record<string, { type?: string; enum?: unknown[] }> } } };

/** The tool a request asks for (tool_choice by name, else the first offered) and arguments fitting its schema. */
function toolCallFor(body: Record<string, unknown>): { name: string; arguments: Record<string, unknown> } | undefined {
  const tools = Array.isArray(body.tools) ? (body.tools as FakeTool[]) : [];
  if (tools.length === 0 || body.tool_choice === 'none') return undefined;
  const named = (body.tool_choice as { function?: { name?: string } } | undefined)?.function?.name;
  const tool = tools.find((t) => t.function.name === named) ?? tools[0]!;
  const args: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(tool.function.parameters?.properties ?? {})) {
    args[key] = schema.enum?.[0] ?? (schema.type === 'number' || schema.type === 'integer' ? 1 : schema.type === 'boolean' ? true : 'fake');
  }
  return { name: tool.function.name, arguments: args };
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

export async function startFakeModelServer(): Promise<FakeModelServer> {
  let requestCount = 0;
  let inFlight = 0;
  const loaded = new Set<string>();

  /** Writes one frame per token, a timer tick apart, until done or the client leaves. */
  async function stream(res: ServerResponse, frames: string[]): Promise<void> {
    inFlight++;
    let closed = false;
    res.on('close', () => { closed = true; });
    try {
      for (const frame of frames) {
        if (closed) return;
        res.write(frame);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      res.end();
    } finally {
      inFlight--;
    }
  }

  function ollamaGenerate(res: ServerResponse, body: Record<string, unknown>, chat: boolean): void {
    const model = knownModel(body.model, true);
    if (model === undefined) return sendJson(res, 404, { error: `model '${String(body.model)}' not found, try pulling it first` });
    requestCount++;
    loaded.add(model);
    if (!chat && body.prompt === undefined) {
      if (body.keep_alive === 0) loaded.delete(model);
      return sendJson(res, 200, { model, response: '', done: true, done_reason: body.keep_alive === 0 ? 'unload' : 'load' });
    }
    const options = (body.options ?? {}) as { seed?: number; num_predict?: number; stop?: string[] };
    const call = chat ? toolCallFor(body) : undefined;
    if (call) {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const message = { role: 'assistant', content: '', tool_calls: [{ function: call }] };
      return void stream(res, [`${JSON.stringify({ model, message, done: true, done_reason: 'stop', prompt_eval_count: promptTokens(body), eval_count: 9 })}\n`]);
    }
    const { tokens, finish } = generate(options.seed, options.num_predict, options.stop ?? []);
    const frames = tokens.map((t) => JSON.stringify(chat
      ? { model, message: { role: 'assistant', content: t }, done: false }
      : { model, response: t, done: false }) + '\n');
    const final = {
      model, done: true, done_reason: finish, total_duration: 5_000_000, load_duration: 1_000_000,
      prompt_eval_count: promptTokens(body), prompt_eval_duration: 1_000_000, eval_count: tokens.length, eval_duration: 3_000_000,
      ...(chat ? { message: { role: 'assistant', content: '' } } : { response: '' }),
    };
    frames.push(JSON.stringify(final) + '\n');
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    void stream(res, frames);
  }

  function openaiGenerate(res: ServerResponse, body: Record<string, unknown>, chat: boolean): void {
    const model = knownModel(body.model, false);
    if (model === undefined) return sendJson(res, 404, { error: { message: `The model \`${String(body.model)}\` does not exist.`, type: 'NotFoundError' } });
    requestCount++;
    const stop = typeof body.stop === 'string' ? [body.stop] : (body.stop as string[] | undefined) ?? [];
    const { tokens, finish } = generate(body.seed as number | undefined, body.max_tokens as number | undefined, stop);
    const base = { id: 'fake-1', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 1, model };
    const call = chat ? toolCallFor(body) : undefined;
    if (call) {
      // As vLLM streams a call: name first, the arguments in pieces.
      const args = JSON.stringify(call.arguments);
      const deltas = [
        { tool_calls: [{ index: 0, id: 'call_fake1', type: 'function', function: { name: call.name, arguments: '' } }] },
        { tool_calls: [{ index: 0, function: { arguments: args.slice(0, 5) } }] },
        { tool_calls: [{ index: 0, function: { arguments: args.slice(5) } }] },
      ];
      const frames = deltas.map((delta) => `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`);
      frames.push(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }], usage: { prompt_tokens: promptTokens(body), completion_tokens: 9, total_tokens: promptTokens(body) + 9 } })}\n\n`, 'data: [DONE]\n\n');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      return void stream(res, frames);
    }
    const choice = (t: string | undefined, finishReason: string | null) => chat
      ? { index: 0, delta: t === undefined ? {} : { content: t }, finish_reason: finishReason }
      : { index: 0, text: t ?? '', finish_reason: finishReason };
    const frames = tokens.map((t) => `data: ${JSON.stringify({ ...base, choices: [choice(t, null)] })}\n\n`);
    frames.push(`data: ${JSON.stringify({ ...base, choices: [choice(undefined, finish)] })}\n\n`);
    if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true) {
      const usage = { prompt_tokens: promptTokens(body), completion_tokens: tokens.length, total_tokens: promptTokens(body) + tokens.length };
      frames.push(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
    }
    frames.push('data: [DONE]\n\n');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    void stream(res, frames);
  }

  function route(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): void {
    const key = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    const inputs = Array.isArray(body.input) ? (body.input as string[]) : [String(body.input ?? '')];
    switch (key) {
      case 'GET /api/version': return sendJson(res, 200, { version: '0.0.0-fake' });
      case 'GET /api/tags': return sendJson(res, 200, {
        models: MODELS.map((m) => ({ name: `${m}:latest`, model: `${m}:latest`, size: 1000, digest: 'sha256:fake', modified_at: '2026-01-01T00:00:00Z', details: { format: 'gguf', family: 'fake', parameter_size: '1B', quantization_level: 'Q4_0' } })),
      });
      case 'GET /api/ps': return sendJson(res, 200, { models: [...loaded].map((m) => ({ name: `${m}:latest`, model: `${m}:latest`, size: 1000, size_vram: 1000, context_length: 4096 })) });
      case 'POST /api/show': {
        const model = knownModel(body.model, true);
        if (model === undefined) return sendJson(res, 404, { error: `model '${String(body.model)}' not found` });
        return sendJson(res, 200, { details: { format: 'gguf', family: 'fake' }, model_info: { 'general.architecture': 'fake', 'fake.context_length': 4096 }, capabilities: [model === 'fake-embed' ? 'embedding' : 'completion'] });
      }
      case 'POST /api/chat': return ollamaGenerate(res, body, true);
      case 'POST /api/generate': return ollamaGenerate(res, body, false);
      case 'POST /api/embed': {
        const model = knownModel(body.model, true);
        if (model === undefined) return sendJson(res, 404, { error: `model '${String(body.model)}' not found` });
        requestCount++;
        return sendJson(res, 200, { model, embeddings: inputs.map(embedding), prompt_eval_count: inputs.length });
      }
      case 'GET /v1/models': return sendJson(res, 200, { object: 'list', data: MODELS.map((id) => ({ id, object: 'model', created: 1767225600, owned_by: 'fake' })) });
      case 'POST /v1/chat/completions': return openaiGenerate(res, body, true);
      case 'POST /v1/completions': return openaiGenerate(res, body, false);
      case 'POST /v1/embeddings': {
        const model = knownModel(body.model, false);
        if (model === undefined) return sendJson(res, 404, { error: { message: `The model \`${String(body.model)}\` does not exist.` } });
        requestCount++;
        return sendJson(res, 200, { object: 'list', model, data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: embedding(t) })), usage: { prompt_tokens: inputs.length, total_tokens: inputs.length } });
      }
      default: return sendJson(res, 404, { error: `no route ${key}` });
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        if (chunks.length > 0) body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return sendJson(res, 400, { error: 'invalid JSON' });
      }
      route(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requestCount() { return requestCount; },
    get inFlight() { return inFlight; },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
