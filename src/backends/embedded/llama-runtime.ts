import { availableParallelism } from 'node:os';
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { FlexiError } from '../../core/errors.js';

export type EmbeddedGpu = 'auto' | 'cuda' | 'vulkan' | 'cpu' | false;

export interface LlamaRuntimeOptions {
  gpu: EmbeddedGpu;
  /** Resolved thread count (≥ 1). */
  threads: number;
}

/**
 * Threads that are fastest on this machine. llama.cpp workers busy-wait, so more threads than
 * free cores is much slower (reference pitfall 1: 4 threads on 2 cores = 1 tok/s instead of 340).
 * Half the logical cores approximates the physical ones; beyond 8 decode is memory-bound anyway.
 */
export function resolveThreads(configured: number, cores = availableParallelism()): number {
  if (configured > 0) return configured;
  if (cores <= 2) return 1;
  return Math.min(8, Math.floor(cores / 2));
}

// One Llama per (gpu, threads): creating it costs ~0.3 s and loads the native backend, so every
// embedded node of the process shares it.
const runtimes = new Map<string, Promise<Llama>>();

/** The shared llama.cpp instance; never builds from source (build: 'never'). */
export function getLlamaRuntime(options: LlamaRuntimeOptions): Promise<Llama> {
  const key = `${String(options.gpu)}/${options.threads}`;
  let runtime = runtimes.get(key);
  if (!runtime) {
    runtime = createRuntime(options);
    runtimes.set(key, runtime);
    // A failed start (missing CUDA build, …) must not be cached forever.
    runtime.catch(() => runtimes.delete(key));
  }
  return runtime;
}

async function createRuntime(options: LlamaRuntimeOptions): Promise<Llama> {
  const gpu = options.gpu === 'cpu' ? false : options.gpu;
  try {
    // gpu 'auto' falls back to the CPU build silently when no GPU build is installed.
    return await getLlama({
      gpu,
      build: 'never',
      maxThreads: options.threads,
      logLevel: LlamaLogLevel.error,
    });
  } catch (error) {
    const hint = gpu === 'cuda'
      ? ' Install @node-llama-cpp/linux-x64-cuda@3.21.1 and the CUDA 13 runtime, or set embedded.gpu to auto (docs/embedded.md).'
      : gpu === 'vulkan'
        ? ' Install @node-llama-cpp/linux-x64-vulkan@3.21.1 and a Vulkan driver, or set embedded.gpu to auto.'
        : '';
    throw new FlexiError('backend_unavailable', `The embedded engine (llama.cpp, gpu=${String(options.gpu)}) could not start: ${(error as Error).message}.${hint}`, { cause: error });
  }
}
