import { embedText } from './prng.js';
import { countTokens } from './performance.js';
import { simImageTokens } from './sim-images.js';
import { acquire, dropConnection, runGeneration, toHttpError, toNs, type GenerationStats } from './sim-generation.js';
import {
  SimHttpError, contentText, optionalNumber, optionalObject, optionalString, parseKeepAliveMs, readStop, requireModel,
  sendJson, startStream, type SimRequestContext,
} from './sim-http.js';
import { loadedContextLength, modelDetails, modelDigest, modelInfo, modelSizeBytes, SIM_MODIFIED_AT } from './sim-models.js';
import { planReply, type SimReply, type SimTool } from './sim-reply.js';
import type { SimModelProfile } from './profile.js';

/** The Ollama version the sim claims to be (clients gate features on it). */
export const SIM_OLLAMA_VERSION = '0.12.0';

type Body = Record<string, unknown>;

export async function handleOllamaChat(ctx: SimRequestContext, body: Body): Promise<void> {
  const name = requireModel(ctx, body);
  const model = ctx.engine.findModel(name)!;
  const messages = readMessages(body.messages);
  if (messages.length === 0) return loadOrUnload(ctx, body, model, (extra) => ({ message: { role: 'assistant', content: '' }, ...extra }));
  const tools = readOllamaTools(body.tools, model);
  const imageTokens = simImageTokens(model, body.messages as Body[]);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const reply = planReply({
    ...commonOptions(ctx, body, model),
    promptText: messages.map((m) => `${m.role}: ${m.content}`).join('\n'),
    lastUserText: lastUser,
    templateTokens: 4 * messages.length + imageTokens,
    tools,
  });
  await respond(ctx, body, model, reply, {
    delta: (text) => ({ message: { role: 'assistant', content: text } }),
    final: (content) => {
      const message: Record<string, unknown> = { role: 'assistant', content };
      if (reply.toolCall) message.tool_calls = [{ function: { name: reply.toolCall.name, arguments: reply.toolCall.arguments } }];
      return { message };
    },
  });
}

export async function handleOllamaGenerate(ctx: SimRequestContext, body: Body): Promise<void> {
  const name = requireModel(ctx, body);
  const model = ctx.engine.findModel(name)!;
  const prompt = optionalString(body, 'prompt') ?? '';
  const imageTokens = simImageTokens(model, [{ images: body.images }]);
  if (prompt === '' && imageTokens === 0) return loadOrUnload(ctx, body, model, (extra) => ({ response: '', ...extra }));
  const system = optionalString(body, 'system') ?? '';
  const reply = planReply({ ...commonOptions(ctx, body, model), promptText: `${system}\n${prompt}`, lastUserText: prompt, templateTokens: 8 + imageTokens });
  await respond(ctx, body, model, reply, {
    delta: (text) => ({ response: text }),
    final: (content) => ({ response: content }),
    finalExtra: () => ({ context: Array.from({ length: Math.min(reply.promptTokens + reply.evalCount, 4096) }, (_, i) => i + 1) }),
  });
}

export async function handleOllamaEmbed(ctx: SimRequestContext, body: Body, legacy: boolean): Promise<void> {
  const name = requireModel(ctx, body);
  const model = ctx.engine.findModel(name)!;
  const inputs = legacy ? [optionalString(body, 'prompt') ?? ''] : readInputs(body.input);
  const dimensions = optionalNumber(body, 'dimensions') ?? model.embeddingLength;
  if (!Number.isInteger(dimensions) || dimensions < 1) throw new SimHttpError(400, 'dimensions must be a positive integer', 'dimensions');
  const promptTokens = inputs.reduce((sum, text) => sum + countTokens(text), 0);
  const stats = await runEmbedding(ctx, model, promptTokens, parseKeepAliveMs(body.keep_alive));
  if (!stats) return;
  const embeddings = inputs.map((text) => embedText(ctx.engine.seed, model.name, text, dimensions));
  if (legacy) return sendJson(ctx, 200, { embedding: embeddings[0] });
  sendJson(ctx, 200, {
    model: body.model, embeddings, total_duration: toNs(stats.totalMs), load_duration: toNs(stats.loadMs), prompt_eval_count: promptTokens,
  });
}

export function handleOllamaTags(ctx: SimRequestContext): void {
  sendJson(ctx, 200, {
    models: ctx.engine.listModels().map((model) => ({
      name: model.name, model: model.name, modified_at: SIM_MODIFIED_AT, size: modelSizeBytes(model), digest: modelDigest(model),
      details: modelDetails(model),
    })),
  });
}

export function handleOllamaPs(ctx: SimRequestContext): void {
  sendJson(ctx, 200, {
    models: ctx.engine.residentModels().map(({ profile, expiresAtMs }) => ({
      name: profile.name, model: profile.name, size: modelSizeBytes(profile), digest: modelDigest(profile),
      details: modelDetails(profile),
      // Ollama writes a far-future time for models kept forever.
      expires_at: new Date(expiresAtMs ?? Date.parse('2318-01-01T00:00:00Z')).toISOString(),
      size_vram: modelSizeBytes(profile), context_length: loadedContextLength(profile),
    })),
  });
}

export function handleOllamaShow(ctx: SimRequestContext, body: Body): void {
  const name = optionalString(body, 'model') ?? optionalString(body, 'name');
  if (!name) throw new SimHttpError(400, 'model is required', 'model');
  const model = ctx.engine.findModel(name);
  if (!model) throw new SimHttpError(404, `model '${name}' not found`, 'model');
  sendJson(ctx, 200, {
    license: model.license,
    modelfile: `# Modelfile generated by flexi sim\nFROM ${model.name}\nPARAMETER num_ctx ${loadedContextLength(model)}\n`,
    parameters: 'stop "<|end|>"',
    template: '{{ .Prompt }}',
    details: modelDetails(model),
    model_info: modelInfo(model),
    capabilities: model.capabilities,
    modified_at: SIM_MODIFIED_AT,
  });
}

export function handleOllamaPull(ctx: SimRequestContext, body: Body): void {
  const name = optionalString(body, 'model') ?? optionalString(body, 'name');
  if (!name) throw new SimHttpError(400, 'model is required', 'model');
  if (!ctx.engine.findModel(name)) throw new SimHttpError(500, 'pull model manifest: file does not exist');
  if (body.stream === false) return sendJson(ctx, 200, { status: 'success' });
  startStream(ctx, 'application/x-ndjson');
  for (const status of ['pulling manifest', 'verifying sha256 digest', 'writing manifest', 'success']) ctx.res.write(`${JSON.stringify({ status })}\n`);
  ctx.res.end();
}

interface ShapeBuilders {
  delta(text: string): Body;
  final(content: string): Body;
  finalExtra?(): Body;
}

/** Streams NDJSON (default) or answers one JSON object, with Ollama's counters on the final object. */
async function respond(ctx: SimRequestContext, body: Body, model: SimModelProfile, reply: SimReply, shape: ShapeBuilders): Promise<void> {
  const stream = body.stream !== false;
  const modelName = body.model as string;
  const createdAt = (): string => new Date().toISOString();
  let content = '';
  const stats = await runGeneration(ctx, model.name, reply, parseKeepAliveMs(body.keep_alive), {
    onStart: () => {
      if (stream) startStream(ctx, 'application/x-ndjson');
    },
    onToken: (text) => {
      content += text;
      if (stream) ctx.res.write(`${JSON.stringify({ model: modelName, created_at: createdAt(), ...shape.delta(text), done: false })}\n`);
    },
    onGarbage: () => writeGarbage(ctx, stream),
  });
  if (!stats) return;
  const final: Body = {
    model: modelName,
    created_at: createdAt(),
    ...(stream ? shape.final('') : shape.final(content)),
    done: true,
    done_reason: reply.finishReason === 'length' ? 'length' : 'stop',
    ...counters(stats, reply),
    ...shape.finalExtra?.(),
  };
  // A streamed tool call travels in its own chunk before the final one, as Ollama does.
  if (stream && reply.toolCall) {
    ctx.res.write(`${JSON.stringify({ model: modelName, created_at: createdAt(), ...shape.final(''), done: false })}\n`);
    final.message = { role: 'assistant', content: '' };
  }
  if (stream) ctx.res.end(`${JSON.stringify(final)}\n`);
  else sendJson(ctx, 200, final);
}

function counters(stats: GenerationStats, reply: SimReply): Body {
  return {
    total_duration: toNs(stats.totalMs),
    load_duration: toNs(stats.loadMs),
    prompt_eval_count: reply.promptTokens,
    prompt_eval_duration: toNs(stats.promptEvalMs),
    eval_count: reply.evalCount,
    eval_duration: toNs(stats.evalMs),
  };
}

export function writeGarbage(ctx: SimRequestContext, stream: boolean): void {
  if (!stream) {
    ctx.res.writeHead(200, { 'content-type': 'application/json' });
    ctx.res.end('<html><body>502 Bad Gateway (simulated garbage)</body></html>\n');
    return;
  }
  startStream(ctx, ctx.protocol === 'ollama' ? 'application/x-ndjson' : 'text/event-stream');
  ctx.res.end(ctx.protocol === 'ollama' ? 'this is not json {{{\n\u0000\u0001garbage\n' : 'data: this is not json {{{\n\ndata: {"trunc\n\n');
}

/** A request without a prompt loads the model; with keep_alive 0 it unloads it (done_reason load/unload). */
async function loadOrUnload(ctx: SimRequestContext, body: Body, model: SimModelProfile, shape: (extra: Body) => Body): Promise<void> {
  const keepAliveMs = parseKeepAliveMs(body.keep_alive);
  const base = { model: body.model, created_at: new Date().toISOString() };
  if (keepAliveMs === 0) {
    ctx.engine.unload(model.name);
    return sendJson(ctx, 200, shape({ ...base, done_reason: 'unload', done: true }));
  }
  let loadMs: number;
  try {
    loadMs = await ctx.engine.load(model.name, ctx.signal, keepAliveMs);
  } catch (error) {
    throw toHttpError(error);
  }
  sendJson(ctx, 200, shape({ ...base, done_reason: 'load', done: true, load_duration: toNs(loadMs) }));
}

/** Embedding requests hold a slot for their prefill only. */
export async function runEmbedding(
  ctx: SimRequestContext, model: SimModelProfile, promptTokens: number, keepAliveMs: number | undefined,
): Promise<GenerationStats | undefined> {
  const fault = ctx.engine.decideFault(ctx.forcedFault);
  if (fault === 'error') throw new SimHttpError(500, 'simulated server error (injected fault)');
  if (fault === 'hang') await new Promise<never>((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
  const lease = await acquire(ctx, model.name, keepAliveMs);
  try {
    await ctx.engine.prefill(lease, promptTokens, ctx.signal);
    if (fault === 'drop') {
      dropConnection(ctx);
      return undefined;
    }
    if (fault === 'garbage') {
      writeGarbage(ctx, false);
      return undefined;
    }
    ctx.engine.completed(lease);
    return { totalMs: ctx.engine.toSimulatedMs(performance.now() - ctx.startedAtMs), loadMs: lease.loadMs, promptEvalMs: lease.promptEvalMs, evalMs: 0 };
  } finally {
    lease.release();
  }
}

function commonOptions(ctx: SimRequestContext, body: Body, model: SimModelProfile) {
  const options = optionalObject(body, 'options');
  const format = body.format;
  if (format !== undefined && format !== null && format !== '' && format !== 'json' && (typeof format !== 'object' || Array.isArray(format))) {
    throw new SimHttpError(400, 'format must be "json" or a JSON schema object', 'format');
  }
  const json = format === 'json' ? true : format && typeof format === 'object' ? (format as Body) : undefined;
  const numPredict = optionalNumber(options, 'num_predict');
  return {
    model,
    seed: ctx.engine.seed,
    oracle: ctx.engine.evalOracle,
    maxTokens: numPredict !== undefined && numPredict >= 0 ? Math.floor(numPredict) : undefined,
    requestSeed: optionalNumber(options, 'seed'),
    stop: readStop(options?.stop, 'options.stop'),
    json,
  };
}

function readMessages(value: unknown): Array<{ role: string; content: string }> {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new SimHttpError(400, 'messages must be an array', 'messages');
  return value.map((message, i) => {
    if (!message || typeof message !== 'object') throw new SimHttpError(400, `messages[${i}] must be an object`, `messages[${i}]`);
    const { role, content } = message as Body;
    if (typeof role !== 'string') throw new SimHttpError(400, `messages[${i}].role must be a string`, `messages[${i}].role`);
    return { role, content: contentText(content) };
  });
}

function readInputs(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((s) => typeof s === 'string')) return value as string[];
  throw new SimHttpError(400, 'input must be a string or a non-empty array of strings', 'input');
}

function readOllamaTools(value: unknown, model: SimModelProfile): SimTool[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new SimHttpError(400, 'tools must be an array', 'tools');
  if (value.length === 0) return undefined;
  if (!model.capabilities.includes('tools')) {
    throw new SimHttpError(400, `registry.ollama.ai/library/${model.name} does not support tools`, 'tools');
  }
  return value.map((tool, i) => {
    const fn = (tool as { function?: { name?: unknown; parameters?: unknown } } | null)?.function;
    if (!fn || typeof fn.name !== 'string') throw new SimHttpError(400, `tools[${i}].function.name is required`, `tools[${i}]`);
    return { name: fn.name, parameters: fn.parameters };
  });
}
