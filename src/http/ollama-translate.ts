import type {
  OllamaChatRequest, OllamaCounters, OllamaGenerateRequest, OllamaListModel, OllamaModelDetails, OllamaToolCall,
} from '../api/ollama.js';
import { parseKeepAlive } from '../api/ollama.js';
import { invalidRequest } from '../core/errors.js';
import type {
  ChatMessage, ChatRequest, CompletionRequest, EngineTimings, ModelInfo, ResponseFormat, SamplingOptions, ToolCall, Usage,
} from '../core/types.js';

type OllamaOptions = OllamaChatRequest['options'];

export function optionsFromOllama(options: OllamaOptions): SamplingOptions {
  const out: SamplingOptions = {};
  if (!options) return out;
  if (options.temperature !== undefined) out.temperature = options.temperature;
  if (options.top_p !== undefined) out.topP = options.top_p;
  if (options.top_k !== undefined) out.topK = options.top_k;
  if (options.seed !== undefined) out.seed = options.seed;
  if (options.stop !== undefined) out.stop = (typeof options.stop === 'string' ? [options.stop] : options.stop).filter((s) => s !== '');
  // num_predict −1 means "no limit" and −2 "fill the context": both leave the cap to the engine.
  if (options.num_predict !== undefined && options.num_predict > 0) out.maxTokens = options.num_predict;
  if (options.num_predict === 0) throw invalidRequest('options.num_predict', "'options.num_predict' must be positive, -1 (no limit) or -2 (fill the context).");
  if (options.num_ctx !== undefined) out.numCtx = options.num_ctx;
  if (options.frequency_penalty !== undefined) out.frequencyPenalty = options.frequency_penalty;
  if (options.presence_penalty !== undefined) out.presencePenalty = options.presence_penalty;
  return out;
}

export function formatFromOllama(format: OllamaChatRequest['format']): ResponseFormat | undefined {
  if (format === undefined || format === '') return undefined;
  if (format === 'json') return { type: 'json' };
  return { type: 'json_schema', schema: format };
}

export function keepAliveFromOllama(value: number | string | undefined): number | undefined {
  const seconds = parseKeepAlive(value);
  if (value !== undefined && seconds === undefined) {
    throw invalidRequest('keep_alive', "'keep_alive' must be seconds or a duration such as \"5m\", \"1h\" or \"-1\".");
  }
  return seconds;
}

let toolCallCounter = 0;

export function fromOllamaChat(body: OllamaChatRequest): ChatRequest {
  const messages: ChatMessage[] = (body.messages ?? []).map((message) => {
    const out: ChatMessage = { role: message.role, content: message.content };
    if (message.images && message.images.length > 0) out.images = message.images;
    if (message.tool_calls && message.tool_calls.length > 0) {
      out.toolCalls = message.tool_calls.map((call) => ({
        id: call.id ?? `call_${(toolCallCounter++).toString(36)}`,
        name: call.function.name,
        arguments: JSON.stringify(call.function.arguments ?? {}),
      }));
    }
    if (message.tool_name) out.toolName = message.tool_name;
    return out;
  });
  const request: ChatRequest = { model: body.model, messages, options: optionsFromOllama(body.options) };
  const format = formatFromOllama(body.format);
  if (format) request.responseFormat = format;
  const keepAlive = keepAliveFromOllama(body.keep_alive);
  if (keepAlive !== undefined) request.keepAliveSeconds = keepAlive;
  if (body.tools && body.tools.length > 0) {
    request.tools = body.tools.map((tool) => ({ name: tool.function.name, description: tool.function.description, parameters: tool.function.parameters }));
  }
  if (body.template_params) request.params = body.template_params;
  return request;
}

export function fromOllamaGenerate(body: OllamaGenerateRequest): CompletionRequest {
  const request: CompletionRequest = { model: body.model, prompt: body.prompt ?? '', options: optionsFromOllama(body.options) };
  if (body.suffix) request.suffix = body.suffix;
  if (body.system) request.system = body.system;
  if (body.raw) request.raw = true;
  if (body.images && body.images.length > 0) request.images = body.images;
  const format = formatFromOllama(body.format);
  if (format) request.responseFormat = format;
  const keepAlive = keepAliveFromOllama(body.keep_alive);
  if (keepAlive !== undefined) request.keepAliveSeconds = keepAlive;
  if (body.template_params) request.params = body.template_params;
  return request;
}

/** Canonical tool calls → Ollama's form, where arguments are a JSON object. */
export function toOllamaToolCalls(calls: ToolCall[]): OllamaToolCall[] {
  return calls.map((call) => {
    let args: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(call.arguments || '{}');
      args = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : { _raw: call.arguments };
    } catch {
      // A model may emit invalid JSON; Ollama's clients expect an object, so pass the raw text inside one.
      args = { _raw: call.arguments };
    }
    return { id: call.id, function: { name: call.name, arguments: args } };
  });
}

/**
 * The final-chunk counters, in nanoseconds. Engine-reported timings win; otherwise they are
 * measured here: prompt_eval_duration up to the first token, eval_duration after it.
 */
export function ollamaCounters(usage: Usage, timings: EngineTimings, measured: { totalMs: number; ttftMs: number }): OllamaCounters {
  const totalNs = Math.round(timings.totalNs ?? measured.totalMs * 1e6);
  const promptNs = Math.round(timings.promptEvalNs ?? measured.ttftMs * 1e6);
  return {
    total_duration: totalNs,
    load_duration: Math.round(timings.loadNs ?? 0),
    prompt_eval_count: usage.promptTokens,
    prompt_eval_duration: promptNs,
    eval_count: usage.completionTokens,
    eval_duration: Math.round(timings.evalNs ?? Math.max(0, measured.totalMs - measured.ttftMs) * 1e6),
  };
}

export function toOllamaModelDetails(info: ModelInfo): OllamaModelDetails {
  return {
    parent_model: '',
    format: info.format ?? 'gguf',
    family: info.family ?? '',
    families: info.families ?? (info.family ? [info.family] : null),
    parameter_size: info.parameterSize ?? '',
    quantization_level: info.quantization ?? '',
  };
}

export function toOllamaTag(name: string, info: ModelInfo): OllamaListModel {
  return {
    name,
    model: name,
    modified_at: (info.modifiedAt ?? new Date(0)).toISOString(),
    size: info.sizeBytes ?? 0,
    digest: info.digest ?? '',
    details: toOllamaModelDetails(info),
  };
}

