import type { InferenceService, RequestContext } from '../inference/inference.service.js';
import type { Embedder } from './rag-index.service.js';

/**
 * The `Embedder` over Flexi's own inference path: `rag.embedding_model` on whichever node serves it,
 * admitted, queued and accounted like any request of the context's principal (the lecturer who
 * uploads, the student who asks). Built where the request context is known (ingestion job, search).
 */
export class InferenceEmbedder implements Embedder {
  constructor(
    readonly model: string,
    private readonly inference: Pick<InferenceService, 'embed'>,
    private readonly contextFor: (signal: AbortSignal) => RequestContext,
  ) {}

  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    if (texts.length === 0) return [];
    const result = await this.inference.embed({ model: this.model, input: texts }, this.contextFor(signal ?? new AbortController().signal));
    return result.embeddings;
  }
}
