import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { adminPullRequestSchema, type AdminModel, type AdminModelList, type AdminPullProgressLine } from '../api/admin-models.js';
import { parseBody } from '../api/validation.js';
import { FlexiError, toFlexiError } from '../core/errors.js';
import type { ModelDetails } from '../core/types.js';
import type { PullProgress } from '../services/models/model-file-download.js';
import type { ModelListEntry, ModelManagerService } from '../services/models/model-manager.service.js';
import type { Principal } from '../services/identity/access-control.service.js';
import type { AdminCatalogReply } from '../api/admin-catalog.js';
import type { CatalogFileService } from '../services/models/catalog-file.service.js';

export interface AdminModelRouteDeps {
  manager: ModelManagerService;
  /** Who may use these routes; default: the principal's role is `admin`. */
  isAdmin?: (request: FastifyRequest) => boolean | Promise<boolean>;
  /**
   * Authenticates a request the server's auth hook left without a principal (the hook covers
   * /v1 and /api); without it such a request is refused with 401.
   */
  authenticate?: (request: FastifyRequest) => Promise<Principal>;
  /** After a pull or delete (e.g. refresh the model registry so /v1/models sees it at once). */
  onModelsChanged?: () => unknown;
  /** How long listing one node may take. */
  listTimeoutMs?: number;
  /** The stored model catalog (`GET /admin/v1/catalog`); the route is absent without it. */
  catalog?: CatalogFileService;
}

function defaultIsAdmin(request: FastifyRequest): boolean {
  const principal = request.principal as (Principal & { roles?: readonly string[] }) | undefined;
  return principal?.role === 'admin' || principal?.roles?.includes('admin') === true;
}

function toAdminModel(model: ModelDetails & { node: string; loaded?: boolean }): AdminModel {
  return {
    name: model.name,
    node: model.node,
    loaded: model.loaded ?? false,
    size_bytes: model.sizeBytes ?? null,
    parameter_size: model.parameterSize ?? null,
    quantization: model.quantization ?? null,
    context_length: model.contextLength ?? null,
    family: model.family ?? null,
    format: model.format ?? null,
    capabilities: model.capabilities ?? [],
    modified_at: model.modifiedAt?.toISOString() ?? null,
  };
}

/** Progress lines at status changes and every 1% (or MiB when the size is unknown), not per chunk. */
function progressThrottle(write: (line: AdminPullProgressLine) => void): (progress: PullProgress) => void {
  let lastStatus = '';
  let lastCompleted = -Infinity;
  return (progress) => {
    const step = progress.totalBytes ? progress.totalBytes / 100 : 1 << 20;
    if (progress.status === lastStatus && progress.completedBytes - lastCompleted < step && progress.completedBytes !== progress.totalBytes) return;
    lastStatus = progress.status;
    lastCompleted = progress.completedBytes;
    write({ status: progress.status, completed: progress.completedBytes, ...(progress.totalBytes !== undefined ? { total: progress.totalBytes } : {}) });
  };
}

/**
 * The admin API for models on every node: list, show, pull (NDJSON progress), delete. Registered
 * next to the client APIs; every route needs an admin.
 */
export function registerAdminModelRoutes(app: FastifyInstance, deps: AdminModelRouteDeps): void {
  const { manager } = deps;
  const isAdmin = deps.isAdmin ?? defaultIsAdmin;

  const guard = async (request: FastifyRequest): Promise<void> => {
    if (!request.principal && deps.authenticate) request.principal = await deps.authenticate(request);
    if (!request.principal) throw new FlexiError('unauthorized');
    if (!(await isAdmin(request))) throw new FlexiError('permission_denied', 'Only administrators may manage models.');
  };
  const modelName = (request: FastifyRequest): string => {
    const name = (request.params as Record<string, string | undefined>)['*'] ?? '';
    if (name === '') throw new FlexiError('invalid_request', 'The URL must name a model: /admin/v1/models/<name>.', { param: 'name' });
    return name;
  };

  app.get('/admin/v1/models', { onRequest: guard }, async (): Promise<AdminModelList> => {
    const result = await manager.list(AbortSignal.timeout(deps.listTimeoutMs ?? 10_000));
    return { models: result.models.map((model: ModelListEntry) => toAdminModel(model)), errors: result.errors };
  });

  app.get('/admin/v1/models/*', { onRequest: guard }, async (request) => {
    const details = await manager.show(modelName(request), AbortSignal.timeout(deps.listTimeoutMs ?? 10_000));
    return {
      ...toAdminModel(details),
      template: details.template ?? null,
      license: details.license ?? null,
      parameters: details.parameters ?? null,
      model_info: details.modelInfo ?? {},
    };
  });

  app.delete('/admin/v1/models/*', { onRequest: guard }, async (request) => {
    const removed = await manager.remove(modelName(request));
    await deps.onModelsChanged?.();
    return { name: removed.name, path: removed.path, deleted: true };
  });

  app.post('/admin/v1/models/pull', { onRequest: guard }, (request, reply) => pull(request, reply, deps));

  const catalog = deps.catalog;
  if (catalog) app.get('/admin/v1/catalog', { onRequest: guard }, async (): Promise<AdminCatalogReply> => catalog.read());
}

/** The folder a pull writes to: the named embedded node's, or the first. */
function pullFolder(manager: ModelManagerService, node: string | undefined): string | undefined {
  if (node === undefined) return undefined;
  const backend = manager.backends.find((candidate) => candidate.name === node);
  if (!backend) throw new FlexiError('not_found', `No node named ${node}; GET /admin/v1/models lists the nodes.`, { param: 'node' });
  const dir = (backend as { modelsDir?: unknown }).modelsDir;
  if (backend.type !== 'embedded' || typeof dir !== 'string') {
    throw new FlexiError('unsupported_parameter', `Node ${node} is of type ${backend.type}; the admin API pulls GGUF files into embedded nodes. Pull on an Ollama node with \`flexi models pull --node ${node}\`.`, { param: 'node' });
  }
  return dir;
}

/**
 * Errors before the first progress line (bad source, file exists, download refused) get a real
 * status; after it, one `{"status":"error","error":…}` line ends the stream. A client that goes
 * away cancels the download; the partial file stays for a resumed pull.
 */
async function pull(request: FastifyRequest, reply: FastifyReply, deps: AdminModelRouteDeps): Promise<unknown> {
  const body = parseBody(adminPullRequestSchema, request.body);
  const modelsDir = pullFolder(deps.manager, body.node);
  const streaming = body.stream ?? true;
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  let res: ServerResponse | undefined;
  const write = (line: AdminPullProgressLine): void => {
    if (!res) {
      reply.hijack();
      res = reply.raw;
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache', 'x-request-id': request.id });
    }
    if (!res.destroyed) res.write(`${JSON.stringify(line)}\n`);
  };
  try {
    const result = await deps.manager.pull(body.source, {
      sha256: body.sha256, fileName: body.file_name, modelsDir, signal: controller.signal,
      onProgress: streaming ? progressThrottle(write) : undefined,
    });
    await deps.onModelsChanged?.();
    const final: AdminPullProgressLine = {
      status: 'success', completed: result.sizeBytes, total: result.sizeBytes,
      name: result.name, path: result.path, size_bytes: result.sizeBytes, sha256: result.sha256,
    };
    if (!streaming) return reply.send(final);
    write(final);
    res?.end();
    return reply;
  } catch (error) {
    if (!res) throw error;
    const failure = toFlexiError(error);
    if (!res.destroyed) res.end(`${JSON.stringify({ status: 'error', error: failure.message, code: failure.code })}\n`);
    return reply;
  }
}
