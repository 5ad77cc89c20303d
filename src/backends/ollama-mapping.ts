import type {
  OllamaChatBody, OllamaGenerateBody, OllamaListModel, OllamaMessage, OllamaModelDetails, OllamaNodeOptions, OllamaRunningModel,
  OllamaShowResponse, OllamaStreamLine, OllamaToolCall,
} from '../api/ollama.js';
import { FlexiError } from '../core/errors.js';
import { toCanonicalModelName } from '../core/model-name.js';
import type {
  ChatMessage, ChatRequest, CompletionRequest, EngineTimings, FinishReason, LoadedModel, ModelDetails,
  ModelInfo, ResponseFormat, SamplingOptions, ToolCall, ToolDefinition,
} from '../core/types.js';
import { randomId } from '../lib/ids.js';

/**
 * Canonical ⇄ Ollama native API (protocols.md §1). Pure functions; the I/O is in
 * `ollama.backend.ts`. The wire types are `src/api/ollama.ts`, shared with the HTTP encoders.
 */

export function toOllamaOptions(options: SamplingOptions): OllamaNodeOptions {
  const out: OllamaNodeOptions = {};
  if (options.temperature !== undefined) out.temperature = options.temperature;
  if (options.topP !== undefined) out.top_p = options.topP;
  if (options.topK !== undefined) out.top_k = options.topK;
  if (options.seed !== undefined) out.seed = options.seed;
  if (options.stop !== undefined && options.stop.length > 0) out.stop = options.stop;
  if (options.maxTokens !== undefined) out.num_predict = options.maxTokens;
  if (options.numCtx !== undefined) out.num_ctx = options.numCtx;
  if (options.frequencyPenalty !== undefined) out.frequency_penalty = options.frequencyPenalty;
  if (options.presencePenalty !== undefined) out.presence_penalty = options.presencePenalty;
  return out;
}

export function toOllamaFormat(format: ResponseFormat | undefined): string | Record<string, unknown> | undefined {
  if (format === undefined || format.type === 'text') return undefined;
  if (format.type === 'json') return 'json';
  return format.schema;
}

/** Canonical arguments are JSON text; Ollama wants the object. */
function parseArguments(call: ToolCall): Record<string, unknown> {
  if (call.arguments.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(call.arguments);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new FlexiError('invalid_request', `tool call "${call.name}" has arguments that are not a JSON object`, { param: 'messages.tool_calls.function.arguments' });
}

export function toOllamaMessage(message: ChatMessage): OllamaMessage {
  const out: OllamaMessage = { role: message.role, content: message.content };
  if (message.images !== undefined && message.images.length > 0) out.images = message.images;
  if (message.toolCalls !== undefined && message.toolCalls.length > 0) {
    out.tool_calls = message.toolCalls.map((call) => ({ id: call.id, function: { name: call.name, arguments: parseArguments(call) } }));
  }
  if (message.toolName !== undefined) out.tool_name = message.toolName;
  if (message.toolCallId !== undefined) out.tool_call_id = message.toolCallId;
  return out;
}

export function toOllamaTools(tools: ToolDefinition[]): NonNullable<OllamaChatBody['tools']> {
  return tools.map((tool) => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.parameters ?? { type: 'object', properties: {} } },
  }));
}

function withCommon<T extends OllamaChatBody | OllamaGenerateBody>(body: T, request: ChatRequest | CompletionRequest): T {
  const options = toOllamaOptions(request.options);
  if (Object.keys(options).length > 0) body.options = options;
  const format = toOllamaFormat(request.responseFormat);
  if (format !== undefined) body.format = format;
  // Ollama takes a bare number as seconds.
  if (request.keepAliveSeconds !== undefined) body.keep_alive = request.keepAliveSeconds;
  return body;
}

/** The model field: Ollama resolves `:latest` itself, so the canonical name goes as is. */
export function toOllamaChatBody(request: ChatRequest): OllamaChatBody {
  const body: OllamaChatBody = {
    model: request.model,
    messages: request.messages.map(toOllamaMessage),
    stream: true,
  };
  // Ollama has no tool_choice; `none` is honoured by not offering the tools at all.
  if (request.tools !== undefined && request.tools.length > 0 && request.toolChoice !== 'none') {
    body.tools = toOllamaTools(request.tools);
  }
  return withCommon(body, request);
}

export function toOllamaGenerateBody(request: CompletionRequest): OllamaGenerateBody {
  const body: OllamaGenerateBody = { model: request.model, prompt: request.prompt, stream: true };
  if (request.suffix !== undefined) body.suffix = request.suffix;
  if (request.system !== undefined) body.system = request.system;
  if (request.raw !== undefined) body.raw = request.raw;
  if (request.images !== undefined && request.images.length > 0) body.images = request.images;
  return withCommon(body, request);
}

/** Ollama's object arguments → canonical JSON text; ids are invented where Ollama sends none. */
export function fromOllamaToolCalls(calls: OllamaToolCall[]): ToolCall[] {
  return calls.map((call) => ({
    id: call.id !== undefined && call.id !== '' ? call.id : `call_${randomId(24)}`,
    name: call.function.name,
    arguments: typeof call.function.arguments === 'string' ? call.function.arguments : JSON.stringify(call.function.arguments ?? {}),
  }));
}

export function toFinishReason(doneReason: string | undefined, sawToolCalls: boolean): FinishReason {
  if (sawToolCalls) return 'tool_calls';
  switch (doneReason) {
    case 'length': return 'length';
    case 'load': return 'load';
    case 'unload': return 'unload';
    default: return 'stop';
  }
}

export function toTimings(chunk: OllamaStreamLine): EngineTimings {
  const timings: EngineTimings = {};
  if (chunk.total_duration !== undefined) timings.totalNs = chunk.total_duration;
  if (chunk.load_duration !== undefined) timings.loadNs = chunk.load_duration;
  if (chunk.prompt_eval_duration !== undefined) timings.promptEvalNs = chunk.prompt_eval_duration;
  if (chunk.eval_duration !== undefined) timings.evalNs = chunk.eval_duration;
  return timings;
}

function toDate(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function fromDetails(details: OllamaModelDetails | undefined): Partial<ModelInfo> {
  if (details === undefined) return {};
  const out: Partial<ModelInfo> = {};
  if (details.format) out.format = details.format;
  if (details.family) out.family = details.family;
  if (details.families) out.families = details.families;
  if (details.parameter_size) out.parameterSize = details.parameter_size;
  if (details.quantization_level) out.quantization = details.quantization_level;
  return out;
}

export function fromOllamaTagsModel(model: OllamaListModel): ModelInfo {
  return {
    name: toCanonicalModelName(model.name ?? model.model ?? ''),
    sizeBytes: model.size,
    digest: model.digest,
    modifiedAt: toDate(model.modified_at),
    ...fromDetails(model.details),
  };
}

export function fromOllamaPsModel(model: OllamaRunningModel): LoadedModel {
  return {
    name: toCanonicalModelName(model.name ?? model.model ?? ''),
    sizeBytes: model.size,
    sizeVramBytes: model.size_vram,
    expiresAt: toDate(model.expires_at),
    contextLength: model.context_length,
  };
}

export function fromOllamaShow(name: string, show: OllamaShowResponse): ModelDetails {
  const info = show.model_info ?? {};
  const arch = info['general.architecture'];
  const contextLength = typeof arch === 'string' ? info[`${arch}.context_length`] : undefined;
  return {
    name: toCanonicalModelName(name),
    modifiedAt: toDate(show.modified_at),
    ...fromDetails(show.details),
    contextLength: typeof contextLength === 'number' ? contextLength : undefined,
    capabilities: show.capabilities,
    template: show.template,
    system: show.system,
    license: show.license,
    parameters: show.parameters,
    modelfile: show.modelfile,
    modelInfo: show.model_info,
  };
}
