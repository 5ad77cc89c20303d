import { open, readdir, stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { Llama, LlamaGrammar } from 'node-llama-cpp';
import type { Config, NodeConfig } from '../../config/schema.js';
import { FlexiError, isFlexiError } from '../../core/errors.js';
import { toCanonicalModelName } from '../../core/model-name.js';
import type {
  ChatEvent, ChatRequest, CompletionRequest, EmbeddingRequest, EmbeddingResult, KeepAliveSeconds,
  LoadedModel, ModelDetails, ModelInfo, NodeHealth, ResponseFormat,
} from '../../core/types.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Backend } from '../backend.js';
import { runGeneration, toChatHistory, type GenerationInput } from './generate.js';
import { modelNameFromFile, readGgufModelFile, type GgufModelFile } from './gguf-metadata.js';
import { getLlamaRuntime, resolveThreads, type EmbeddedGpu } from './llama-runtime.js';
import { ModelResidency, realTimers, type ModelSlotState, type Timers } from './model-residency.js';
import { abortError } from './slot-pool.js';
import { toolModeFor, type ToolMode } from './tool-calls.js';

export const ENGINE_VERSION = 'node-llama-cpp 3.21.1';

export interface EmbeddedBackendOptions {
  name: string;
  modelsDir: string;
  slots: number;
  contextSize: number;
  gpu: EmbeddedGpu;
  /** 0 = automatic (see resolveThreads). */
  threads: number;
  keepAliveSeconds: number;
  /** 0 = 75% of the machine's RAM. */
  memoryBudgetBytes: number;
  /** Never sample end-of-sequence, so random test models produce exactly maxTokens. */
  ignoreEos?: boolean;
  timers?: Timers;
  clock?: Clock;
}

/**
 * A node of type `embedded`: llama.cpp in-process via node-llama-cpp, serving every `.gguf` file
 * of its folder as `<file name>:latest`. See docs/embedded.md.
 */
export class EmbeddedBackend implements Backend {
  readonly type = 'embedded' as const;
  readonly name: string;
  readonly modelsDir: string;
  readonly threads: number;
  private readonly residency: ModelResidency;
  private readonly headers = new Map<string, { key: string; file: Promise<GgufModelFile> }>();
  private readonly jsonGrammar = new Map<Llama, Promise<LlamaGrammar>>();
  private llama: Llama | undefined;
  private requests = 0;

  constructor(private readonly options: EmbeddedBackendOptions) {
    this.name = options.name;
    this.modelsDir = resolve(options.modelsDir);
    this.threads = resolveThreads(options.threads);
    this.residency = new ModelResidency({
      slots: options.slots,
      contextSize: options.contextSize,
      threads: this.threads,
      memoryBudgetBytes: options.memoryBudgetBytes > 0 ? options.memoryBudgetBytes : Math.floor(totalmem() * 0.75),
      defaultKeepAliveSeconds: options.keepAliveSeconds,
      timers: options.timers ?? realTimers,
      clock: options.clock ?? systemClock,
      getLlama: () => this.getLlama(),
    });
  }

  /** The shared llama.cpp instance (loads the native library on first call). */
  async getLlama(): Promise<Llama> {
    this.llama ??= await getLlamaRuntime({ gpu: this.options.gpu, threads: this.threads });
    return this.llama;
  }

  async *chat(request: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatEvent> {
    const tools = request.tools?.length && request.toolChoice !== 'none'
      ? await toolModeFor(await this.getLlama(), request.tools, request.toolChoice)
      : undefined;
    yield* this.generate(request.model, request.keepAliveSeconds, request.responseFormat, () => ({
      kind: 'chat', history: toChatHistory(request.messages), param: 'messages',
    }), request.options, signal, tools);
  }

  async *complete(request: CompletionRequest, signal: AbortSignal): AsyncGenerator<ChatEvent> {
    if (request.suffix) {
      throw new FlexiError('unsupported_parameter', 'suffix: fill-in-the-middle is not supported by embedded models.', { param: 'suffix' });
    }
    yield* this.generate(request.model, request.keepAliveSeconds, request.responseFormat, () => (request.raw
      ? { kind: 'raw', prompt: request.prompt, param: 'prompt' }
      : {
        kind: 'chat', param: 'prompt',
        history: toChatHistory([
          ...(request.system ? [{ role: 'system' as const, content: request.system }] : []),
          { role: 'user', content: request.prompt },
        ]),
      }), request.options, signal);
  }

  private async *generate(
    modelName: string, keepAliveSeconds: KeepAliveSeconds | undefined, format: ResponseFormat | undefined,
    toInput: () => GenerationInput, options: ChatRequest['options'], signal: AbortSignal, tools?: ToolMode,
  ): AsyncGenerator<ChatEvent> {
    const startedAtNs = process.hrtime.bigint();
    // A request cancelled before it started must not load a model or take a slot.
    if (signal.aborted) throw abortError();
    const input = toInput();
    const file = await this.getModelFile(modelName);
    const lease = await this.residency.acquire(file, keepAliveSeconds);
    this.requests += 1;
    try {
      const grammar = await this.grammarFor(format);
      for await (const event of runGeneration({
        model: lease.model, input, options, grammar, tools, ignoreEos: this.options.ignoreEos ?? false,
        loadNs: lease.loadNs, startedAtNs,
      }, signal)) {
        // The model is released before `done` (see runGeneration): keep_alive starts with the reply's end.
        if (event.type === 'done') lease.release();
        yield event;
      }
    } finally {
      lease.release();
    }
  }

  private async grammarFor(format: ResponseFormat | undefined): Promise<LlamaGrammar | undefined> {
    if (!format || format.type === 'text') return undefined;
    const llama = await this.getLlama();
    if (format.type === 'json') {
      let grammar = this.jsonGrammar.get(llama);
      if (!grammar) {
        grammar = llama.getGrammarFor('json');
        this.jsonGrammar.set(llama, grammar);
      }
      return grammar;
    }
    try {
      return await llama.createGrammarForJsonSchema(format.schema as Parameters<Llama['createGrammarForJsonSchema']>[0]);
    } catch (error) {
      throw new FlexiError('invalid_request', `response_format.json_schema cannot be turned into a grammar: ${(error as Error).message}`, { param: 'response_format', cause: error });
    }
  }

  async embed(request: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult> {
    const startNs = process.hrtime.bigint();
    if (signal.aborted) throw abortError();
    const file = await this.getModelFile(request.model);
    if (request.dimensions !== undefined && file.embeddingLength !== undefined && request.dimensions !== file.embeddingLength) {
      throw new FlexiError('unsupported_parameter', `dimensions: ${file.name} produces vectors of ${file.embeddingLength} dimensions only.`, { param: 'dimensions' });
    }
    const lease = await this.residency.acquire(file, request.keepAliveSeconds);
    this.requests += 1;
    try {
      const evalStartNs = process.hrtime.bigint();
      const result = await lease.model.embed(request.input, request.truncate ?? true, signal);
      const endNs = process.hrtime.bigint();
      return {
        ...result,
        timings: { totalNs: Number(endNs - startNs), loadNs: lease.loadNs, promptEvalNs: Number(endNs - evalStartNs) },
      };
    } catch (error) {
      if (isFlexiError(error)) throw error;
      throw new FlexiError('backend_error', `${file.name}: embedding failed: ${(error as Error).message}`, { cause: error });
    } finally {
      lease.release();
    }
  }

  /** Every readable `.gguf` of the folder; unreadable files are left out (a request for one names the problem). */
  async listModels(): Promise<ModelInfo[]> {
    const paths = await this.listGgufPaths();
    const results = await Promise.allSettled(paths.map((path) => this.readHeader(path)));
    // A GGUF file whose header does not read (corrupt, cut short) is still listed by name: asking for
    // it then answers 502 naming the file and what is wrong with it, instead of a 404 that hides it.
    // A file that is no GGUF at all (wrong magic bytes) is not a model and stays unlisted.
    const listed = await Promise.all(results.map(async (result, i) => {
      if (result.status === 'fulfilled') return toModelInfo(result.value);
      return (await startsWithGgufMagic(paths[i]!)) ? { name: modelNameFromFile(paths[i]!) } : undefined;
    }));
    return listed.filter((info): info is ModelInfo => info !== undefined);
  }

  /** The parsed header of every `.gguf` file, with the error for each one that is not readable. */
  async readModelFiles(): Promise<GgufModelFile[]> {
    const paths = await this.listGgufPaths();
    const results = await Promise.allSettled(paths.map((path) => this.readHeader(path)));
    return results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  }

  /** Requests that reached the engine so far, and the slot use of each loaded model. */
  stats(): { requests: number; models: ModelSlotState[] } {
    return { requests: this.requests, models: this.residency.slotStates() };
  }

  async loadedModels(): Promise<LoadedModel[]> {
    return this.residency.loadedModels();
  }

  async showModel(model: string): Promise<ModelDetails> {
    const file = await this.getModelFile(model);
    return {
      ...toModelInfo(file),
      template: file.template,
      license: file.license,
      modelInfo: file.modelInfo,
      parameters: `num_ctx ${Math.min(this.options.contextSize, file.trainContextLength ?? Infinity)}`,
    };
  }

  async setResidency(model: string, keepAliveSeconds: KeepAliveSeconds): Promise<void> {
    const file = await this.getModelFile(model);
    await this.residency.setResidency(file, keepAliveSeconds);
  }

  async health(): Promise<NodeHealth> {
    const start = performance.now();
    try {
      await readdir(this.modelsDir);
      const gpu = this.llama ? `, gpu ${String(this.llama.gpu)}` : '';
      return { ok: true, latencyMs: performance.now() - start, version: ENGINE_VERSION, message: `models in ${this.modelsDir}, ${this.threads} thread(s)${gpu}` };
    } catch (error) {
      // A folder that does not exist yet is a node with no models (as listModels says), not a dead node:
      // a fresh installation has no ./models until the first pull.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return { ok: true, latencyMs: performance.now() - start, version: ENGINE_VERSION, message: `models folder ${this.modelsDir} does not exist yet: no models` };
      }
      return { ok: false, latencyMs: performance.now() - start, version: ENGINE_VERSION, message: `models folder ${this.modelsDir} is not readable: ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
    }
  }

  /** In-process and real: no time scale. */
  simSpeed(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    await this.residency.unloadAll();
  }

  /** The model's file by canonical name; throws model_not_found, or backend_error for a corrupt file. */
  async getModelFile(model: string): Promise<GgufModelFile> {
    const wanted = toCanonicalModelName(model);
    const path = (await this.listGgufPaths()).find((candidate) => modelNameFromFile(candidate) === wanted);
    if (!path) {
      throw new FlexiError('model_not_found', `Model ${model} is not in ${this.modelsDir} (node ${this.name}). \`flexi models pull\` downloads GGUF files.`, { param: 'model' });
    }
    return this.readHeader(path);
  }

  private async listGgufPaths(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.modelsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new FlexiError('backend_unavailable', `Models folder ${this.modelsDir} is not readable: ${(error as Error).message}`, { cause: error });
    }
    return names.filter((name) => name.toLowerCase().endsWith('.gguf')).sort().map((name) => join(this.modelsDir, name));
  }

  /** Header parse cached by size and mtime: listing a folder of large models stays cheap. */
  private async readHeader(path: string): Promise<GgufModelFile> {
    const info = await stat(path).catch(() => undefined);
    const key = info ? `${info.size}/${info.mtimeMs}` : 'missing';
    const cached = this.headers.get(path);
    if (cached?.key === key) return cached.file;
    const file = readGgufModelFile(path);
    this.headers.set(path, { key, file });
    file.catch(() => this.headers.delete(path));
    return file;
  }
}

async function startsWithGgufMagic(path: string): Promise<boolean> {
  const file = await open(path, 'r').catch(() => undefined);
  if (!file) return false;
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.toString('latin1') === 'GGUF';
  } finally {
    await file.close();
  }
}

function toModelInfo(file: GgufModelFile): ModelInfo {
  return {
    name: file.name, sizeBytes: file.sizeBytes, modifiedAt: file.modifiedAt, format: file.format,
    family: file.family, families: file.families, parameterSize: file.parameterSize,
    quantization: file.quantization, contextLength: file.contextLength, capabilities: file.capabilities,
  };
}

/** The embedded node of the config (the gateway's factory calls this). */
export function createEmbeddedBackend(node: NodeConfig, config: Config, overrides: Partial<EmbeddedBackendOptions> = {}): EmbeddedBackend {
  const embedded = config.embedded;
  return new EmbeddedBackend({
    name: node.name,
    modelsDir: node.models_dir ?? './models',
    slots: node.slots ?? embedded.default_slots,
    contextSize: embedded.context_size,
    gpu: embedded.gpu,
    threads: embedded.threads,
    keepAliveSeconds: embedded.keep_alive_seconds,
    memoryBudgetBytes: embedded.memory_budget_bytes,
    ...overrides,
  });
}
