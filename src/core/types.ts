/**
 * The canonical request and event types. Every wire protocol (OpenAI, Ollama, the web UI) is
 * translated into these at the edge — http/ for clients, backends/ for inference servers — so
 * the core logic (services, scheduler) is written once.
 */

/** Who wrote a message. OpenAI's `developer` role is folded into `system` at the edge. */
export type MessageRole = 'system' | 'user' | 'assistant' | 'tool';

/** A call the model asks the client to make. `arguments` is JSON text (OpenAI's form). */
export interface ToolCall {
  id: string;
  name: string;
  /** JSON-encoded arguments, exactly as the model produced them. */
  arguments: string;
}

export interface ChatMessage {
  role: MessageRole;
  content: string;
  /** Base64-encoded images (no data: prefix). */
  images?: string[];
  toolCalls?: ToolCall[];
  /** For role `tool`: the id of the call this message answers (OpenAI). */
  toolCallId?: string;
  /** For role `tool`: the name of the tool that produced this message (Ollama). */
  toolName?: string;
}

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters?: Record<string, unknown>;
}

export type ToolChoice = 'none' | 'auto' | 'required' | { name: string };

export interface SamplingOptions {
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string[];
  /** Upper bound on generated tokens (OpenAI max_tokens / max_completion_tokens, Ollama num_predict). */
  maxTokens?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** Context window to use, where the engine lets the client choose (Ollama num_ctx). */
  numCtx?: number;
}

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json' }
  | { type: 'json_schema'; name?: string; schema: Record<string, unknown> };

/** Ollama keep_alive semantics, in seconds: 0 unloads after the reply, negative keeps it loaded. */
export type KeepAliveSeconds = number;

interface GenerationCommon {
  /** Canonical model name as the client asked for it after alias resolution (`name:tag`). */
  model: string;
  options: SamplingOptions;
  responseFormat?: ResponseFormat;
  keepAliveSeconds?: KeepAliveSeconds;
  /**
   * Parameters for a virtual model (a prompt template's `template_params`); never sent to a node.
   * Values are data: nothing in them is evaluated.
   */
  params?: Record<string, unknown>;
}

export interface ChatRequest extends GenerationCommon {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
}

export interface CompletionRequest extends GenerationCommon {
  prompt: string;
  suffix?: string;
  /** System prompt for engines that wrap the prompt in a template (Ollama generate). */
  system?: string;
  /** Send the prompt without a template (Ollama raw). */
  raw?: boolean;
  /** Base64-encoded images (Ollama generate with a vision model). */
  images?: string[];
}

export interface EmbeddingRequest {
  model: string;
  input: string[];
  dimensions?: number;
  /** Truncate inputs longer than the context (default true, as in Ollama). */
  truncate?: boolean;
  keepAliveSeconds?: KeepAliveSeconds;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/** Server-side timings where the engine reports them (Ollama does), in nanoseconds. */
export interface EngineTimings {
  totalNs?: number;
  loadNs?: number;
  promptEvalNs?: number;
  evalNs?: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'load' | 'unload';

/** A passage an answer stands on: a course bot's citation, numbered as in the prompt. */
export interface ReplySource {
  /** 1-based number of the excerpt, as the answer cites it (`[1]`). */
  index: number;
  /** The document's name (its file name). */
  document: string;
  page?: number;
  section?: string;
  excerpt: string;
}

/** What a virtual model adds to its answer beyond the text; the final frame of a reply carries it. */
export interface ReplyAnnotations {
  sources?: ReplySource[];
  /** True when the answer is the refusal text and no model was asked (a course bot's strict mode). */
  refused?: boolean;
}

/**
 * One event of a generation stream. Errors are not events: the iterator throws a FlexiError,
 * and the http layer turns it into a status (before the first byte) or one in-band error frame.
 */
export type ChatEvent =
  | { type: 'delta'; content?: string; thinking?: string; toolCalls?: ToolCall[] }
  | { type: 'done'; finishReason: FinishReason; usage: Usage; timings: EngineTimings; annotations?: ReplyAnnotations };

export interface EmbeddingResult {
  embeddings: number[][];
  promptTokens: number;
  timings: EngineTimings;
}

/** A model as a node advertises it. */
export interface ModelInfo {
  /** Canonical `name:tag`. */
  name: string;
  sizeBytes?: number;
  digest?: string;
  modifiedAt?: Date;
  format?: string;
  family?: string;
  families?: string[];
  /** Human form, e.g. "8.0B". */
  parameterSize?: string;
  /** e.g. "Q4_K_M". */
  quantization?: string;
  contextLength?: number;
  /** `completion`, `embedding`, `tools`, `vision`, `thinking`… as Ollama names them. */
  capabilities?: string[];
}

/** A model resident in a node's memory. */
export interface LoadedModel {
  name: string;
  sizeBytes?: number;
  sizeVramBytes?: number;
  expiresAt?: Date;
  contextLength?: number;
}

/** What /api/show needs beyond ModelInfo. */
export interface ModelDetails extends ModelInfo {
  template?: string;
  system?: string;
  license?: string;
  /** Modelfile-style parameter lines. */
  parameters?: string;
  modelfile?: string;
  /** GGUF metadata keys (general.architecture, <arch>.context_length, …). */
  modelInfo?: Record<string, unknown>;
}

export interface NodeHealth {
  ok: boolean;
  /** Round-trip time of the probe. */
  latencyMs: number;
  version?: string;
  message?: string;
}
