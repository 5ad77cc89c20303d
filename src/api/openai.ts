import { z } from 'zod';

/**
 * OpenAI wire schemas (requests) and response types, field names exactly as the protocol spells
 * them. Unknown request fields are accepted and ignored (clients such as Moodle send extras).
 * Source: openai/openai-node resources (see docs/reference in shared/reference/protocols.md §2).
 */

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const imagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.object({ url: z.string().min(1), detail: z.string().optional() }),
});
const contentPart = z.union([textPart, imagePart]);

const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

export const openaiMessageSchema = z.discriminatedUnion('role', [
  z.looseObject({ role: z.enum(['system', 'developer']), content: z.union([z.string(), z.array(textPart)]), name: z.string().optional() }),
  z.looseObject({ role: z.literal('user'), content: z.union([z.string(), z.array(contentPart).min(1)]), name: z.string().optional() }),
  z.looseObject({
    role: z.literal('assistant'),
    content: z.union([z.string(), z.array(textPart), z.null()]).optional(),
    tool_calls: z.array(toolCallSchema).optional(),
    name: z.string().optional(),
  }),
  z.looseObject({ role: z.literal('tool'), content: z.union([z.string(), z.array(textPart)]), tool_call_id: z.string().min(1) }),
]);
export type OpenAiMessage = z.infer<typeof openaiMessageSchema>;

const stopSchema = z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional();
const maxTokensSchema = z.number().int().min(1).nullable().optional();

const responseFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({ name: z.string(), schema: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullable().optional(), description: z.string().optional() }),
  }),
]);

const toolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1).max(64),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

/**
 * A virtual model's parameters (Flexi extension; a prompt template's `template_params`): names to
 * plain values only — nothing in them is ever evaluated. Moodle 5's "extra parameters" reach it.
 */
export const templateParamsSchema = z.record(z.string().min(1).max(64), z.union([z.string().max(100_000), z.number(), z.boolean(), z.null()]))
  .refine((params) => Object.keys(params).length <= 64, 'at most 64 parameters')
  .nullable().optional();

const samplingFields = {
  model: z.string().min(1).max(256),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
  max_tokens: maxTokensSchema,
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  top_k: z.number().int().min(0).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: stopSchema,
  n: z.number().int().min(1).max(128).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  user: z.string().optional(),
  template_params: templateParamsSchema,
};

export const chatCompletionRequestSchema = z.looseObject({
  ...samplingFields,
  messages: z.array(openaiMessageSchema).min(1),
  max_completion_tokens: maxTokensSchema,
  response_format: responseFormatSchema.nullable().optional(),
  tools: z.array(toolSchema).max(128).nullable().optional(),
  tool_choice: z.union([
    z.enum(['none', 'auto', 'required']),
    z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
  ]).nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

export const completionRequestSchema = z.looseObject({
  ...samplingFields,
  prompt: z.union([z.string(), z.array(z.string()).length(1)]),
  suffix: z.string().nullable().optional(),
  echo: z.boolean().nullable().optional(),
  best_of: z.number().int().min(1).nullable().optional(),
  logprobs: z.number().int().min(0).max(5).nullable().optional(),
});
export type CompletionRequestBody = z.infer<typeof completionRequestSchema>;

export const embeddingRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]),
  dimensions: z.number().int().min(1).optional(),
  encoding_format: z.enum(['float', 'base64']).optional(),
  user: z.string().optional(),
});
export type EmbeddingRequestBody = z.infer<typeof embeddingRequestSchema>;

/** chat.completion.chunk `choices[].delta.tool_calls[]` item. */
export interface ChunkToolCall {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface OpenAiModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  /**
   * Flexi's addition: what the model can do, as Ollama names it (`completion`, `tools`, `vision`,
   * `embedding`); `vision` marks the models that take images. Clients ignore unknown fields.
   */
  capabilities?: string[];
}

// ---------------------------------------------------------------------------------------------
// Replies and stream chunks. Flexi writes these to its clients (http/) and reads them from
// OpenAI-compatible nodes (backends/), so both sides type against one definition. Shapes as in
// openai/openai-node `resources/chat/completions`, `completions`, `embeddings`, `models`.
// ---------------------------------------------------------------------------------------------

/** Why a choice ended. Flexi sends `stop`, `length` or `tool_calls`. */
export type OpenAiFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** A whole tool call in a (non-streamed) assistant message. */
export interface OpenAiToolCall {
  id: string;
  type: 'function';
  /** `arguments` is JSON text (Ollama's is an object). */
  function: { name: string; arguments: string };
}

/** The assistant message of a `chat.completion` choice. */
export interface ChatCompletionMessage {
  role: 'assistant';
  /** null when the message only calls tools. */
  content: string | null;
  /** Always null: Flexi's models do not refuse through this field. */
  refusal: null;
  tool_calls?: OpenAiToolCall[];
  /** A reasoning model's thoughts (the field vLLM and DeepSeek use; not in OpenAI's own API). */
  reasoning_content?: string;
}

/** `POST /v1/chat/completions` without `stream`. */
export interface ChatCompletion {
  /** `chatcmpl-…`, the same on every chunk of a stream. */
  id: string;
  object: 'chat.completion';
  /** Unix seconds. */
  created: number;
  /** The model name as the client asked for it. */
  model: string;
  system_fingerprint: string;
  choices: Array<{ index: number; message: ChatCompletionMessage; logprobs: null; finish_reason: OpenAiFinishReason }>;
  usage: OpenAiUsage;
  /** Flexi extension (course bots): the excerpts the answer stands on, numbered as it cites them. */
  sources?: ReplySourceWire[];
  /** Flexi extension: true when a course bot refused (no relevant passage) without asking a model. */
  refused?: boolean;
}

/** One source of a course bot's answer: `[n]` in the text is `index` n. */
export interface ReplySourceWire {
  index: number;
  /** The document's file name. */
  document: string;
  /** 1-based page (PDF), where the document has pages. */
  page?: number;
  /** The heading path of the passage, where it has one. */
  section?: string;
  excerpt: string;
}

/** `choices[].delta` of a chunk: the role on the first chunk, then pieces of content or tool calls. */
export interface ChatCompletionDelta {
  role?: 'assistant';
  content?: string | null;
  reasoning_content?: string | null;
  tool_calls?: ChunkToolCall[];
}

/**
 * One SSE `data:` frame of a streamed chat completion. With `stream_options.include_usage` every
 * chunk carries `usage: null` and one last chunk with `choices: []` carries the usage.
 */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{ index: number; delta: ChatCompletionDelta; logprobs: null; finish_reason: OpenAiFinishReason | null }>;
  usage?: OpenAiUsage | null;
  /** Flexi extension: on one last chunk with `choices: []` before `[DONE]`, as in `ChatCompletion`. */
  sources?: ReplySourceWire[];
  refused?: boolean;
}

/** `POST /v1/completions` (legacy text completion), whole or as one stream frame. */
export interface TextCompletion {
  /** `cmpl-…`. */
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{ index: number; text: string; logprobs: null; finish_reason: OpenAiFinishReason | null }>;
  usage?: OpenAiUsage | null;
  /** Flexi extension, as on `ChatCompletion` (a template or course bot called as a completion). */
  sources?: ReplySourceWire[];
  refused?: boolean;
}

/** `POST /v1/embeddings`. */
export interface CreateEmbeddingResponse {
  object: 'list';
  /** One per input, in input order; base64 of little-endian float32 with `encoding_format: base64`. */
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** `GET /v1/models`. */
export interface ModelList {
  object: 'list';
  data: OpenAiModel[];
}

/**
 * A chunk as an OpenAI-compatible node streams it, read leniently (vLLM, llama.cpp server, LM
 * Studio, Ollama's /v1): chat (`delta`) or completion (`text`) choices, every field optional,
 * reasoning under either name, llama.cpp's own timings, and an in-band `error`.
 */
export interface OpenAiStreamLine {
  choices?: Array<{
    index?: number;
    delta?: { content?: string | null; reasoning_content?: string | null; reasoning?: string | null; tool_calls?: Array<Partial<ChunkToolCall>> };
    text?: string;
    finish_reason?: string | null;
  }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  /** llama.cpp server's counters on the last chunk, in milliseconds. */
  timings?: { prompt_ms?: number; predicted_ms?: number };
  error?: unknown;
}

/** An entry of a node's `GET /models`, read leniently. */
export interface UpstreamModel extends Partial<Omit<OpenAiModel, 'id'>> {
  id: string;
  /** vLLM: the context length it serves the model with. */
  max_model_len?: number;
}

/** A message Flexi sends to a node (content parts when it carries images). */
export interface OpenAiNodeMessage {
  role: string;
  content: string | Array<{ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } }>;
  tool_calls?: OpenAiToolCall[];
  tool_call_id?: string;
}

/** The sampling fields Flexi passes to a node. */
export interface OpenAiNodeSampling {
  temperature?: number;
  top_p?: number;
  /** Not in OpenAI's API; vLLM, llama.cpp server and LM Studio accept it. */
  top_k?: number;
  seed?: number;
  stop?: string[];
  /** `max_tokens`, not `max_completion_tokens`: Ollama's /v1 parses only the old name. */
  max_tokens?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
}

/** The body of a chat request Flexi sends to a node (always streamed, with usage). */
export interface OpenAiChatBody extends OpenAiNodeSampling {
  model: string;
  messages: OpenAiNodeMessage[];
  stream: true;
  stream_options: { include_usage: true };
  response_format?: { type: 'json_object' } | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown> } };
  tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters: Record<string, unknown> } }>;
  tool_choice?: 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };
}

/** The body of a text completion request Flexi sends to a node. */
export interface OpenAiCompletionBody extends OpenAiNodeSampling {
  model: string;
  prompt: string;
  suffix?: string;
  stream: true;
  stream_options: { include_usage: true };
  response_format?: OpenAiChatBody['response_format'];
}

/** The body of an embedding request Flexi sends to a node. */
export interface OpenAiEmbeddingBody {
  model: string;
  input: string[];
  encoding_format: 'float';
  dimensions?: number;
}
