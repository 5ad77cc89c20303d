import { randomId } from '../../lib/ids.js';
import { embedText } from './prng.js';
import { countTokens } from './performance.js';
import { simImageTokens } from './sim-images.js';
import { runEmbedding, writeGarbage } from './ollama-routes.js';
import { runGeneration } from './sim-generation.js';
import {
  SimHttpError, contentText, optionalNumber, optionalObject, optionalString, readStop, requireModel, sendJson, startStream,
  type SimRequestContext,
} from './sim-http.js';
import { SIM_MODIFIED_AT_SECONDS } from './sim-models.js';
import { planReply, type SimReply, type SimTool } from './sim-reply.js';
import type { SimModelProfile } from './profile.js';

export const SIM_SYSTEM_FINGERPRINT = 'fp_flexi_sim';

type Body = Record<string, unknown>;

export async function handleChatCompletions(ctx: SimRequestContext, body: Body): Promise<void> {
  const name = requireModel(ctx, body);
  const model = ctx.engine.findModel(name)!;
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new SimHttpError(400, 'messages must be a non-empty array', 'messages');
  }
  const messages = (body.messages as unknown[]).map((message, i) => {
    if (!message || typeof message !== 'object' || typeof (message as Body).role !== 'string') {
      throw new SimHttpError(400, `messages[${i}] must be an object with a role`, `messages[${i}]`);
    }
    return { role: (message as Body).role as string, content: contentText((message as Body).content) };
  });
  const tools = readTools(body.tools, model);
  const imageTokens = simImageTokens(model, body.messages as Body[]);
  const reply = planReply({
    ...commonOptions(ctx, body, model),
    promptText: messages.map((m) => `${m.role}: ${m.content}`).join('\n'),
    lastUserText: [...messages].reverse().find((m) => m.role === 'user')?.content ?? '',
    templateTokens: 4 * messages.length + imageTokens,
    tools,
    toolChoice: readToolChoice(body.tool_choice),
    json: readResponseFormat(body.response_format),
  });
  const id = `chatcmpl-${randomId(24)}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: 'chat.completion.chunk', created, model: body.model, system_fingerprint: SIM_SYSTEM_FINGERPRINT };
  const toolCalls = reply.toolCall
    ? [{ id: `call_${randomId(16)}`, type: 'function', function: { name: reply.toolCall.name, arguments: JSON.stringify(reply.toolCall.arguments) } }]
    : undefined;

  if (body.stream === true) {
    const includeUsage = optionalObject(body, 'stream_options')?.include_usage === true;
    const usageField = includeUsage ? { usage: null } : {};
    const send = (choice: Body): void => {
      ctx.res.write(`data: ${JSON.stringify({ ...head, choices: [{ index: 0, logprobs: null, ...choice }], ...usageField })}\n\n`);
    };
    const last = reply.tokens.length - 1;
    const stats = await runGeneration(ctx, model.name, reply, undefined, {
      onStart: () => {
        startStream(ctx, 'text/event-stream');
        send({ delta: { role: 'assistant', content: '' }, finish_reason: null });
      },
      onToken: (text, index) => send({ delta: { content: text }, finish_reason: index === last ? reply.finishReason : null }),
      onGarbage: () => writeGarbage(ctx, true),
    });
    if (!stats) return;
    if (toolCalls) send({ delta: { tool_calls: toolCalls.map((call, index) => ({ index, ...call })) }, finish_reason: 'tool_calls' });
    else if (last < 0) send({ delta: {}, finish_reason: reply.finishReason });
    if (includeUsage) ctx.res.write(`data: ${JSON.stringify({ ...head, choices: [], usage: usage(reply) })}\n\n`);
    ctx.res.end('data: [DONE]\n\n');
    return;
  }

  let content = '';
  const stats = await runGeneration(ctx, model.name, reply, undefined, {
    onToken: (text) => {
      content += text;
    },
    onGarbage: () => writeGarbage(ctx, false),
  });
  if (!stats) return;
  const message: Body = { role: 'assistant', content: toolCalls ? null : content, refusal: null };
  if (toolCalls) message.tool_calls = toolCalls;
  sendJson(ctx, 200, {
    ...head, object: 'chat.completion',
    choices: [{ index: 0, message, finish_reason: reply.finishReason, logprobs: null }],
    usage: usage(reply),
  });
}

export async function handleCompletions(ctx: SimRequestContext, body: Body): Promise<void> {
  const name = requireModel(ctx, body);
  const model = ctx.engine.findModel(name)!;
  const prompt = Array.isArray(body.prompt) && body.prompt.every((p) => typeof p === 'string') ? body.prompt.join('') : optionalString(body, 'prompt');
  if (prompt === undefined) throw new SimHttpError(400, 'prompt must be a string', 'prompt');
  const echo = body.echo === true;
  const logprobs = optionalNumber(body, 'logprobs');
  if (logprobs !== undefined && (!Number.isInteger(logprobs) || logprobs < 0 || logprobs > 20)) throw new SimHttpError(400, 'logprobs must be an integer 0…20', 'logprobs');
  if (echo && body.stream === true) throw new SimHttpError(400, 'echo is not supported with stream', 'echo');
  const reply = planReply({ ...commonOptions(ctx, body, model), promptText: prompt, lastUserText: echo ? '' : prompt });
  const head = { id: `cmpl-${randomId(24)}`, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: body.model, system_fingerprint: SIM_SYSTEM_FINGERPRINT };
  const finish = reply.finishReason === 'length' ? 'length' : 'stop';
  if (body.stream === true) {
    const includeUsage = optionalObject(body, 'stream_options')?.include_usage === true;
    const last = reply.tokens.length - 1;
    const send = (text: string, finishReason: string | null): void => {
      ctx.res.write(`data: ${JSON.stringify({ ...head, choices: [{ text, index: 0, finish_reason: finishReason, logprobs: null }], ...(includeUsage ? { usage: null } : {}) })}\n\n`);
    };
    const stats = await runGeneration(ctx, model.name, reply, undefined, {
      onStart: () => startStream(ctx, 'text/event-stream'),
      onToken: (text, index) => send(text, index === last ? finish : null),
      onGarbage: () => writeGarbage(ctx, true),
    });
    if (!stats) return;
    if (last < 0) send('', finish);
    if (includeUsage) ctx.res.write(`data: ${JSON.stringify({ ...head, choices: [], usage: usage(reply) })}\n\n`);
    ctx.res.end('data: [DONE]\n\n');
    return;
  }
  let text = '';
  const stats = await runGeneration(ctx, model.name, reply, undefined, {
    onToken: (token) => {
      text += token;
    },
    onGarbage: () => writeGarbage(ctx, false),
  });
  if (!stats) return;
  const choiceLogprobs = logprobs === undefined ? null : completionLogprobs(ctx, model, echo ? prompt : '', reply.tokens);
  sendJson(ctx, 200, { ...head, choices: [{ text: echo ? `${prompt}${text}` : text, index: 0, finish_reason: finish, logprobs: choiceLogprobs }], usage: usage(reply) });
}

/**
 * vLLM's completions `logprobs` object: with `echo` the prompt's own tokens come first (the
 * first without a logprob), scored by the eval oracle when the prompt is a known benchmark
 * choice — what log-likelihood evaluation (lm-evaluation-harness `local-completions`) reads.
 */
function completionLogprobs(ctx: SimRequestContext, model: SimModelProfile, echoed: string, generated: string[]): Body {
  const scored = echoed === '' ? { tokens: [], offsets: [], logprobs: [] }
    : ctx.engine.evalOracle?.promptLogprobs(model, echoed) ?? defaultLogprobs(echoed);
  const tokens = [...scored.tokens, ...generated];
  const offsets = [...scored.offsets];
  let at = echoed.length;
  for (const token of generated) {
    offsets.push(at);
    at += token.length;
  }
  const tokenLogprobs = [...scored.logprobs, ...generated.map(() => -0.5)];
  return {
    tokens, token_logprobs: tokenLogprobs, text_offset: offsets,
    top_logprobs: tokens.map((token, i) => (tokenLogprobs[i] === null ? null : { [token]: tokenLogprobs[i] })),
  };
}

function defaultLogprobs(prompt: string): { tokens: string[]; offsets: number[]; logprobs: Array<number | null> } {
  const tokens: string[] = [];
  const offsets: number[] = [];
  for (const match of prompt.matchAll(/\s*\S+|\s+$/g)) {
    tokens.push(match[0]);
    offsets.push(match.index);
  }
  return { tokens, offsets, logprobs: tokens.map((_, i) => (i === 0 ? null : -1)) };
}

export async function handleEmbeddings(ctx: SimRequestContext, body: Body): Promise<void> {
  const name = requireModel(ctx, body);
  const model = ctx.engine.findModel(name)!;
  const inputs = readEmbeddingInputs(body.input);
  const dimensions = optionalNumber(body, 'dimensions') ?? model.embeddingLength;
  if (!Number.isInteger(dimensions) || dimensions < 1) throw new SimHttpError(400, 'dimensions must be a positive integer', 'dimensions');
  const format = optionalString(body, 'encoding_format') ?? 'float';
  if (format !== 'float' && format !== 'base64') throw new SimHttpError(400, 'encoding_format must be "float" or "base64"', 'encoding_format');
  const promptTokens = inputs.reduce((sum, text) => sum + countTokens(text), 0);
  const stats = await runEmbedding(ctx, model, promptTokens, undefined);
  if (!stats) return;
  sendJson(ctx, 200, {
    object: 'list',
    data: inputs.map((text, index) => {
      const vector = embedText(ctx.engine.seed, model.name, text, dimensions);
      const embedding = format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      return { object: 'embedding', index, embedding };
    }),
    model: body.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
}

export function handleListModels(ctx: SimRequestContext): void {
  sendJson(ctx, 200, { object: 'list', data: ctx.engine.listModels().map(toModelObject) });
}

export function handleGetModel(ctx: SimRequestContext, id: string): void {
  const model = ctx.engine.findModel(id);
  if (!model) throw new SimHttpError(404, `model "${id}" not found`, 'model');
  sendJson(ctx, 200, toModelObject(model));
}

function toModelObject(model: SimModelProfile): Body {
  // `capabilities` is not OpenAI's: Flexi reads it to know which models take images.
  return { id: model.name, object: 'model', created: SIM_MODIFIED_AT_SECONDS, owned_by: 'library', capabilities: model.capabilities };
}

function usage(reply: SimReply): Body {
  return { prompt_tokens: reply.promptTokens, completion_tokens: reply.evalCount, total_tokens: reply.promptTokens + reply.evalCount };
}

function commonOptions(ctx: SimRequestContext, body: Body, model: SimModelProfile) {
  const maxTokens = optionalNumber(body, 'max_tokens') ?? optionalNumber(body, 'max_completion_tokens');
  if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 0)) {
    throw new SimHttpError(400, 'max_tokens must be a non-negative integer', 'max_tokens');
  }
  return { model, seed: ctx.engine.seed, oracle: ctx.engine.evalOracle, maxTokens, requestSeed: optionalNumber(body, 'seed'), stop: readStop(body.stop, 'stop') };
}

function readResponseFormat(value: unknown): boolean | Body | undefined {
  if (value === undefined || value === null) return undefined;
  const format = value as { type?: unknown; json_schema?: { schema?: unknown } };
  if (typeof value !== 'object' || typeof format.type !== 'string') throw new SimHttpError(400, 'response_format.type is required', 'response_format');
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') return true;
  if (format.type === 'json_schema') {
    const schema = format.json_schema?.schema;
    return schema && typeof schema === 'object' ? (schema as Body) : true;
  }
  throw new SimHttpError(400, `response_format.type "${format.type}" is not supported`, 'response_format');
}

function readTools(value: unknown, model: SimModelProfile): SimTool[] | undefined {
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

function readToolChoice(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  const name = (value as { function?: { name?: unknown } }).function?.name;
  if (typeof name === 'string') return name;
  throw new SimHttpError(400, 'tool_choice must be "none", "auto", "required" or {type:"function",function:{name}}', 'tool_choice');
}

function readEmbeddingInputs(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0) {
    return value.map((item, i) => {
      if (typeof item === 'string') return item;
      // Token arrays: the sim has no tokenizer, so the ids stand in as text.
      if (Array.isArray(item) || typeof item === 'number') return JSON.stringify(item);
      throw new SimHttpError(400, `input[${i}] must be a string or an array of token ids`, 'input');
    });
  }
  throw new SimHttpError(400, 'input must be a non-empty string or array', 'input');
}
