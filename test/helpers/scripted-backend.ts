import type { Backend } from '../../src/backends/backend.js';
import { FlexiError } from '../../src/core/errors.js';
import type {
  ChatEvent, ChatRequest, CompletionRequest, EmbeddingRequest, EmbeddingResult, LoadedModel, ModelDetails, ModelInfo, NodeHealth,
} from '../../src/core/types.js';

/** Resolves when the signal aborts: a real backend stops waiting on its socket then. */
function abortion(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

export interface ScriptedBackendOptions {
  name?: string;
  models?: string[];
  /** Words to answer with (one event per word). */
  words?: string[];
  /** Fail the next N requests before the first event. */
  failBeforeFirst?: number;
  /** Wait for this promise between events (lets tests hold a stream open). */
  gate?: () => Promise<void>;
  /** The prompt tokens it reports (default 5), e.g. what a real chat template would count. */
  promptTokens?: (request: ChatRequest | CompletionRequest) => number;
}

/**
 * A canonical-level backend for http-layer tests: deterministic words, honours max tokens,
 * stop sequences and the abort signal, and records what it saw.
 */
export class ScriptedBackend implements Backend {
  readonly name: string;
  readonly type = 'sim' as const;
  readonly seen: (ChatRequest | CompletionRequest | EmbeddingRequest)[] = [];
  aborted = 0;
  active = 0;
  failBeforeFirst: number;
  residency: { model: string; keepAliveSeconds: number }[] = [];

  constructor(private readonly options: ScriptedBackendOptions = {}) {
    this.name = options.name ?? 'scripted';
    this.failBeforeFirst = options.failBeforeFirst ?? 0;
  }

  private models(): string[] {
    return this.options.models ?? ['tiny:latest'];
  }

  private async *generate(request: ChatRequest | CompletionRequest, signal: AbortSignal): AsyncGenerator<ChatEvent> {
    this.seen.push(request);
    if (!this.models().includes(request.model)) throw new FlexiError('model_not_found', `model '${request.model}' not found`);
    if (this.failBeforeFirst > 0) {
      this.failBeforeFirst--;
      throw new FlexiError('backend_unavailable', `${this.name} is down`);
    }
    const words = this.options.words ?? ['Hello', ' from', ' Flexi', '.', ' The', ' end', '.'];
    const max = request.options.maxTokens ?? words.length;
    this.active++;
    try {
      let text = '';
      let count = 0;
      // One listener for the whole answer, not one per word.
      const aborted = abortion(signal);
      for (const word of words.slice(0, max)) {
        if (signal.aborted) {
          this.aborted++;
          throw new FlexiError('client_closed_request');
        }
        if (this.options.gate) await Promise.race([this.options.gate(), aborted]);
        if (signal.aborted) {
          this.aborted++;
          throw new FlexiError('client_closed_request');
        }
        const stop = request.options.stop?.find((s) => (text + word).includes(s));
        if (stop) {
          const cut = (text + word).indexOf(stop);
          const rest = (text + word).slice(text.length, cut);
          if (rest) yield { type: 'delta', content: rest };
          yield { type: 'done', finishReason: 'stop', usage: { promptTokens: this.options.promptTokens?.(request) ?? 5, completionTokens: count + 1 }, timings: {} };
          return;
        }
        text += word;
        count++;
        yield { type: 'delta', content: word };
      }
      const hitMax = max < words.length;
      if ('tools' in request && request.tools?.length && request.toolChoice === 'required') {
        yield { type: 'delta', toolCalls: [{ id: 'call_1', name: request.tools[0]!.name, arguments: '{"city":"Hagen"}' }] };
        yield { type: 'done', finishReason: 'tool_calls', usage: { promptTokens: this.options.promptTokens?.(request) ?? 5, completionTokens: count }, timings: {} };
        return;
      }
      yield { type: 'done', finishReason: hitMax ? 'length' : 'stop', usage: { promptTokens: this.options.promptTokens?.(request) ?? 5, completionTokens: count }, timings: {} };
    } finally {
      this.active--;
    }
  }

  chat(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    return this.generate(request, signal);
  }

  complete(request: CompletionRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    return this.generate(request, signal);
  }

  async embed(request: EmbeddingRequest): Promise<EmbeddingResult> {
    this.seen.push(request);
    if (!this.models().includes(request.model)) throw new FlexiError('model_not_found', `model '${request.model}' not found`);
    return {
      embeddings: request.input.map((text) => Array.from({ length: 8 }, (_, i) => ((text.length + i) % 7) / 7)),
      promptTokens: request.input.reduce((sum, text) => sum + text.length, 0),
      timings: {},
    };
  }

  async listModels(): Promise<ModelInfo[]> {
    return this.models().map((name) => ({ name, sizeBytes: 1000, family: 'llama', parameterSize: '1M', quantization: 'Q8_0', modifiedAt: new Date('2026-01-01T00:00:00Z') }));
  }

  async loadedModels(): Promise<LoadedModel[]> {
    return this.models().slice(0, 1).map((name) => ({ name, sizeBytes: 1000, contextLength: 256 }));
  }

  async showModel(model: string): Promise<ModelDetails> {
    if (!this.models().includes(model)) throw new FlexiError('model_not_found');
    return { name: model, template: '{{ .Prompt }}', license: 'MIT', modelInfo: { 'general.architecture': 'llama' }, capabilities: ['completion'] };
  }

  async setResidency(model: string, keepAliveSeconds: number): Promise<void> {
    this.residency.push({ model, keepAliveSeconds });
  }

  async health(): Promise<NodeHealth> {
    return { ok: true, latencyMs: 0 };
  }

  simSpeed(): undefined {
    return undefined;
  }

  async close(): Promise<void> {}
}
