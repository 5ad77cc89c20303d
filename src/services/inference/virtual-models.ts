import { FlexiError } from '../../core/errors.js';
import type { ChatRequest, CompletionRequest, ReplyAnnotations } from '../../core/types.js';
import type { Principal } from '../identity/access-control.service.js';

/**
 * Virtual models: names that no node serves but Flexi answers by preparing a request for a real
 * model — a course bot (`course:<collection>`: retrieval, numbered excerpts, sources) or a prompt
 * template (`template:<name>`: stored prompts with parameters). A provider owns one prefix; the
 * inference service asks it for a plan before admission, so quotas, priorities, fair share and
 * accounting apply to the real request exactly as to any other.
 */

/** A virtual model as the model lists show it to a principal who may use it. */
export interface VirtualModelInfo {
  /** The full name, `prefix:name`. */
  name: string;
  description?: string;
  createdAt?: Date;
  /** Ollama-style capabilities (`completion`, `vision`…), as far as the real model has them. */
  capabilities?: string[];
}

/** What a provider knows about the call it plans. */
export interface VirtualModelCall {
  principal: Principal;
  endpoint: string;
  signal: AbortSignal;
}

/** What to do for a call to a virtual model. */
export type VirtualPlan =
  /** Run `request` (its `model` is a real one) and attach `annotations` to the answer's final frame. */
  | { kind: 'generate'; request: ChatRequest; annotations?: ReplyAnnotations; groupId?: string }
  /** Answer with `content` without asking any model (a strict course bot's refusal). */
  | { kind: 'answer'; content: string; annotations?: ReplyAnnotations; groupId?: string };

export interface VirtualModelProvider {
  /** The prefix it owns, without the colon: `course`, `template`. */
  readonly prefix: string;
  /** The virtual models `principal` may use (nothing else: the rest must look as if it did not exist). */
  list(principal: Principal): Promise<VirtualModelInfo[]>;
  /**
   * Plans a call to `<prefix>:<name>`. Throws model_not_found (404) when the principal may not use
   * it — never 403, so that nobody learns it exists — and invalid_request naming the field for bad
   * parameters. `request.model` is the virtual name as the client sent it.
   */
  plan(name: string, request: ChatRequest, call: VirtualModelCall): Promise<VirtualPlan>;
}

/** The providers, by prefix. */
export class VirtualModels {
  private readonly byPrefix = new Map<string, VirtualModelProvider>();

  constructor(providers: readonly VirtualModelProvider[] = []) {
    for (const provider of providers) {
      if (this.byPrefix.has(provider.prefix)) throw new Error(`Two virtual model providers claim the prefix '${provider.prefix}'.`);
      this.byPrefix.set(provider.prefix, provider);
    }
  }

  /** The provider and the name after the prefix, when `model` is a virtual model's name. */
  match(model: string): { provider: VirtualModelProvider; name: string } | undefined {
    const colon = model.indexOf(':');
    if (colon <= 0) return undefined;
    const provider = this.byPrefix.get(model.slice(0, colon).toLowerCase());
    if (!provider) return undefined;
    const name = model.slice(colon + 1);
    if (name === '') throw new FlexiError('model_not_found', `The model '${model}' does not exist.`, { param: 'model' });
    return { provider, name };
  }

  /** Every virtual model `principal` may use, across providers. */
  async list(principal: Principal): Promise<VirtualModelInfo[]> {
    const lists = await Promise.all([...this.byPrefix.values()].map((provider) => provider.list(principal)));
    return lists.flat();
  }
}

/**
 * A completion request as a chat (a virtual model plans chats only): the system text, then the
 * prompt as the user's message. Moodle's Ollama provider calls `/api/generate` this way.
 */
export function completionAsChat(request: CompletionRequest): ChatRequest {
  const messages: ChatRequest['messages'] = [];
  if (request.system) messages.push({ role: 'system', content: request.system });
  messages.push({ role: 'user', content: request.prompt });
  return {
    model: request.model, options: request.options, responseFormat: request.responseFormat, keepAliveSeconds: request.keepAliveSeconds, messages, params: request.params,
  };
}
