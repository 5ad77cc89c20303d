import { sniffImageFormat } from '../../core/images.js';
import type { SimModelProfile } from './profile.js';
import { SimHttpError } from './sim-http.js';

/** Prompt tokens one image costs, as LLaVA 1.5's vision encoder counts it (24 × 24 patches). */
export const SIM_IMAGE_TOKENS = 576;

type Body = Record<string, unknown>;

/**
 * The images of a request, checked as a vision model's runner would: each must decode to a PNG,
 * JPEG, WebP or GIF, and a model without `vision` refuses them (Ollama answers 400 too).
 * Ollama sends `images` (base64) on messages or the generate body; OpenAI clients send
 * `image_url` content parts with data: URLs. Returns the extra prompt tokens they cost.
 */
export function simImageTokens(model: SimModelProfile, sources: readonly { images?: unknown; content?: unknown }[]): number {
  let count = 0;
  sources.forEach((source, i) => {
    for (const [j, base64] of imagesOf(source, i).entries()) {
      const bytes = Buffer.from(base64, 'base64');
      if (sniffImageFormat(bytes) === undefined) {
        throw new SimHttpError(400, `image ${j} of message ${i} is not a PNG, JPEG, WebP or GIF image`, `messages[${i}]`);
      }
      count++;
    }
  });
  if (count > 0 && !model.capabilities.includes('vision')) {
    throw new SimHttpError(400, `registry.ollama.ai/library/${model.name} does not support images`, 'images');
  }
  return count * SIM_IMAGE_TOKENS;
}

function imagesOf(source: { images?: unknown; content?: unknown }, index: number): string[] {
  const out: string[] = [];
  if (Array.isArray(source.images)) {
    for (const image of source.images) {
      if (typeof image !== 'string') throw new SimHttpError(400, `messages[${index}].images must be base64 strings`, `messages[${index}].images`);
      out.push(image);
    }
  }
  if (Array.isArray(source.content)) {
    for (const part of source.content as Body[]) {
      if (part?.type !== 'image_url') continue;
      const url = (part.image_url as Body | undefined)?.url;
      const match = typeof url === 'string' ? /^data:image\/[a-z0-9.+-]+;base64,(.+)$/i.exec(url) : null;
      if (!match) throw new SimHttpError(400, `messages[${index}]: the sim takes images as data: URLs only`, `messages[${index}].content`);
      out.push(match[1]!);
    }
  }
  return out;
}
