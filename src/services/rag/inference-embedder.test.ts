import { describe, expect, it } from 'vitest';
import type { EmbeddingRequest } from '../../core/types.js';
import type { RequestContext } from '../inference/inference.service.js';
import { InferenceEmbedder } from './inference-embedder.js';

describe('InferenceEmbedder', () => {
  it('asks the inference path for rag.embedding_model with the caller\'s context and signal', async () => {
    const seen: { request: EmbeddingRequest; context: RequestContext }[] = [];
    const inference = {
      embed: async (request: EmbeddingRequest, context: RequestContext) => {
        seen.push({ request, context });
        return { embeddings: request.input.map((t) => [t.length, 1]), promptTokens: 3, timings: {}, model: request.model, node: 'n1', rateLimit: {} };
      },
    };
    const controller = new AbortController();
    const context = { requestId: 'r1', endpoint: '/rag', protocol: 'openai' as const, principal: {} as RequestContext['principal'], signal: controller.signal, startedAtMs: 0 };
    const embedder = new InferenceEmbedder('bge-m3', inference as never, (signal) => ({ ...context, signal }));
    expect(await embedder.embed(['abc', 'de'], controller.signal)).toEqual([[3, 1], [2, 1]]);
    expect(seen[0]!.request).toEqual({ model: 'bge-m3', input: ['abc', 'de'] });
    expect(seen[0]!.context.signal).toBe(controller.signal);
    expect(await embedder.embed([])).toEqual([]);
    expect(seen).toHaveLength(1);
  });
});
