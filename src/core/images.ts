import { FlexiError, invalidRequest } from './errors.js';
import type { ChatMessage, ModelInfo } from './types.js';

/**
 * Images sent to vision models: the formats Flexi passes on, how it recognises them (by their
 * first bytes, never by a name or a MIME type a client claims) and which models take them.
 */

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif';

/** Limits on the images of one request (config `chat.max_image_bytes`, `chat.max_images_per_request`). */
export interface ImageLimits {
  maxImageBytes: number;
  maxImagesPerRequest: number;
}

export const IMAGE_MIME_TYPES: Readonly<Record<ImageFormat, string>> = {
  png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif',
};

/** The format from the file's magic bytes; undefined for anything else. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const starts = (...values: number[]) => values.every((value, i) => bytes[i] === value);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (starts(0x47, 0x49, 0x46, 0x38) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return 'gif';
  if (starts(0x52, 0x49, 0x46, 0x46) && bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50) return 'webp';
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes and checks one base64 image (no data: prefix): valid base64, at most `maxImageBytes`
 * once decoded, a PNG, JPEG, WebP or GIF. Errors name `param`.
 */
export function checkImage(base64: string, param: string, limits: ImageLimits): ImageFormat {
  // Decoded size from the text length, before decoding anything large.
  const decodedBytes = Math.floor((base64.length * 3) / 4);
  if (decodedBytes > limits.maxImageBytes + 2) {
    throw invalidRequest(param, `'${param}' is an image of about ${decodedBytes} bytes; at most ${limits.maxImageBytes} bytes are allowed (chat.max_image_bytes). Send it smaller.`);
  }
  if (base64.length % 4 !== 0 || !BASE64.test(base64)) {
    throw invalidRequest(param, `'${param}' is not valid base64 (send the image file's bytes, base64-encoded, without line breaks).`);
  }
  const bytes = Buffer.from(base64.slice(0, 32), 'base64');
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    throw invalidRequest(param, `'${param}' is not a PNG, JPEG, WebP or GIF image (recognised by its first bytes).`);
  }
  return format;
}

/**
 * Checks every image of a conversation against the limits; returns how many there are.
 * `paramOf` names an image as the client's protocol does.
 */
export function checkMessageImages(
  messages: readonly Pick<ChatMessage, 'images'>[], limits: ImageLimits, paramOf: (message: number, image: number) => string = defaultParam,
): number {
  let count = 0;
  messages.forEach((message, i) => {
    (message.images ?? []).forEach((image, j) => {
      count++;
      if (count > limits.maxImagesPerRequest) {
        throw invalidRequest(paramOf(i, j), `At most ${limits.maxImagesPerRequest} images per request (chat.max_images_per_request); '${paramOf(i, j)}' is one too many.`);
      }
      checkImage(image, paramOf(i, j), limits);
    });
  });
  return count;
}

function defaultParam(message: number, image: number): string {
  return `messages[${message}].images[${image}]`;
}

/** Glob (`*`, `?`) match of a model name, with or without its `:latest` tag. */
function matchesGlob(name: string, glob: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(name) || re.test(name.replace(/:latest$/, ''));
}

/**
 * Whether a model takes images: the node says `vision` among its capabilities (Ollama
 * `/api/show`, a Flexi or sim `/v1/models`), or its families include a vision encoder (`clip`,
 * `mllama`: Ollama's `/api/tags` lists no capabilities), or the operator lists it in
 * `chat.vision_models` (OpenAI-compatible servers such as vLLM do not say).
 */
export function takesImages(name: string, info: ModelInfo, visionModels: readonly string[] = []): boolean {
  if (info.capabilities?.includes('vision')) return true;
  if (info.families?.some((family) => family === 'clip' || family === 'mllama')) return true;
  return visionModels.some((glob) => matchesGlob(name, glob));
}

/** The 400 for images sent to a model that does not take them; names the model. */
export function modelWithoutVision(model: string, param: string): FlexiError {
  return new FlexiError('model_without_vision', `The model '${model}' does not take images (it has no vision capability). Send text only, or pick a vision model (GET /v1/models lists their capabilities).`, { param });
}
