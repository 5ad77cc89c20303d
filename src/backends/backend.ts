import type {
  ChatEvent, ChatRequest, CompletionRequest, EmbeddingRequest, EmbeddingResult,
  LoadedModel, ModelDetails, ModelInfo, NodeHealth, KeepAliveSeconds,
} from '../core/types.js';

export type NodeType = 'ollama' | 'openai' | 'sim' | 'embedded';

/**
 * One inference server (a "node"). Every adapter implements this and passes the shared
 * conformance suite (`conformance.ts`). Rules every implementation keeps:
 * - Streams are async iterables of canonical events; the last event is `done`. Failures are
 *   thrown as FlexiError (`backend_error`, `backend_unavailable`, `backend_timeout`,
 *   `model_not_found`, `context_length_exceeded`, `invalid_request`).
 * - The `signal` aborts the upstream request at once (a client disconnect ends here).
 * - A request carries no user identity to the node.
 */
export interface Backend {
  /** Node name from the config. */
  readonly name: string;
  readonly type: NodeType;

  chat(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent>;
  complete(request: CompletionRequest, signal: AbortSignal): AsyncIterable<ChatEvent>;
  embed(request: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult>;

  /** Models the node can serve, canonical names. */
  listModels(signal?: AbortSignal): Promise<ModelInfo[]>;
  /** Models resident in memory now (Ollama /api/ps; assumed all for OpenAI-type nodes). */
  loadedModels(signal?: AbortSignal): Promise<LoadedModel[]>;
  /** Details for /api/show; throws model_not_found. */
  showModel(model: string, signal?: AbortSignal): Promise<ModelDetails>;
  /** Load (keepAlive ≥ 0 or negative) or unload (keepAlive 0) a model without generating. */
  setResidency(model: string, keepAliveSeconds: KeepAliveSeconds, signal?: AbortSignal): Promise<void>;
  health(signal?: AbortSignal): Promise<NodeHealth>;
  /**
   * How many times faster than real time the node runs, when it says so (a `flexi sim` sends
   * `x-sim-speed` on every answer); undefined for real nodes. The gateway passes it on so that
   * load tests through Flexi report simulated time.
   */
  simSpeed(): number | undefined;
  close(): Promise<void>;
}
