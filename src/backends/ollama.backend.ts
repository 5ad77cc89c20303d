import type {
  OllamaChatBody, OllamaEmbedBody, OllamaEmbedResponse, OllamaGenerateBody, OllamaListModel, OllamaRunningModel, OllamaShowResponse, OllamaStreamLine,
} from '../api/ollama.js';
import { FlexiError } from '../core/errors.js';
import type {
  ChatEvent, ChatRequest, CompletionRequest, EmbeddingRequest, EmbeddingResult, KeepAliveSeconds,
  LoadedModel, ModelDetails, ModelInfo, NodeHealth, ToolCall,
} from '../core/types.js';
import type { Backend, NodeType } from './backend.js';
import { abortError, upstreamMessage, type HttpClient } from './http-client.js';
import {
  fromOllamaPsModel, fromOllamaShow, fromOllamaTagsModel, fromOllamaToolCalls, toFinishReason,
  toOllamaChatBody, toOllamaGenerateBody, toTimings,
} from './ollama-mapping.js';

/**
 * A node speaking Ollama's native API (protocols.md §1): a real Ollama, or a `flexi sim`
 * server (type `sim`), which speaks the same protocol.
 */
export class OllamaBackend implements Backend {
  constructor(
    readonly name: string,
    private readonly http: HttpClient,
    readonly type: Extract<NodeType, 'ollama' | 'sim'> = 'ollama',
  ) {}

  chat(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    return this.stream('/api/chat', () => toOllamaChatBody(request), signal);
  }

  complete(request: CompletionRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    return this.stream('/api/generate', () => toOllamaGenerateBody(request), signal);
  }

  async embed(request: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult> {
    const body: OllamaEmbedBody = { model: request.model, input: request.input };
    if (request.truncate !== undefined) body.truncate = request.truncate;
    if (request.dimensions !== undefined) body.dimensions = request.dimensions;
    if (request.keepAliveSeconds !== undefined) body.keep_alive = request.keepAliveSeconds;
    const reply = await this.http.postJson<Partial<OllamaEmbedResponse>>('/api/embed', body, signal);
    if (!Array.isArray(reply.embeddings) || reply.embeddings.length !== request.input.length) {
      throw new FlexiError('backend_error', `node "${this.name}" returned ${reply.embeddings?.length ?? 'no'} embeddings for ${request.input.length} inputs`);
    }
    return { embeddings: reply.embeddings, promptTokens: reply.prompt_eval_count ?? 0, timings: toTimings(reply) };
  }

  async listModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    const reply = await this.http.getJson<{ models?: OllamaListModel[] }>('/api/tags', signal);
    return (reply.models ?? []).map(fromOllamaTagsModel);
  }

  async loadedModels(signal?: AbortSignal): Promise<LoadedModel[]> {
    const reply = await this.http.getJson<{ models?: OllamaRunningModel[] }>('/api/ps', signal);
    return (reply.models ?? []).map(fromOllamaPsModel);
  }

  async showModel(model: string, signal?: AbortSignal): Promise<ModelDetails> {
    const reply = await this.http.postJson<OllamaShowResponse>('/api/show', { model }, signal);
    return fromOllamaShow(model, reply);
  }

  async setResidency(model: string, keepAliveSeconds: KeepAliveSeconds, signal?: AbortSignal): Promise<void> {
    // An empty generate request loads (or, with keep_alive 0, unloads) the model without generating.
    const reply = await this.http.postJson<OllamaStreamLine>('/api/generate', { model, keep_alive: keepAliveSeconds, stream: false }, signal);
    if (reply.error !== undefined) throw inBandError(this.name, reply.error);
  }

  async health(signal?: AbortSignal): Promise<NodeHealth> {
    const startMs = performance.now();
    try {
      const reply = await this.http.getJson<{ version?: string }>('/api/version', signal);
      return { ok: true, latencyMs: performance.now() - startMs, version: reply.version };
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

  private async *stream(path: string, buildBody: () => OllamaChatBody | OllamaGenerateBody, signal: AbortSignal): AsyncGenerator<ChatEvent> {
    const upstream = await this.http.postStream(path, buildBody(), signal);
    try {
      let sawToolCalls = false;
      for await (const lines of upstream.lineBatches()) {
        for (const line of lines) {
          // Lines already buffered must not outlive an abort.
          if (signal.aborted) throw abortError(signal);
          if (line.length === 0) continue;
          const chunk = parseChunk(this.name, line);
          if (chunk.error !== undefined) throw inBandError(this.name, chunk.error);
          const message = chunk.message;
          const content = message !== undefined ? message.content : chunk.response;
          const thinking = message !== undefined ? message.thinking : chunk.thinking;
          const calls = message?.tool_calls;
          const toolCalls: ToolCall[] | undefined = calls !== undefined && calls.length > 0 ? fromOllamaToolCalls(calls) : undefined;
          if (toolCalls !== undefined) sawToolCalls = true;
          if (content || thinking || toolCalls !== undefined) {
            const delta: ChatEvent & { type: 'delta' } = { type: 'delta' };
            if (content) delta.content = content;
            if (thinking) delta.thinking = thinking;
            if (toolCalls !== undefined) delta.toolCalls = toolCalls;
            yield delta;
          }
          if (chunk.done === true) {
            upstream.markComplete();
            yield {
              type: 'done',
              finishReason: toFinishReason(chunk.done_reason, sawToolCalls),
              usage: { promptTokens: chunk.prompt_eval_count ?? 0, completionTokens: chunk.eval_count ?? 0 },
              timings: toTimings(chunk),
            };
            return;
          }
        }
      }
      throw new FlexiError('backend_error', `node "${this.name}" ended the stream before the final chunk`);
    } finally {
      upstream.close();
    }
  }
}

function parseChunk(nodeName: string, line: string): OllamaStreamLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new FlexiError('backend_error', `node "${nodeName}" sent a malformed stream line: ${line.slice(0, 200)}`, { cause: error });
  }
  if (value === null || typeof value !== 'object') {
    throw new FlexiError('backend_error', `node "${nodeName}" sent a stream line that is not an object: ${line.slice(0, 200)}`);
  }
  return value as OllamaStreamLine;
}

/** A `{"error": …}` line after a 200: Ollama's mid-stream failure (protocols.md §1.1). */
function inBandError(nodeName: string, error: unknown): FlexiError {
  const message = typeof error === 'string' ? error : upstreamMessage(JSON.stringify({ error }));
  return new FlexiError('backend_error', `node "${nodeName}" failed mid-stream: ${message}`);
}
