import type { ChatCompletionDelta } from '../api/openai.js';
import type { FlexiError } from '../core/errors.js';
import type { ChatEvent } from '../core/types.js';
import { errorBody } from './errors.js';
import { toChunkToolCalls, toOpenAiAnnotations, toOpenAiFinishReason, toOpenAiUsage } from './openai-translate.js';
import type { StreamEncoder } from './stream-writer.js';

export const SYSTEM_FINGERPRINT = 'fp_flexi';

/**
 * chat.completion.chunk frames exactly as OpenAI frames them: the same id and created on every
 * chunk, role on the first delta, finish_reason on the last content chunk, then (with
 * include_usage) a chunk with `choices: []` and the usage, then `data: [DONE]`. Each frame is a
 * `ChatCompletionChunk` (src/api/openai.ts), written as text around the typed delta: this runs per token.
 */
export class OpenAiChatStreamEncoder implements StreamEncoder {
  readonly contentType = 'text/event-stream; charset=utf-8';
  private readonly prefix: string;
  private readonly usageSuffix: string;
  private first = true;
  private toolCallIndex = 0;

  constructor(id: string, created: number, model: string, private readonly includeUsage: boolean, object = 'chat.completion.chunk') {
    this.prefix = `data: {"id":${JSON.stringify(id)},"object":"${object}","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
    this.usageSuffix = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  }

  encode(event: ChatEvent): string {
    if (event.type === 'done') {
      let out = '';
      if (this.first) out += this.chunk({ role: 'assistant', content: '' });
      out += `${this.prefix}{"index":0,"delta":{},"logprobs":null,"finish_reason":"${toOpenAiFinishReason(event.finishReason)}"}${this.usageSuffix}`;
      if (this.includeUsage) out += `${this.prefix}],"usage":${JSON.stringify(toOpenAiUsage(event.usage))}}\n\n`;
      if (event.annotations) out += `${this.prefix}]${JSON.stringify(toOpenAiAnnotations(event.annotations)).replace(/^\{/, ',')}\n\n`;
      return `${out}data: [DONE]\n\n`;
    }
    const delta: ChatCompletionDelta = {};
    if (this.first) {
      delta.role = 'assistant';
      this.first = false;
    }
    if (event.content !== undefined) delta.content = event.content;
    if (event.thinking) delta.reasoning_content = event.thinking;
    if (event.toolCalls && event.toolCalls.length > 0) {
      delta.tool_calls = toChunkToolCalls(event.toolCalls, this.toolCallIndex);
      this.toolCallIndex += event.toolCalls.length;
    }
    return this.chunk(delta);
  }

  private chunk(delta: ChatCompletionDelta): string {
    return `${this.prefix}{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":null}${this.usageSuffix}`;
  }

  encodeError(error: FlexiError): string {
    return `data: ${JSON.stringify(errorBody(error, 'openai'))}\n\n`;
  }
}

/** Legacy text_completion frames (`TextCompletion`; same SSE rules, `text` instead of `delta`). */
export class OpenAiCompletionStreamEncoder implements StreamEncoder {
  readonly contentType = 'text/event-stream; charset=utf-8';
  private readonly prefix: string;
  private readonly usageSuffix: string;

  constructor(id: string, created: number, model: string, private readonly includeUsage: boolean) {
    this.prefix = `data: {"id":${JSON.stringify(id)},"object":"text_completion","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
    this.usageSuffix = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  }

  encode(event: ChatEvent): string {
    if (event.type === 'done') {
      let out = `${this.prefix}{"index":0,"text":"","logprobs":null,"finish_reason":"${toOpenAiFinishReason(event.finishReason)}"}${this.usageSuffix}`;
      if (this.includeUsage) out += `${this.prefix}],"usage":${JSON.stringify(toOpenAiUsage(event.usage))}}\n\n`;
      if (event.annotations) out += `${this.prefix}]${JSON.stringify(toOpenAiAnnotations(event.annotations)).replace(/^\{/, ',')}\n\n`;
      return `${out}data: [DONE]\n\n`;
    }
    return `${this.prefix}{"index":0,"text":${JSON.stringify(event.content ?? '')},"logprobs":null,"finish_reason":null}${this.usageSuffix}`;
  }

  encodeError(error: FlexiError): string {
    return `data: ${JSON.stringify(errorBody(error, 'openai'))}\n\n`;
  }
}
