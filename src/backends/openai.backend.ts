import type { OpenAiChatBody, OpenAiCompletionBody, OpenAiEmbeddingBody, OpenAiStreamLine, UpstreamModel } from '../api/openai.js';
import { FlexiError } from '../core/errors.js';
import { toCanonicalModelName } from '../core/model-name.js';
import type {
  ChatEvent, ChatRequest, CompletionRequest, EmbeddingRequest, EmbeddingResult, LoadedModel,
  ModelDetails, ModelInfo, NodeHealth,
} from '../core/types.js';
import type { Backend } from './backend.js';
import { abortError, upstreamMessage, type HttpClient } from './http-client.js';
import {
  ToolCallAccumulator, estimatePromptTokens, fromLlamaCppTimings, fromOpenAiFinishReason, fromOpenAiModel,
  toOpenAiChatBody, toOpenAiCompletionBody,
} from './openai-mapping.js';

/** Don't re-list models more often than this when a request names an unknown one. */
const MODEL_REFRESH_MIN_INTERVAL_MS = 1000;

/**
 * Any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, Ollama's /v1). The node URL
 * includes `/v1`. Such servers name models by free ids (`meta-llama/Llama-3.1-8B-Instruct`);
 * Flexi's canonical name adds `:latest` where the id has no tag, so requests are sent with the
 * id the server listed.
 */
export class OpenAiBackend implements Backend {
  readonly type = 'openai' as const;
  private readonly upstreamIds = new Map<string, string>();
  private refreshing: Promise<UpstreamModel[]> | undefined;
  private lastRefreshMs = Number.NEGATIVE_INFINITY;

  constructor(readonly name: string, private readonly http: HttpClient) {}

  chat(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    return this.stream('/chat/completions', request.model, (model) => toOpenAiChatBody(request, model), signal,
      () => estimatePromptTokens(request.messages.map((m) => m.content)));
  }

  complete(request: CompletionRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    // `/completions` takes no images: a prompt with images (Ollama generate) goes as one chat turn.
    if (request.images !== undefined && request.images.length > 0) {
      const messages: ChatRequest['messages'] = request.system ? [{ role: 'system', content: request.system }] : [];
      messages.push({ role: 'user', content: request.prompt, images: request.images });
      return this.chat({ model: request.model, messages, options: request.options, responseFormat: request.responseFormat }, signal);
    }
    return this.stream('/completions', request.model, (model) => toOpenAiCompletionBody(request, model), signal,
      () => estimatePromptTokens([request.prompt]));
  }

  async embed(request: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult> {
    const model = await this.resolveModel(request.model, signal);
    const body: OpenAiEmbeddingBody = { model, input: request.input, encoding_format: 'float' };
    if (request.dimensions !== undefined) body.dimensions = request.dimensions;
    const reply = await this.http.postJson<{ data?: Array<{ index?: number; embedding?: number[] }>; usage?: { prompt_tokens?: number } }>('/embeddings', body, signal);
    const data = reply.data ?? [];
    if (data.length !== request.input.length || data.some((d) => !Array.isArray(d.embedding))) {
      throw new FlexiError('backend_error', `node "${this.name}" returned ${data.length} embeddings for ${request.input.length} inputs`);
    }
    const embeddings = [...data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)).map((d) => d.embedding as number[]);
    return { embeddings, promptTokens: reply.usage?.prompt_tokens ?? 0, timings: {} };
  }

  async listModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    return (await this.fetchModels(signal)).map(fromOpenAiModel);
  }

  /** OpenAI-compatible servers keep every model they list in memory. */
  async loadedModels(signal?: AbortSignal): Promise<LoadedModel[]> {
    return (await this.listModels(signal)).map((m) => ({ name: m.name, contextLength: m.contextLength }));
  }

  async showModel(model: string, signal?: AbortSignal): Promise<ModelDetails> {
    const wanted = toCanonicalModelName(model);
    const found = (await this.listModels(signal)).find((m) => m.name === wanted);
    if (found === undefined) throw new FlexiError('model_not_found', `model "${model}" not found on node "${this.name}"`, { param: 'model' });
    return { ...found, capabilities: found.capabilities ?? ['completion'] };
  }

  /** These servers load their models at start and offer no residency control. */
  async setResidency(): Promise<void> {}

  async health(signal?: AbortSignal): Promise<NodeHealth> {
    const startMs = performance.now();
    try {
      await this.http.getJson<unknown>('/models', signal);
      return { ok: true, latencyMs: performance.now() - startMs };
    } catch (error) {
      if (signal?.aborted) throw error;
      return { ok: false, latencyMs: performance.now() - startMs, message: (error as Error).message };
    }
  }

  simSpeed(): number | undefined {
    return this.http.simSpeed;
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async fetchModels(signal?: AbortSignal): Promise<UpstreamModel[]> {
    const reply = await this.http.getJson<{ data?: UpstreamModel[] }>('/models', signal);
    const models = (reply.data ?? []).filter((m) => typeof m?.id === 'string');
    for (const m of models) this.upstreamIds.set(toCanonicalModelName(m.id), m.id);
    this.lastRefreshMs = performance.now();
    return models;
  }

  /** Canonical name → the id the server listed; unknown after a fresh listing → model_not_found. */
  private async resolveModel(model: string, signal: AbortSignal): Promise<string> {
    if (signal.aborted) throw abortError(signal);
    const canonical = toCanonicalModelName(model);
    const known = this.upstreamIds.get(canonical);
    if (known !== undefined) return known;
    // The listing is shared by concurrent callers, so no one caller's signal may cancel it.
    if (this.refreshing === undefined && performance.now() - this.lastRefreshMs >= MODEL_REFRESH_MIN_INTERVAL_MS) {
      this.refreshing = this.fetchModels().finally(() => { this.refreshing = undefined; });
    }
    if (this.refreshing !== undefined) await this.refreshing;
    if (signal.aborted) throw abortError(signal);
    const listed = this.upstreamIds.get(canonical);
    if (listed !== undefined) return listed;
    throw new FlexiError('model_not_found', `model "${model}" not found on node "${this.name}"`, { param: 'model' });
  }

  private async *stream(
    path: string,
    model: string,
    buildBody: (upstreamModel: string) => OpenAiChatBody | OpenAiCompletionBody,
    signal: AbortSignal,
    estimatePrompt: () => number,
  ): AsyncGenerator<ChatEvent> {
    const upstreamModel = await this.resolveModel(model, signal);
    const upstream = await this.http.postStream(path, buildBody(upstreamModel), signal);
    try {
      const toolCalls = new ToolCallAccumulator();
      let finishReason: string | null | undefined;
      let usage: OpenAiStreamLine['usage'];
      let timings: OpenAiStreamLine['timings'];
      let chunksWithText = 0;
      let sawDone = false;
      read: for await (const events of upstream.sseEventBatches()) {
        for (const event of events) {
          // Lines already buffered must not outlive an abort.
          if (signal.aborted) throw abortError(signal);
          if (event.data === '[DONE]') {
            sawDone = true;
            upstream.markComplete();
            break read;
          }
          const chunk = parseChunk(this.name, event.data);
          if (chunk.error !== undefined || event.event === 'error') throw inBandError(this.name, chunk.error ?? chunk);
          if (chunk.usage) usage = chunk.usage;
          if (chunk.timings) timings = chunk.timings;
          const choice = chunk.choices?.[0];
          if (choice === undefined) continue;
          if (choice.finish_reason) finishReason = choice.finish_reason;
          const delta = choice.delta;
          const content = delta !== undefined ? delta.content : choice.text;
          const thinking = delta?.reasoning_content ?? delta?.reasoning;
          if (delta?.tool_calls !== undefined) toolCalls.add(delta.tool_calls);
          if (content || thinking) {
            chunksWithText++;
            const out: ChatEvent & { type: 'delta' } = { type: 'delta' };
            if (content) out.content = content;
            if (thinking) out.thinking = thinking;
            yield out;
          }
        }
      }
      // A stream cut without [DONE] is complete only if the last content chunk said why it ended.
      if (!sawDone && !finishReason) throw new FlexiError('backend_error', `node "${this.name}" ended the stream before [DONE]`);
      if (toolCalls.size > 0) yield { type: 'delta', toolCalls: toolCalls.toToolCalls() };
      yield {
        type: 'done',
        finishReason: fromOpenAiFinishReason(finishReason, toolCalls.size > 0),
        // Without `usage` (servers ignoring stream_options) each streamed chunk counts as one
        // token, which is what vLLM and llama.cpp send; the prompt is estimated from its length.
        usage: usage
          ? { promptTokens: usage.prompt_tokens ?? 0, completionTokens: usage.completion_tokens ?? 0 }
          : { promptTokens: estimatePrompt(), completionTokens: chunksWithText },
        timings: fromLlamaCppTimings(timings),
      };
    } finally {
      upstream.close();
    }
  }
}

function parseChunk(nodeName: string, data: string): OpenAiStreamLine {
  try {
    const value: unknown = JSON.parse(data);
    if (value !== null && typeof value === 'object') return value as OpenAiStreamLine;
  } catch (error) {
    throw new FlexiError('backend_error', `node "${nodeName}" sent a malformed event: ${data.slice(0, 200)}`, { cause: error });
  }
  throw new FlexiError('backend_error', `node "${nodeName}" sent an event that is not an object: ${data.slice(0, 200)}`);
}

function inBandError(nodeName: string, error: unknown): FlexiError {
  const message = typeof error === 'string' ? error : upstreamMessage(JSON.stringify({ error }));
  return new FlexiError('backend_error', `node "${nodeName}" failed mid-stream: ${message}`);
}
