import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { readGgufFileInfo } from 'node-llama-cpp';
import { FlexiError } from '../../core/errors.js';
import { toCanonicalModelName } from '../../core/model-name.js';
import type { ModelDetails } from '../../core/types.js';

/** llama.cpp `llama_ftype` values (`general.file_type`) by name. */
const FILE_TYPE_NAMES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S',
  12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K',
  19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL',
  26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16',
  36: 'TQ1_0', 37: 'TQ2_0', 38: 'MXFP4_MOE',
};

/** What Flexi needs from a GGUF header: listing, /api/show, and the memory estimate. */
export interface GgufModelFile extends ModelDetails {
  path: string;
  sizeBytes: number;
  modifiedAt: Date;
  parameterCount: number;
  architecture: string;
  /** `<arch>.context_length`. */
  trainContextLength?: number;
  embeddingLength?: number;
  blockCount?: number;
  /** Key+value width per token per layer, for the KV cache estimate. */
  kvWidth?: number;
}

/** `qwen2.5-0.5b.gguf` → `qwen2.5-0.5b:latest`. */
export function modelNameFromFile(filePath: string): string {
  return toCanonicalModelName(basename(filePath).replace(/\.gguf$/i, ''));
}

/** Ollama's human form: 8030261248 → "8.0B", 60000000 → "60.0M". */
export function formatParameterCount(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(1)}M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(1)}K`;
  return String(count);
}

/** Flattened `general.*` / `<arch>.*` keys, without the long tokenizer arrays. */
function flattenMetadata(value: unknown, prefix: string, out: Record<string, unknown>): void {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flattenMetadata(child, prefix ? `${prefix}.${key}` : key, out);
    return;
  }
  out[prefix] = Array.isArray(value) && value.length > 64 ? null : value;
}

/**
 * Reads the header of a GGUF file (not the weights). Throws `backend_error` naming the file when it
 * is not a readable GGUF, so one bad file never hides the others.
 */
export async function readGgufModelFile(path: string): Promise<GgufModelFile> {
  let sizeBytes: number;
  let modifiedAt: Date;
  try {
    const info = await stat(path);
    sizeBytes = info.size;
    modifiedAt = info.mtime;
  } catch (error) {
    throw new FlexiError('model_not_found', `Model file ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  let file: Awaited<ReturnType<typeof readGgufFileInfo>>;
  try {
    // Loaded on first use: the model manager (admin API, CLI) imports this file in every server,
    // and node-llama-cpp's module graph costs ~tens of MiB where no GGUF file is ever read.
    const llama = await import('node-llama-cpp');
    file = await llama.readGgufFileInfo(path, {
      sourceType: 'filesystem', logWarnings: false, spliceSplitFiles: false,
      ignoreKeys: ['tokenizer.ggml.merges', 'tokenizer.ggml.token_type', 'tokenizer.ggml.scores'],
    });
  } catch (error) {
    throw new FlexiError('backend_error', `${basename(path)} is not a valid GGUF model file: ${(error as Error).message}`, { cause: error });
  }
  const metadata = file.metadata as unknown as Record<string, Record<string, unknown>>;
  const general = (metadata.general ?? {}) as Record<string, unknown>;
  const architecture = String(general.architecture ?? 'unknown');
  const arch = (metadata[architecture] ?? {}) as Record<string, unknown>;
  const attention = (arch.attention ?? {}) as Record<string, unknown>;
  const tokenizer = (metadata.tokenizer ?? {}) as Record<string, unknown>;
  const parameterCount = (file.tensorInfo ?? []).reduce(
    (sum, tensor) => sum + tensor.dimensions.reduce<number>((product, dim) => product * Number(dim), 1), 0);
  const fileType = typeof general.file_type === 'number' ? general.file_type : undefined;
  const embeddingLength = numberOrUndefined(arch.embedding_length);
  const heads = numberOrUndefined(attention.head_count);
  const kvHeads = numberOrUndefined(attention.head_count_kv) ?? heads;
  const headDimK = numberOrUndefined(attention.key_length) ?? (embeddingLength && heads ? embeddingLength / heads : undefined);
  const headDimV = numberOrUndefined(attention.value_length) ?? headDimK;
  const modelInfo: Record<string, unknown> = {};
  flattenMetadata({ general, [architecture]: arch }, '', modelInfo);
  modelInfo['general.parameter_count'] = parameterCount;
  const template = typeof tokenizer.chat_template === 'string' ? tokenizer.chat_template : undefined;
  const trainContextLength = numberOrUndefined(arch.context_length);
  return {
    name: modelNameFromFile(path),
    path,
    sizeBytes,
    modifiedAt,
    format: 'gguf',
    family: architecture,
    families: [architecture],
    architecture,
    parameterCount,
    parameterSize: formatParameterCount(parameterCount),
    quantization: fileType === undefined ? undefined : FILE_TYPE_NAMES[fileType] ?? `type_${fileType}`,
    contextLength: trainContextLength,
    trainContextLength,
    embeddingLength,
    blockCount: numberOrUndefined(arch.block_count),
    kvWidth: kvHeads && headDimK && headDimV ? kvHeads * (headDimK + headDimV) : undefined,
    capabilities: ['completion', 'embedding'],
    template,
    license: licenseOf(general),
    modelInfo,
  };
}

function licenseOf(general: Record<string, unknown>): string | undefined {
  const license = general.license;
  if (typeof license === 'string') return license;
  if (license && typeof license === 'object' && typeof (license as Record<string, unknown>).name === 'string') {
    return (license as Record<string, string>).name;
  }
  return undefined;
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
