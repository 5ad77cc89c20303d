import type { ChatCompletionRequest } from '../../api/openai.js';
import { FlexiError, invalidRequest } from '../../core/errors.js';
import { IMAGE_MIME_TYPES, sniffImageFormat } from '../../core/images.js';
import { GuardedDownloader, type PullPolicy } from '../models/model-download.js';

export interface ImageUrlFetcherOptions {
  /** Config `chat.fetch_image_urls`. */
  enabled: boolean;
  /** Where fetches may go: any host, public addresses only unless `models.pull.allow_networks` opens a network. */
  policy: PullPolicy;
  /** Config `chat.max_image_bytes`: a larger body is cut off and refused. */
  maxImageBytes: number;
  /** Longest a fetch may take, connection and body. */
  timeoutMs: number;
}

const IMAGE_URL = /^https?:\/\//i;

/**
 * Fetches the `http(s)` image URLs of an OpenAI chat request on the client's behalf, when the
 * operator allows it, and puts them into the request as `data:` URLs. Off by default: a gateway
 * that fetches what any client names is a server-side request forgery tool, so the same rules
 * as model pulls apply (every hop checked, public addresses only, the connected address pinned).
 * Failures are 400s naming the content part; nothing about the target's network leaks.
 */
export class ImageUrlFetcher {
  constructor(private readonly options: ImageUrlFetcherOptions) {}

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** How many image parts of `body` name an http(s) URL. */
  countRemote(body: ChatCompletionRequest): number {
    let count = 0;
    for (const message of body.messages) {
      if (message.role !== 'user' || typeof message.content === 'string') continue;
      for (const part of message.content) if (part.type === 'image_url' && IMAGE_URL.test(part.image_url.url)) count++;
    }
    return count;
  }

  /** Replaces every http(s) image URL of `body` by a data: URL (no-op when fetching is off). */
  async inline(body: ChatCompletionRequest, signal: AbortSignal): Promise<void> {
    if (!this.options.enabled) return;
    const jobs: Promise<void>[] = [];
    body.messages.forEach((message, i) => {
      if (message.role !== 'user' || typeof message.content === 'string') return;
      message.content.forEach((part, j) => {
        if (part.type !== 'image_url' || !IMAGE_URL.test(part.image_url.url)) return;
        const param = `messages[${i}].content[${j}].image_url.url`;
        jobs.push(this.fetchDataUrl(part.image_url.url, param, signal).then((url) => {
          part.image_url.url = url;
        }));
      });
    });
    await Promise.all(jobs);
  }

  private async fetchDataUrl(raw: string, param: string, signal: AbortSignal): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalidRequest(param, `'${param}' is not a valid URL.`);
    }
    const downloader = new GuardedDownloader(this.options.policy);
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]);
    try {
      const { response } = await downloader.get(url, { headers: { accept: 'image/*' }, signal: timeout }).catch((error: unknown) => {
        if (signal.aborted) throw error;
        const reason = error instanceof FlexiError && error.code === 'pull_source_not_allowed'
          ? 'its address is not public (chat.fetch_image_urls fetches public addresses only)'
          : 'the connection failed or timed out';
        throw invalidRequest(param, `'${param}' could not be fetched: ${reason}.`);
      });
      if (response.status < 200 || response.status > 299) {
        await response.body?.cancel();
        throw invalidRequest(param, `'${param}' could not be fetched: the server answered HTTP ${response.status}.`);
      }
      const bytes = await this.readLimited(response.body, param);
      const format = sniffImageFormat(bytes);
      if (format === undefined) throw invalidRequest(param, `'${param}' is not a PNG, JPEG, WebP or GIF image (recognised by its first bytes).`);
      return `data:${IMAGE_MIME_TYPES[format]};base64,${Buffer.from(bytes).toString('base64')}`;
    } finally {
      await downloader.close();
    }
  }

  private async readLimited(body: AsyncIterable<Uint8Array> | null, param: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (body === null) return new Uint8Array();
    for await (const chunk of body) {
      total += chunk.byteLength;
      if (total > this.options.maxImageBytes) {
        throw invalidRequest(param, `'${param}' is larger than ${this.options.maxImageBytes} bytes (chat.max_image_bytes).`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
}
