// Images attached in the composer: checked, read as data: URLs (the page's CSP allows data:
// images, not blob:), and downscaled on a canvas to what vision models look at.
import { t } from './i18n';

/** Longest side sent: LLaVA 1.6 tiles up to 672 px, Qwen2-VL and Gemma 3 look at about 900; more only costs bytes. */
export const MAX_IMAGE_SIDE = 1024;
/** Most images per message (the server's default `chat.max_images_per_request` is 8 per request). */
export const MAX_IMAGES = 4;
/** Largest file accepted before downscaling. */
export const MAX_FILE_BYTES = 20 * 1024 * 1024;
/** Largest image sent (the server's default `chat.max_image_bytes` is 4 MiB). */
export const MAX_SENT_BYTES = 3 * 1024 * 1024;

const TYPES = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/gif']);

function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error ?? new Error('read failed'));
    reader.readAsDataURL(file);
  });
}

function loadImage(url: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(t('imageUnreadable')));
    image.src = url;
  });
}

/** Bytes a base64 data: URL stands for. */
function dataUrlBytes(url: string): number {
  return Math.floor(((url.length - url.indexOf(',') - 1) * 3) / 4);
}

/** A data: URL of the image, downscaled to MAX_IMAGE_SIDE when larger; throws a message to show. */
export async function prepareImage(file: File): Promise<string> {
  if (!TYPES.has(file.type)) throw new Error(t('imageType', { name: file.name }));
  if (file.size > MAX_FILE_BYTES) throw new Error(t('imageTooLarge', { name: file.name, mb: MAX_FILE_BYTES / 1024 / 1024 }));
  const original = await readAsDataUrl(file);
  const image = await loadImage(original);
  const scale = Math.min(1, MAX_IMAGE_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
  if (scale === 1 && dataUrlBytes(original) <= MAX_SENT_BYTES) return original;
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
  canvas.getContext('2d')!.drawImage(image, 0, 0, canvas.width, canvas.height);
  // PNG keeps transparency and sharp text (screenshots); photos become JPEG.
  const png = canvas.toDataURL('image/png');
  const out = file.type === 'image/png' && dataUrlBytes(png) <= MAX_SENT_BYTES ? png : canvas.toDataURL('image/jpeg', 0.88);
  if (dataUrlBytes(out) > MAX_SENT_BYTES) throw new Error(t('imageTooLarge', { name: file.name, mb: MAX_SENT_BYTES / 1024 / 1024 }));
  return out;
}
