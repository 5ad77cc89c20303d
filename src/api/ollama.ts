import { z } from 'zod';
import { templateParamsSchema, type ReplySourceWire } from './openai.js';

/**
 * Ollama wire schemas (requests) and the reply, stream-line and node-body types below. Durations on
 * this wire are nanoseconds. Unknown fields are
 * accepted and ignored, as Ollama does. Source: ollama/ollama docs/api.md, api/types.go.
 */

/** keep_alive: seconds as a number or a Go duration string ("5m", "1h30m", "-1"). */
export const keepAliveSchema = z.union([z.number(), z.string().max(32)]).optional();

export const ollamaOptionsSchema = z.looseObject({
  temperature: z.number().min(0).max(100).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  seed: z.number().int().optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  num_predict: z.number().int().min(-2).optional(),
  // Bounded: a node told to allocate a context of 10^8 tokens reloads the model or fails with a 500.
  num_ctx: z.number().int().min(1).max(1_048_576).optional(),
  frequency_penalty: z.number().optional(),
  presence_penalty: z.number().optional(),
}).optional();

const formatSchema = z.union([z.literal('json'), z.literal(''), z.record(z.string(), z.unknown())]).optional();

const ollamaToolCallSchema = z.object({
  id: z.string().optional(),
  function: z.object({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()).optional(), index: z.number().optional() }),
});

export const ollamaMessageSchema = z.looseObject({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string().optional().default(''),
  images: z.array(z.string()).nullable().optional(),
  tool_calls: z.array(ollamaToolCallSchema).optional(),
  tool_name: z.string().optional(),
  thinking: z.string().optional(),
});

const ollamaToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }),
});

export const ollamaChatRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(ollamaMessageSchema).optional(),
  tools: z.array(ollamaToolSchema).optional(),
  format: formatSchema,
  options: ollamaOptionsSchema,
  stream: z.boolean().optional(),
  keep_alive: keepAliveSchema,
  think: z.union([z.boolean(), z.string()]).optional(),
  template_params: templateParamsSchema,
});
export type OllamaChatRequest = z.infer<typeof ollamaChatRequestSchema>;

export const ollamaGenerateRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  prompt: z.string().optional(),
  suffix: z.string().optional(),
  system: z.string().optional(),
  template: z.string().optional(),
  images: z.array(z.string()).nullable().optional(),
  format: formatSchema,
  options: ollamaOptionsSchema,
  stream: z.boolean().optional(),
  raw: z.boolean().optional(),
  keep_alive: keepAliveSchema,
  think: z.union([z.boolean(), z.string()]).optional(),
  template_params: templateParamsSchema,
});
export type OllamaGenerateRequest = z.infer<typeof ollamaGenerateRequestSchema>;

export const ollamaEmbedRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string()).max(2048)]),
  truncate: z.boolean().optional(),
  dimensions: z.number().int().min(1).optional(),
  options: ollamaOptionsSchema,
  keep_alive: keepAliveSchema,
});

export const ollamaLegacyEmbeddingsRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  prompt: z.string(),
  options: ollamaOptionsSchema,
  keep_alive: keepAliveSchema,
});

export const ollamaShowRequestSchema = z.looseObject({
  model: z.string().min(1).max(256).optional(),
  /** Deprecated alias of `model`. */
  name: z.string().min(1).max(256).optional(),
  verbose: z.boolean().optional(),
});

/** Go-style duration ("5m", "1h30m", "300ms", "-1") or seconds → seconds. Undefined when invalid. */
export function parseKeepAlive(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const text = value.trim();
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  const re = /(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unitSeconds: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  let consumed = 0;
  for (const match of text.matchAll(re)) {
    total += Number(match[1]) * unitSeconds[match[2]!]!;
    consumed += match[0].length;
  }
  return consumed === text.length && consumed > 0 ? total : undefined;
}

// ---------------------------------------------------------------------------------------------
// Replies and stream lines. Flexi writes these to its clients (http/) and reads them from Ollama
// nodes (backends/), so both sides type against one definition. Field names and units as in
// ollama/ollama api/types.go: durations in nanoseconds, times as RFC 3339 text.
// ---------------------------------------------------------------------------------------------

/** A tool call in a message. Ollama's `arguments` is a JSON object (OpenAI's is JSON text). */
export interface OllamaToolCall {
  /** Newer Ollama versions send an id; older ones none (Flexi then makes one up). */
  id?: string;
  function: {
    /** Position among the calls of one message (newer versions). */
    index?: number;
    name: string;
    /** The arguments as an object; some servers send JSON text, which readers must accept. */
    arguments: Record<string, unknown> | string;
  };
}

/** A chat message as Ollama sends and receives it. */
export interface OllamaMessage {
  /** `system`, `user`, `assistant` or `tool`. */
  role: string;
  /** The text; empty when an assistant message only calls tools. */
  content: string;
  /** A reasoning model's thoughts, apart from the answer (with `think`). */
  thinking?: string;
  /** Base64 images without a data-URL prefix (vision models). */
  images?: string[];
  tool_calls?: OllamaToolCall[];
  /** For `role: tool`: the name of the tool whose result this is. */
  tool_name?: string;
  /** For `role: tool`: the call this answers (newer versions). */
  tool_call_id?: string;
}

/** The six counters of a final line; all durations in nanoseconds. */
export interface OllamaCounters {
  /** Request received → answer done. */
  total_duration: number;
  /** Time spent loading the model (0 when it was resident). */
  load_duration: number;
  /** Prompt tokens evaluated. */
  prompt_eval_count: number;
  /** Time spent on the prompt (prefill). */
  prompt_eval_duration: number;
  /** Tokens generated. */
  eval_count: number;
  /** Time spent generating them (decode). */
  eval_duration: number;
}

/** Why a generation ended: `stop`, `length`; `load`/`unload` for a request with no prompt. */
export type OllamaDoneReason = 'stop' | 'length' | 'load' | 'unload';

/** One NDJSON line of `/api/chat` (or the whole reply with `stream: false`). */
export interface OllamaChatResponse extends Partial<OllamaCounters> {
  /** The model name as the client asked for it. */
  model: string;
  created_at: string;
  /** The assistant's next piece (streaming) or the whole answer (final, non-streamed). */
  message: OllamaMessage;
  done: boolean;
  /** Only on the final line (`done: true`). */
  done_reason?: OllamaDoneReason;
  /** Flexi extension, final line only (course bots): the excerpts the answer stands on. */
  sources?: ReplySourceWire[];
  /** Flexi extension, final line only: a course bot refused without asking a model. */
  refused?: boolean;
}

/** One NDJSON line of `/api/generate` (or the whole reply with `stream: false`). */
export interface OllamaGenerateResponse extends Partial<OllamaCounters> {
  model: string;
  created_at: string;
  /** The next piece of text, or the whole text when not streamed. */
  response: string;
  thinking?: string;
  done: boolean;
  done_reason?: OllamaDoneReason;
  sources?: ReplySourceWire[];
  refused?: boolean;
}

/**
 * A line as a node sends it, read leniently: every field may be missing, `done_reason` may be a
 * value this version does not know, and a failure arrives in-band as `{"error": "…"}`.
 */
export type OllamaStreamLine = Partial<Omit<OllamaChatResponse, 'done_reason'> & Omit<OllamaGenerateResponse, 'done_reason'>> & {
  done_reason?: string;
  error?: unknown;
};

/** `details` of a model in `/api/tags`, `/api/ps` and `/api/show`. */
export interface OllamaModelDetails {
  parent_model?: string;
  /** `gguf`. */
  format?: string;
  family?: string;
  families?: string[] | null;
  /** Human-readable size, e.g. `8.0B`. */
  parameter_size?: string;
  /** e.g. `Q4_K_M`. */
  quantization_level?: string;
}

/** One entry of `/api/tags` (`{"models": [...]}`): a model the node has on disk. */
export interface OllamaListModel {
  name?: string;
  model?: string;
  modified_at?: string;
  /** Bytes on disk. */
  size?: number;
  digest?: string;
  details?: OllamaModelDetails;
}

/** One entry of `/api/ps` (`{"models": [...]}`): a model loaded in memory. */
export interface OllamaRunningModel extends OllamaListModel {
  /** Bytes of it in GPU memory. */
  size_vram?: number;
  /** When it will be unloaded unless used. */
  expires_at?: string;
  /** The context size it was loaded with (grows with parallel slots). */
  context_length?: number;
}

/** `/api/show`. */
export interface OllamaShowResponse {
  modelfile?: string;
  parameters?: string;
  template?: string;
  system?: string;
  license?: string;
  details?: OllamaModelDetails;
  /** GGUF metadata, e.g. `general.architecture`, `<arch>.context_length`. */
  model_info?: Record<string, unknown>;
  /** e.g. `completion`, `tools`, `vision`, `embedding`, `thinking`. */
  capabilities?: string[];
  modified_at?: string;
}

/** `/api/embed`. */
export interface OllamaEmbedResponse {
  model: string;
  /** One vector per input. */
  embeddings: number[][];
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
}

/** The body of a chat request Flexi sends to a node (a subset of what it accepts from clients). */
export interface OllamaChatBody {
  model: string;
  messages: OllamaMessage[];
  stream: true;
  tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters: Record<string, unknown> } }>;
  options?: OllamaNodeOptions;
  /** `json` or a JSON schema. */
  format?: string | Record<string, unknown>;
  /** Seconds (Ollama takes a bare number as seconds). */
  keep_alive?: number;
}

/** The body of a generate request Flexi sends to a node. */
export interface OllamaGenerateBody extends Omit<OllamaChatBody, 'messages' | 'tools'> {
  prompt: string;
  suffix?: string;
  system?: string;
  raw?: boolean;
  /** Base64 images without a data-URL prefix (vision models). */
  images?: string[];
}

/** The sampling options Flexi passes to a node (`options`). */
export interface OllamaNodeOptions {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  stop?: string[];
  /** The most tokens to generate (OpenAI's `max_tokens`). */
  num_predict?: number;
  /** Context window to load the model with. */
  num_ctx?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
}

/** The body of an embedding request Flexi sends to a node (`/api/embed`). */
export interface OllamaEmbedBody {
  model: string;
  input: string[];
  /** Cut inputs longer than the context instead of failing. */
  truncate?: boolean;
  dimensions?: number;
  keep_alive?: number;
}
