import type { ChatRequest, CompletionRequest, EmbeddingRequest, ResponseFormat } from '../../core/types.js';

/**
 * An upper bound on the input tokens of a request, known before any node has seen it: what a
 * budget reservation holds and what `max_input_tokens` caps. It must never count fewer tokens
 * than the node will: a reservation that under-counts lets parallel requests spend a budget
 * many times over (issue 12: chars ÷ 4 and no per-message cost let 2,000 one-character
 * messages cost 24 × what was reserved).
 *
 * The bound: one token per UTF-8 byte of text. Byte-level BPE (Llama 3, Qwen, GPT-style) and
 * SentencePiece with byte fallback (Llama 2, Mistral, Gemma) never make a token of less than
 * one byte, so text cannot take more tokens than it has bytes; the real count is usually a
 * quarter of it, and the reservation is settled with the node's own count when the request ends.
 * Chat templates add special tokens around every message (`<|start_header_id|>user
 * <|end_header_id|>\n\n … <|eot_id|>` is 5 in Llama 3, ChatML 4–5), counted per message with
 * room to spare, and once per request for the generation prompt and BOS.
 */

/** Template tokens around one message: role markers, separators, end of turn. */
export const MESSAGE_OVERHEAD_TOKENS = 8;
/** Template tokens once per request: BOS, the assistant's generation prompt, tool preambles. */
export const REQUEST_OVERHEAD_TOKENS = 16;
/**
 * An image as the vision encoder sees it: 576 for LLaVA 1.5, 256 for Gemma 3, up to ~1,600 for
 * Llama 3.2 Vision tiles. Not a strict bound (Qwen-VL scales with resolution), so it is set high
 * and the node's count settles it.
 */
export const IMAGE_TOKENS = 2048;

/** UTF-8 bytes of a string without allocating them (Buffer.byteLength walks the string once). */
function bytes(text: string | undefined): number {
  return text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
}

function jsonBytes(value: unknown): number {
  // Request values passed the edge's nesting limit, so stringify cannot overflow here.
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

function formatBytes(format: ResponseFormat | undefined): number {
  return format?.type === 'json_schema' ? jsonBytes(format.schema) : 0;
}

export function estimateChatTokens(request: ChatRequest): number {
  let tokens = REQUEST_OVERHEAD_TOKENS + formatBytes(request.responseFormat);
  for (const message of request.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS + bytes(message.role) + bytes(message.content) + bytes(message.toolName) + bytes(message.toolCallId);
    tokens += (message.images?.length ?? 0) * IMAGE_TOKENS;
    for (const call of message.toolCalls ?? []) tokens += MESSAGE_OVERHEAD_TOKENS + bytes(call.id) + bytes(call.name) + bytes(call.arguments);
  }
  for (const tool of request.tools ?? []) {
    tokens += MESSAGE_OVERHEAD_TOKENS + bytes(tool.name) + bytes(tool.description) + jsonBytes(tool.parameters);
  }
  return tokens;
}

export function estimateCompletionTokens(request: CompletionRequest): number {
  return REQUEST_OVERHEAD_TOKENS + bytes(request.prompt) + bytes(request.suffix) + bytes(request.system) + formatBytes(request.responseFormat);
}

export function estimateEmbeddingTokens(request: EmbeddingRequest): number {
  // Each input is tokenised on its own, with BOS and EOS (or CLS and SEP) around it.
  let tokens = 0;
  for (const input of request.input) tokens += 2 + bytes(input);
  return tokens;
}

/** The bound for any request that carries input. */
export function estimateInputTokens(request: ChatRequest | CompletionRequest | EmbeddingRequest): number {
  if ('messages' in request) return estimateChatTokens(request);
  if ('prompt' in request) return estimateCompletionTokens(request);
  return estimateEmbeddingTokens(request);
}
