import type {
  ChatCompletionRequest, ChunkToolCall, CompletionRequestBody, EmbeddingRequestBody, OpenAiFinishReason, OpenAiMessage, OpenAiToolCall, OpenAiUsage,
  ReplySourceWire,
} from '../api/openai.js';
import { FlexiError, invalidRequest } from '../core/errors.js';
import type {
  ChatMessage, ChatRequest, CompletionRequest, EmbeddingRequest, FinishReason, ReplyAnnotations, ResponseFormat, SamplingOptions, ToolCall, Usage,
} from '../core/types.js';

/** OpenAI request → canonical. Everything a backend cannot honour is refused here with a 400. */
export function fromOpenAiChat(body: ChatCompletionRequest): ChatRequest {
  if (body.n != null && body.n > 1) {
    throw new FlexiError('unsupported_parameter', "'n' > 1 is not supported: request one completion at a time (n = 1).", { param: 'n' });
  }
  if (body.logprobs) {
    throw new FlexiError('unsupported_parameter', "'logprobs' is not supported on chat completions.", { param: 'logprobs' });
  }
  if (body.stream_options && !body.stream) {
    throw invalidRequest('stream_options', "'stream_options' is only allowed when 'stream' is true.");
  }
  const request: ChatRequest = {
    model: body.model,
    messages: body.messages.map(fromOpenAiMessage),
    options: samplingFrom(body, body.max_completion_tokens ?? body.max_tokens),
  };
  const format = responseFormatFrom(body.response_format);
  if (format) request.responseFormat = format;
  if (body.tools && body.tools.length > 0) {
    request.tools = body.tools.map((tool) => ({
      name: tool.function.name,
      description: tool.function.description,
      parameters: tool.function.parameters,
    }));
  }
  if (body.tool_choice) {
    request.toolChoice = typeof body.tool_choice === 'string' ? body.tool_choice : { name: body.tool_choice.function.name };
  }
  if (body.template_params) request.params = body.template_params;
  return request;
}

function samplingFrom(body: Pick<ChatCompletionRequest, 'temperature' | 'top_p' | 'top_k' | 'seed' | 'stop' | 'frequency_penalty' | 'presence_penalty'>, maxTokens: number | null | undefined): SamplingOptions {
  const options: SamplingOptions = {};
  if (body.temperature != null) options.temperature = body.temperature;
  if (body.top_p != null) options.topP = body.top_p;
  if (body.top_k != null) options.topK = body.top_k;
  if (body.seed != null) options.seed = body.seed;
  if (body.stop != null) options.stop = (typeof body.stop === 'string' ? [body.stop] : body.stop).filter((s) => s !== '');
  if (maxTokens != null) options.maxTokens = maxTokens;
  if (body.frequency_penalty != null) options.frequencyPenalty = body.frequency_penalty;
  if (body.presence_penalty != null) options.presencePenalty = body.presence_penalty;
  return options;
}

function responseFormatFrom(format: ChatCompletionRequest['response_format']): ResponseFormat | undefined {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json' };
  return { type: 'json_schema', name: format.json_schema.name, schema: format.json_schema.schema ?? {} };
}

function textOf(content: string | { type: 'text'; text: string }[] | null | undefined): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => part.text).join('\n');
}

function fromOpenAiMessage(message: OpenAiMessage, index: number): ChatMessage {
  switch (message.role) {
    case 'system':
    case 'developer':
      return { role: 'system', content: textOf(message.content) };
    case 'user': {
      if (typeof message.content === 'string') return { role: 'user', content: message.content };
      const texts: string[] = [];
      const images: string[] = [];
      message.content.forEach((part, partIndex) => {
        if (part.type === 'text') texts.push(part.text);
        else images.push(imageFromUrl(part.image_url.url, `messages[${index}].content[${partIndex}].image_url.url`));
      });
      return images.length > 0 ? { role: 'user', content: texts.join('\n'), images } : { role: 'user', content: texts.join('\n') };
    }
    case 'assistant': {
      const out: ChatMessage = { role: 'assistant', content: textOf(message.content) };
      if (message.tool_calls && message.tool_calls.length > 0) {
        out.toolCalls = message.tool_calls.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }));
      }
      return out;
    }
    case 'tool':
      return { role: 'tool', content: textOf(message.content), toolCallId: message.tool_call_id };
  }
}

/**
 * Only data: URLs: an http(s) URL arrives here only when fetching is off (the route inlines it
 * otherwise), since fetching what a client names is a server-side request forgery risk.
 */
function imageFromUrl(url: string, param: string): string {
  const match = /^data:image\/[a-z0-9.+-]+;base64,(.+)$/i.exec(url);
  if (!match) {
    throw invalidRequest(param, `'${param}' must be a base64 data URL (data:image/...;base64,...); remote image URLs are not fetched on this server (the operator can allow it with chat.fetch_image_urls).`);
  }
  return match[1]!;
}

export function fromOpenAiCompletion(body: CompletionRequestBody): CompletionRequest {
  if (body.n != null && body.n > 1) {
    throw new FlexiError('unsupported_parameter', "'n' > 1 is not supported: request one completion at a time (n = 1).", { param: 'n' });
  }
  if (body.echo) throw new FlexiError('unsupported_parameter', "'echo' is not supported.", { param: 'echo' });
  if (body.best_of != null && body.best_of > 1) throw new FlexiError('unsupported_parameter', "'best_of' > 1 is not supported.", { param: 'best_of' });
  if (body.logprobs) throw new FlexiError('unsupported_parameter', "'logprobs' is not supported.", { param: 'logprobs' });
  if (body.stream_options && !body.stream) {
    throw invalidRequest('stream_options', "'stream_options' is only allowed when 'stream' is true.");
  }
  const request: CompletionRequest = {
    model: body.model,
    prompt: typeof body.prompt === 'string' ? body.prompt : body.prompt[0]!,
    // Legacy completions default to 16 tokens in OpenAI's API; an explicit cap keeps that meaning.
    options: samplingFrom(body, body.max_tokens ?? 16),
    raw: true,
  };
  if (body.suffix) request.suffix = body.suffix;
  if (body.template_params) request.params = body.template_params;
  return request;
}

export function fromOpenAiEmbedding(body: EmbeddingRequestBody): EmbeddingRequest {
  const input = typeof body.input === 'string' ? [body.input] : body.input;
  const empty = input.findIndex((text) => text === '');
  if (empty !== -1) throw invalidRequest(typeof body.input === 'string' ? 'input' : `input[${empty}]`, "'input' must not contain empty strings.");
  const request: EmbeddingRequest = { model: body.model, input };
  if (body.dimensions) request.dimensions = body.dimensions;
  return request;
}

export function toOpenAiFinishReason(reason: FinishReason): OpenAiFinishReason {
  return reason === 'length' || reason === 'tool_calls' ? reason : 'stop';
}

export function toOpenAiUsage(usage: Usage): OpenAiUsage {
  return { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.promptTokens + usage.completionTokens };
}

/**
 * A virtual model's annotations on the wire: always `sources` (empty when the bot refused), and
 * `refused: true` only when it did.
 */
export function toOpenAiAnnotations(annotations: ReplyAnnotations): { sources: ReplySourceWire[]; refused?: true } {
  const sources = (annotations.sources ?? []).map((source): ReplySourceWire => ({
    index: source.index,
    document: source.document,
    ...(source.page === undefined ? {} : { page: source.page }),
    ...(source.section === undefined ? {} : { section: source.section }),
    excerpt: source.excerpt,
  }));
  return annotations.refused ? { sources, refused: true } : { sources };
}

/** Whole tool calls of a `chat.completion` message. */
export function toOpenAiToolCalls(calls: ToolCall[]): OpenAiToolCall[] {
  return calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
}

/** Tool calls of a chunk's delta: each whole, numbered on from `startIndex` across the stream. */
export function toChunkToolCalls(calls: ToolCall[], startIndex: number): ChunkToolCall[] {
  return calls.map((call, i) => ({ index: startIndex + i, id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
}
