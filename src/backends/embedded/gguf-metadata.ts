import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { FlexiError } from '../../core/errors.js';
import { toCanonicalModelName } from '../../core/model-name.js';
import type { ModelDetails } from '../../core/types.js';
import { readGgufHeader, type GgufHeader, type GgufReadLimits } from './gguf-reader.js';

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

/** `general.*` and `<arch>.*` keys as Ollama's `model_info` shows them (long arrays are already null). */
function modelInfoOf(metadata: ReadonlyMap<string, unknown>, architecture: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of metadata) {
    if (key.startsWith('general.') || key.startsWith(`${architecture}.`)) out[key] = value;
  }
  return out;
}

/**
 * Reads the header of a GGUF file (not the weights) with the defensive reader (gguf-reader.ts).
 * Throws `backend_error` naming the file when it is not a readable GGUF, so one bad file never
 * hides the others.
 */
export async function readGgufModelFile(path: string, limits: GgufReadLimits = {}): Promise<GgufModelFile> {
  let sizeBytes: number;
  let modifiedAt: Date;
  try {
    const info = await stat(path);
    sizeBytes = info.size;
    modifiedAt = info.mtime;
  } catch (error) {
    throw new FlexiError('model_not_found', `Model file ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  let header: GgufHeader;
  try {
    header = await readGgufHeader(path, limits);
  } catch (error) {
    throw new FlexiError('backend_error', `${basename(path)} is not a valid GGUF model file: ${(error as Error).message}`, { cause: error });
  }
  const meta = (key: string): unknown => header.metadata.get(key);
  const architecture = String(meta('general.architecture') ?? 'unknown');
  const archNumber = (key: string): number | undefined => numberOrUndefined(meta(`${architecture}.${key}`));
  const parameterCount = header.tensors.reduce(
    (sum, tensor) => sum + tensor.dimensions.reduce((product, dim) => product * dim, 1), 0);
  const fileType = numberOrUndefined(meta('general.file_type'));
  const embeddingLength = archNumber('embedding_length');
  const heads = archNumber('attention.head_count');
  const kvHeads = archNumber('attention.head_count_kv') ?? heads;
  const headDimK = archNumber('attention.key_length') ?? (embeddingLength && heads ? embeddingLength / heads : undefined);
  const headDimV = archNumber('attention.value_length') ?? headDimK;
  const modelInfo = modelInfoOf(header.metadata, architecture);
  modelInfo['general.parameter_count'] = parameterCount;
  const chatTemplate = meta('tokenizer.chat_template');
  const trainContextLength = archNumber('context_length');
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
    blockCount: archNumber('block_count'),
    kvWidth: kvHeads && headDimK && headDimV ? kvHeads * (headDimK + headDimV) : undefined,
    capabilities: ['completion', 'embedding', 'tools'],
    template: typeof chatTemplate === 'string' ? chatTemplate : undefined,
    license: licenseOf(header.metadata),
    modelInfo,
  };
}

/** `general.license` is a string; some converters write `general.license.name` instead. */
function licenseOf(metadata: ReadonlyMap<string, unknown>): string | undefined {
  const license = metadata.get('general.license') ?? metadata.get('general.license.name');
  return typeof license === 'string' ? license : undefined;
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
