import {
  JinjaTemplateChatWrapper, resolveChatWrapper,
  type ChatWrapper, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaEmbeddingContext, type LlamaModel, type Token,
} from 'node-llama-cpp';
import { FlexiError } from '../../core/errors.js';
import type { GgufModelFile } from './gguf-metadata.js';
import { SlotPool } from './slot-pool.js';

export interface LoadOptions {
  slots: number;
  /** Requested context per slot; capped at the model's training context. */
  contextSize: number;
  threads: number;
}

/** Bytes a model is expected to take once loaded: weights plus an f16 KV cache for every slot. */
export function estimateModelBytes(file: GgufModelFile, options: Pick<LoadOptions, 'slots' | 'contextSize'>): number {
  const contextSize = effectiveContextSize(file, options.contextSize);
  if (!file.blockCount || !file.kvWidth) return Math.ceil(file.sizeBytes * 1.2);
  const kvBytes = file.blockCount * file.kvWidth * contextSize * options.slots * 2;
  return file.sizeBytes + kvBytes;
}

function effectiveContextSize(file: GgufModelFile, requested: number): number {
  return file.trainContextLength ? Math.min(requested, file.trainContextLength) : requested;
}

/**
 * One model resident in memory: the weights, one context whose sequences are the request slots
 * (node-llama-cpp batches the sequences of a context into one evaluation), and an embedding
 * context created on first use.
 */
export class LoadedLlamaModel {
  readonly slots: SlotPool<LlamaContextSequence>;
  private embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  // Embedding requests of one model run one at a time on a single-sequence context.
  private readonly embeddingLock = new SlotPool<true>([true]);
  private cachedVocabularySize: number | undefined;
  private cachedChatWrapper: ChatWrapper | undefined;

  private constructor(
    readonly file: GgufModelFile,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    sequences: LlamaContextSequence[],
    private readonly threads: number,
    readonly estimatedBytes: number,
  ) {
    this.slots = new SlotPool(sequences);
  }

  static async load(llama: Llama, file: GgufModelFile, options: LoadOptions): Promise<LoadedLlamaModel> {
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: file.path });
    } catch (error) {
      throw new FlexiError('backend_error', `Model ${file.name} (${file.path}) could not be loaded: ${(error as Error).message}`, { cause: error });
    }
    try {
      const context = await model.createContext({
        contextSize: effectiveContextSize(file, options.contextSize),
        sequences: options.slots,
        threads: options.threads,
      });
      const sequences = Array.from({ length: options.slots }, () => context.getSequence());
      return new LoadedLlamaModel(file, model, context, sequences, options.threads, estimateModelBytes(file, options));
    } catch (error) {
      await model.dispose();
      throw new FlexiError('backend_error', `Model ${file.name}: the context (${options.slots} slots × ${options.contextSize} tokens) could not be created: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * The model's own chat template, else the built-in wrapper node-llama-cpp picks from its name.
   * resolveChatWrapper() would also compare the template with every specialised wrapper by
   * rendering test chats: measured 3–6 s of blocked event loop per load, which would stall every
   * other request of the gateway, so a template is used as it is (11 ms).
   */
  get chatWrapper(): ChatWrapper {
    this.cachedChatWrapper ??= chatWrapperFor(this.model, this.file.template);
    return this.cachedChatWrapper;
  }

  get name(): string {
    return this.file.name;
  }

  /** Tokens one slot can hold (prompt + reply). */
  get contextSize(): number {
    return this.context.contextSize;
  }

  /**
   * Token ids outside the vocabulary abort the process inside llama.cpp (reference pitfall 4),
   * so everything that reaches detokenize or evaluate passes through here.
   */
  assertValidTokens(tokens: readonly Token[]): void {
    const vocabularySize = this.vocabularySize;
    for (const token of tokens) {
      if (!Number.isInteger(token) || token < 0 || token >= vocabularySize) {
        throw new FlexiError('backend_error', `Token id ${token} is outside the vocabulary of ${this.name} (size ${vocabularySize}).`);
      }
    }
  }

  get vocabularySize(): number {
    this.cachedVocabularySize ??= vocabularySizeOf(this.model);
    return this.cachedVocabularySize;
  }

  async embed(texts: readonly string[], truncate: boolean, signal: AbortSignal): Promise<{ embeddings: number[][]; promptTokens: number }> {
    await this.embeddingLock.acquire(signal);
    try {
      this.embeddingContext ??= this.model.createEmbeddingContext({ contextSize: this.contextSize, threads: this.threads });
      const context = await this.embeddingContext;
      const limit = this.contextSize;
      const embeddings: number[][] = [];
      let promptTokens = 0;
      for (const [index, text] of texts.entries()) {
        if (signal.aborted) throw new FlexiError('client_closed_request', 'The request was cancelled.');
        let tokens = this.model.tokenize(text);
        if (tokens.length > limit) {
          if (!truncate) {
            throw new FlexiError('context_length_exceeded', `input[${index}] has ${tokens.length} tokens; ${this.name} embeds at most ${limit}. Shorten it or allow truncation.`, { param: 'input' });
          }
          tokens = tokens.slice(0, limit);
        }
        this.assertValidTokens(tokens);
        promptTokens += tokens.length;
        const embedding = await context.getEmbeddingFor(tokens);
        embeddings.push([...embedding.vector]);
      }
      return { embeddings, promptTokens };
    } finally {
      this.embeddingLock.release(true);
    }
  }

  async dispose(): Promise<void> {
    this.slots.rejectAll(new FlexiError('backend_unavailable', `Model ${this.name} was unloaded.`));
    this.embeddingLock.rejectAll(new FlexiError('backend_unavailable', `Model ${this.name} was unloaded.`));
    const embedding = await this.embeddingContext?.catch(() => undefined);
    await embedding?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }
}

function vocabularySizeOf(model: LlamaModel): number {
  const metadata = model.fileInfo.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const tokens = (metadata.tokenizer?.ggml as Record<string, unknown> | undefined)?.tokens;
  if (Array.isArray(tokens)) return tokens.length;
  const architecture = String(metadata.general?.architecture ?? '');
  const size = metadata[architecture]?.vocab_size;
  return typeof size === 'number' ? size : Infinity;
}

function chatWrapperFor(model: LlamaModel, template: string | undefined): ChatWrapper {
  if (template?.trim()) {
    try {
      return new JinjaTemplateChatWrapper({ tokenizer: model.tokenizer, template });
    } catch {
      // A template the Jinja engine cannot run: fall back to the wrapper chosen by model name.
    }
  }
  return resolveChatWrapper(model, { noJinja: true });
}
