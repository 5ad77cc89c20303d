import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Backend } from '../../backends/backend.js';
import { modelNameFromFile } from '../../backends/embedded/gguf-metadata.js';
import { FlexiError } from '../../core/errors.js';
import { ggufFileNameProblem } from '../../core/model-file.js';
import { toCanonicalModelName } from '../../core/model-name.js';
import type { ModelDetails, ModelInfo } from '../../core/types.js';
import { readNdjson } from '../../lib/lines.js';
import { checkPullUrl, type PullPolicy } from './model-download.js';
import { downloadModelFile, type ModelFileDownloadOptions, type ModelFileDownloadResult } from './model-file-download.js';

export interface ModelManagerOptions {
  /** Nodes whose models `list` and `show` report. */
  backends: readonly Backend[];
  /** Folders of GGUF files (embedded nodes); the first is where `pull` writes. */
  modelsDirs: readonly string[];
  /** Where pulls may download from (`models.pull`). */
  pullPolicy: PullPolicy;
  /** For `pullOllama` (a configured node, not a URL from a request). */
  fetch?: typeof fetch;
}

export interface ModelListEntry extends ModelInfo {
  node: string;
  loaded: boolean;
}

export interface ModelListResult {
  models: ModelListEntry[];
  /** Nodes that could not be asked, with the reason. */
  errors: { node: string; message: string }[];
}

export interface PullOptions extends ModelFileDownloadOptions {
  /** File name to store as (`name.gguf`); default: the URL's last path segment. */
  fileName?: string;
  /** Folder to write into (one of the manager's folders); default the first. */
  modelsDir?: string;
}

export interface PullResult extends ModelFileDownloadResult {
  name: string;
  path: string;
}

/**
 * `hf:owner/repo/path/file.gguf` → the Hugging Face download URL (main branch); http(s) URLs
 * pass through. Anything else is an invalid source.
 */
export function resolvePullSource(source: string): URL {
  if (source.startsWith('hf:')) {
    const parts = source.slice(3).split('/').filter(Boolean);
    if (parts.length < 3) throw new FlexiError('invalid_request', `source: "${source}" must look like hf:owner/repo/file.gguf.`, { param: 'source' });
    const [owner, repo, ...file] = parts;
    return new URL(`https://huggingface.co/${owner}/${repo}/resolve/main/${file.map(encodeURIComponent).join('/')}`);
  }
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new FlexiError('invalid_request', `source: "${source}" is neither an hf:owner/repo/file.gguf URI nor an http(s) URL.`, { param: 'source' });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new FlexiError('invalid_request', `source: only hf:, https: and http: sources are supported, got ${url.protocol}`, { param: 'source' });
  }
  return url;
}

/**
 * Lists, shows, removes and pulls models. The CLI (`flexi models`) and the admin API call this;
 * list/show go through the Backend interface so every node type can take part. A pull's file
 * I/O (resume, verification) is `model-file-download.ts`.
 */
export class ModelManagerService {
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ModelManagerOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** Over every node; the folders are those of the embedded nodes among them. */
  static fromBackends(backends: readonly Backend[], options: Pick<ModelManagerOptions, 'fetch' | 'pullPolicy'>): ModelManagerService {
    return new ModelManagerService({ ...options, backends, modelsDirs: backends.flatMap((backend) => modelsDirOf(backend) ?? []) });
  }

  get backends(): readonly Backend[] {
    return this.options.backends;
  }

  get modelsDirs(): readonly string[] {
    return this.options.modelsDirs;
  }

  async list(signal?: AbortSignal): Promise<ModelListResult> {
    const models: ModelListEntry[] = [];
    const errors: ModelListResult['errors'] = [];
    await Promise.all(this.options.backends.map(async (backend) => {
      try {
        const [available, loaded] = await Promise.all([backend.listModels(signal), backend.loadedModels(signal)]);
        const resident = new Set(loaded.map((model) => model.name));
        for (const model of available) models.push({ ...model, node: backend.name, loaded: resident.has(model.name) });
      } catch (error) {
        errors.push({ node: backend.name, message: (error as Error).message });
      }
    }));
    models.sort((a, b) => a.name.localeCompare(b.name) || a.node.localeCompare(b.node));
    return { models, errors };
  }

  /** Details from the first node that has the model; throws model_not_found. */
  async show(name: string, signal?: AbortSignal): Promise<ModelDetails & { node: string }> {
    // A node that is down must not hide the model on the next one.
    const unreachable: string[] = [];
    for (const backend of this.options.backends) {
      try {
        return { ...(await backend.showModel(name, signal)), node: backend.name };
      } catch (error) {
        if (!(error instanceof FlexiError && error.code === 'model_not_found')) unreachable.push(`${backend.name} (${(error as Error).message})`);
      }
    }
    const also = unreachable.length ? ` Nodes that did not answer: ${unreachable.join('; ')}.` : '';
    throw new FlexiError('model_not_found', `Model ${name} is on no configured node. \`flexi models list\` shows what is available.${also}`, { param: 'model' });
  }

  /** Deletes a model's GGUF file from the model folders. */
  async remove(name: string): Promise<{ name: string; path: string }> {
    const wanted = toCanonicalModelName(name);
    for (const dir of this.options.modelsDirs) {
      const names = await readdir(dir).catch(() => [] as string[]);
      const file = names.find((candidate) => candidate.toLowerCase().endsWith('.gguf') && modelNameFromFile(candidate) === wanted);
      if (file) {
        const path = resolve(dir, file);
        // Unload it from the nodes serving this folder first (an idle model goes at once).
        await Promise.all(this.options.backends
          .filter((backend) => modelsDirOf(backend) === resolve(dir))
          .map((backend) => backend.setResidency(wanted, 0).catch(() => undefined)));
        await rm(path);
        return { name: wanted, path };
      }
    }
    throw new FlexiError('model_not_found', `No file for ${name} in ${this.options.modelsDirs.join(', ')}.`, { param: 'model' });
  }

  /**
   * Downloads a GGUF file into a model folder (the first unless `modelsDir` says otherwise):
   * this decides the file and checks the request; `downloadModelFile` moves the bytes.
   */
  async pull(source: string, options: PullOptions = {}): Promise<PullResult> {
    const url = resolvePullSource(source);
    // Everything from the request is checked before any I/O: the name becomes a path.
    const fileName = options.fileName ?? fileNameOf(url);
    const problem = ggufFileNameProblem(fileName);
    if (problem) {
      const param = options.fileName === undefined ? 'source' : 'file_name';
      const hint = param === 'source' ? '; pass a file name for the download' : '';
      throw new FlexiError('invalid_request', `${param}: the file name ${JSON.stringify(fileName)} ${problem}${hint}.`, { param });
    }
    // A refused source answers before anything touches the disk (or a progress line is written).
    checkPullUrl(this.options.pullPolicy, url);
    const dir = options.modelsDir ?? this.options.modelsDirs[0];
    if (!dir) throw new FlexiError('invalid_request', 'No model folder is configured to pull into: add an embedded node (docs/embedded.md).');
    await mkdir(dir, { recursive: true });
    const target = resolve(dir, fileName);
    if (await exists(target)) {
      throw new FlexiError('conflict', `${target} already exists; remove it first with \`flexi models rm ${modelNameFromFile(target)}\`.`);
    }
    const file = await downloadModelFile(this.options.pullPolicy, url, target, source, options);
    return { name: modelNameFromFile(target), path: target, ...file };
  }

  /** Asks an Ollama node to pull a model (POST /api/pull), streaming its progress. */
  async pullOllama(baseUrl: string, model: string, options: Pick<PullOptions, 'onProgress' | 'signal'> = {}): Promise<void> {
    const response = await this.fetch(new URL('/api/pull', baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream: true }),
      signal: options.signal,
    }).catch((error: unknown) => {
      throw new FlexiError('backend_unavailable', `Cannot reach Ollama at ${baseUrl}: ${(error as Error).message}`, { cause: error });
    });
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => '');
      throw new FlexiError('backend_error', `Ollama at ${baseUrl} refused the pull: HTTP ${response.status} ${text.slice(0, 200)}`);
    }
    for await (const line of readNdjson(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>))) {
      const event = line as { status?: string; error?: string; total?: number; completed?: number };
      if (event.error) throw new FlexiError('backend_error', `Ollama at ${baseUrl}: ${event.error}`);
      options.onProgress?.({ status: event.status ?? '', completedBytes: event.completed ?? 0, totalBytes: event.total });
    }
  }
}

/** The model folder of an embedded node (absolute), undefined for other node types. */
function modelsDirOf(backend: Backend): string | undefined {
  if (backend.type !== 'embedded') return undefined;
  const dir = (backend as Backend & { modelsDir?: unknown }).modelsDir;
  return typeof dir === 'string' ? resolve(dir) : undefined;
}

/** The URL's last path segment, decoded; a malformed escape is a bad source, not a crash. */
function fileNameOf(url: URL): string {
  try {
    return decodeURIComponent(basename(url.pathname));
  } catch {
    throw new FlexiError('invalid_request', `source: the URL's file name ${basename(url.pathname)} is not valid percent-encoding; pass a file name for the download.`, { param: 'source' });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
