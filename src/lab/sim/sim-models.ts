import { createHash } from 'node:crypto';
import type { SimModelProfile } from './profile.js';

/** Fixed, so /api/tags is byte-for-byte the same on every run. */
export const SIM_MODIFIED_AT = '2024-06-01T00:00:00Z';
export const SIM_MODIFIED_AT_SECONDS = Math.floor(Date.parse(SIM_MODIFIED_AT) / 1000);

export function modelDigest(model: SimModelProfile): string {
  return createHash('sha256').update(`flexi-sim:${model.name}`).digest('hex');
}

export function modelSizeBytes(model: SimModelProfile): number {
  return Math.round(model.sizeGb * 1e9);
}

/** Ollama's `details` object. */
export function modelDetails(model: SimModelProfile): Record<string, unknown> {
  const families = model.capabilities.includes('vision') ? [model.family, 'clip'] : [model.family];
  return {
    parent_model: '',
    format: 'gguf',
    family: model.family,
    families,
    parameter_size: model.parameterSize,
    quantization_level: model.quantization,
  };
}

/** GGUF-style keys /api/show returns in `model_info`. */
export function modelInfo(model: SimModelProfile): Record<string, unknown> {
  const arch = model.architecture;
  return {
    'general.architecture': arch,
    'general.basename': model.name.split(':')[0],
    'general.file_type': 2,
    'general.parameter_count': model.parameterCount,
    'general.quantization_version': 2,
    [`${arch}.context_length`]: model.contextLength,
    [`${arch}.embedding_length`]: model.embeddingLength,
  };
}

/** Context length a loaded model reports: Ollama's default num_ctx (4096) unless the model is shorter. */
export function loadedContextLength(model: SimModelProfile): number {
  return Math.min(4096, model.contextLength);
}
