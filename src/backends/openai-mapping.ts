import type {
  ChunkToolCall, OpenAiChatBody, OpenAiCompletionBody, OpenAiNodeMessage, OpenAiNodeSampling, OpenAiStreamLine, UpstreamModel,
} from '../api/openai.js';
import { toCanonicalModelName } from '../core/model-name.js';
import type {
  ChatMessage, ChatRequest, CompletionRequest, EngineTimings, FinishReason, ModelInfo, ResponseFormat,
  SamplingOptions, ToolCall, ToolChoice, ToolDefinition,
} from '../core/types.js';
import { randomId } from '../lib/ids.js';

/**
 * Canonical ⇄ OpenAI-compatible chat/completions/embeddings/models (protocols.md §2–§3), as
 * vLLM, llama.cpp server, LM Studio and Ollama's /v1 speak it. Pure functions. The wire types are
 * `src/api/openai.ts`, shared with the HTTP encoders.
 */

function imageMime(base64: string): string {
  if (base64.startsWith('/9j/')) return 'image/jpeg';
  if (base64.startsWith('R0lGOD')) return 'image/gif';
  if (base64.startsWith('UklGR')) return 'image/webp';
  return 'image/png';
}

export function toOpenAiMessage(message: ChatMessage): OpenAiNodeMessage {
  const out: OpenAiNodeMessage = { role: message.role, content: message.content };
  if (message.images !== undefined && message.images.length > 0) {
    const parts: Exclude<OpenAiNodeMessage['content'], string> = [{ type: 'text', text: message.content }];
    for (const image of message.images) {
      parts.push({ type: 'image_url', image_url: { url: `data:${imageMime(image)};base64,${image}` } });
    }
    out.content = parts;
  }
  if (message.toolCalls !== undefined && message.toolCalls.length > 0) {
    out.tool_calls = message.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
  }
  if (message.toolCallId !== undefined) out.tool_call_id = message.toolCallId;
  return out;
}

export function toOpenAiTools(tools: ToolDefinition[]): NonNullable<OpenAiChatBody['tools']> {
  return tools.map((tool) => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.parameters ?? { type: 'object', properties: {} } },
  }));
}

export function toOpenAiToolChoice(choice: ToolChoice): NonNullable<OpenAiChatBody['tool_choice']> {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

export function toOpenAiResponseFormat(format: ResponseFormat | undefined): OpenAiChatBody['response_format'] {
  if (format === undefined || format.type === 'text') return undefined;
  if (format.type === 'json') return { type: 'json_object' };
  return { type: 'json_schema', json_schema: { name: format.name ?? 'response', schema: format.schema } };
}

function addSampling(body: OpenAiNodeSampling, options: SamplingOptions): void {
  if (options.temperature !== undefined) body.temperature = options.temperature;
  if (options.topP !== undefined) body.top_p = options.topP;
  // Not in OpenAI's API, but vLLM, llama.cpp server and LM Studio accept it.
  if (options.topK !== undefined) body.top_k = options.topK;
  if (options.seed !== undefined) body.seed = options.seed;
  if (options.stop !== undefined && options.stop.length > 0) body.stop = options.stop;
  // `max_tokens`, not `max_completion_tokens`: Ollama's /v1 parses only the old name (§3).
  if (options.maxTokens !== undefined) body.max_tokens = options.maxTokens;
  if (options.frequencyPenalty !== undefined) body.frequency_penalty = options.frequencyPenalty;
  if (options.presencePenalty !== undefined) body.presence_penalty = options.presencePenalty;
}

const STREAM_OPTIONS = { include_usage: true } as const;

export function toOpenAiChatBody(request: ChatRequest, upstreamModel: string): OpenAiChatBody {
  const body: OpenAiChatBody = {
    model: upstreamModel,
    messages: request.messages.map(toOpenAiMessage),
    stream: true,
    stream_options: STREAM_OPTIONS,
  };
  addSampling(body, request.options);
  const format = toOpenAiResponseFormat(request.responseFormat);
  if (format !== undefined) body.response_format = format;
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = toOpenAiTools(request.tools);
    if (request.toolChoice !== undefined) body.tool_choice = toOpenAiToolChoice(request.toolChoice);
  }
  return body;
}

/** `system` and `raw` have no OpenAI equivalent: /completions applies no template anyway. */
export function toOpenAiCompletionBody(request: CompletionRequest, upstreamModel: string): OpenAiCompletionBody {
  const body: OpenAiCompletionBody = { model: upstreamModel, prompt: request.prompt, stream: true, stream_options: STREAM_OPTIONS };
  if (request.suffix !== undefined) body.suffix = request.suffix;
  addSampling(body, request.options);
  const format = toOpenAiResponseFormat(request.responseFormat);
  if (format !== undefined) body.response_format = format;
  return body;
}

/** Streamed tool calls arrive as fragments keyed by `index`; this joins them. */
export class ToolCallAccumulator {
  private readonly calls: Array<{ id: string; name: string; arguments: string }> = [];

  get size(): number {
    return this.calls.length;
  }

  add(fragments: Array<Partial<ChunkToolCall>>): void {
    for (const fragment of fragments) {
      const index = fragment.index ?? this.calls.length;
      let call = this.calls[index];
      if (call === undefined) {
        call = { id: '', name: '', arguments: '' };
        this.calls[index] = call;
      }
      if (fragment.id) call.id = fragment.id;
      if (fragment.function?.name) call.name += fragment.function.name;
      if (fragment.function?.arguments) call.arguments += fragment.function.arguments;
    }
  }

  toToolCalls(): ToolCall[] {
    return this.calls.filter((call) => call !== undefined).map((call) => ({
      id: call.id !== '' ? call.id : `call_${randomId(24)}`,
      name: call.name,
      arguments: call.arguments === '' ? '{}' : call.arguments,
    }));
  }
}

export function fromOpenAiFinishReason(reason: string | null | undefined, hasToolCalls: boolean): FinishReason {
  if (hasToolCalls || reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  return reason === 'length' ? 'length' : 'stop';
}

export function fromLlamaCppTimings(timings: OpenAiStreamLine['timings']): EngineTimings {
  const out: EngineTimings = {};
  if (timings === undefined) return out;
  if (typeof timings.prompt_ms === 'number') out.promptEvalNs = Math.round(timings.prompt_ms * 1e6);
  if (typeof timings.predicted_ms === 'number') out.evalNs = Math.round(timings.predicted_ms * 1e6);
  return out;
}

export function fromOpenAiModel(model: UpstreamModel): ModelInfo {
  const info: ModelInfo = { name: toCanonicalModelName(model.id) };
  if (typeof model.created === 'number' && model.created > 0) info.modifiedAt = new Date(model.created * 1000);
  if (typeof model.max_model_len === 'number') info.contextLength = model.max_model_len;
  // A Flexi or `flexi sim` upstream says what the model can do; other servers do not.
  if (Array.isArray(model.capabilities) && model.capabilities.every((c) => typeof c === 'string')) info.capabilities = [...model.capabilities];
  return info;
}

/** Rough prompt size for servers that stream no usage: ≈ 4 characters per token. */
export function estimatePromptTokens(texts: Iterable<string>): number {
  let chars = 0;
  for (const text of texts) chars += text.length;
  return Math.max(1, Math.ceil(chars / 4));
}
