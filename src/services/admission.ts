import type { Principal } from './access-control.service.js';

export interface AdmitRequest {
  endpoint: string;
  /** The resolved (canonical) model name. */
  model: string;
  /** What the client asked for (max_tokens / num_predict); undefined when it set none. */
  maxTokens?: number;
  /** Input tokens, bounded from above (token-estimate.ts): reserved on top of max tokens. */
  promptTokens?: number;
  /** The request field that carries the input (`messages`, `prompt`, `input`), named by `input_too_long`. */
  inputParam?: string;
}

/** A request that passed every limit and holds its quota reservation; exactly one of settle/cancel ends it. */
export interface AdmissionTicket {
  /** The max tokens to ask the node for when the request set none (the role's cap); undefined: no cap. */
  maxTokens: number | undefined;
  /** `x-ratelimit-*` headers' values after this request; the route writes them on its response. */
  rateLimit: Record<string, string>;
  settle(usage: { promptTokens: number; completionTokens: number }): void;
  cancel(): void;
}

/**
 * The port through which InferenceService asks whether a principal may run a request, injected
 * at construction (AccessControl implements it). The service holds the ticket and ends it; what
 * the client must be told (rate-limit headers) comes back on the result, for http/ to write.
 */
export interface Admission {
  /** Checks policy, limits and budgets, and reserves quota; throws the refusal's FlexiError. */
  admit(principal: Principal, request: AdmitRequest): Promise<AdmissionTicket>;
  /** Policy check only (requests that generate nothing, e.g. Ollama load/unload); throws permission_denied. */
  authorize(principal: Principal, request: { endpoint: string; model?: string }): void;
}
