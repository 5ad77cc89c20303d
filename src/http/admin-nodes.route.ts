import type { FastifyInstance } from 'fastify';
import type { AdminNode, AdminNodeConcurrency, AdminSchedulerReply } from '../api/admin.js';
import { FlexiError } from '../core/errors.js';
import type { NodeAdminService } from '../services/inference/node-admin.service.js';
import type { Dispatcher } from '../services/inference/dispatcher.js';
import type { ModelRegistry } from '../services/inference/model-registry.service.js';

export interface AdminNodeRouteDeps {
  nodeAdmin?: NodeAdminService;
  dispatcher: Dispatcher;
  registry: ModelRegistry;
}

/** Live scheduler state and node drain: `GET /admin/v1/scheduler`, `/admin/v1/nodes`, drain/undrain. */
export function registerAdminNodeRoutes(app: FastifyInstance, deps: AdminNodeRouteDeps): void {
  app.addHook('preHandler', async (request) => {
    const route = request.routeOptions.url ?? '';
    if (!route.startsWith('/admin/v1/scheduler') && !route.startsWith('/admin/v1/nodes')) return;
    if (!request.principal?.policy.admin) throw new FlexiError('permission_denied', 'The admin API needs an admin role.');
  });

  const requireScheduler = (): NodeAdminService => {
    if (!deps.nodeAdmin) throw new FlexiError('not_found', 'The scheduler is disabled (scheduler.enabled: false).');
    return deps.nodeAdmin;
  };

  // The snapshot has more than the admin page reads; the annotation checks that it has all of that.
  app.get('/admin/v1/scheduler', async (): Promise<AdminSchedulerReply> => requireScheduler().snapshot());

  app.get('/admin/v1/nodes', async (): Promise<{ object: 'list'; data: AdminNode[] }> => {
    const snapshot = deps.nodeAdmin?.snapshot();
    const inFlight = deps.dispatcher.inFlight();
    return {
      object: 'list',
      data: deps.registry.backends.map((backend) => {
        const node = snapshot?.nodes.find((n) => n.name === backend.name);
        return {
          name: backend.name,
          type: backend.type,
          healthy: node?.healthy ?? null,
          draining: node?.draining ?? false,
          breaker: node?.breaker ?? null,
          in_flight: node?.inFlight ?? inFlight.get(backend.name) ?? 0,
          resident: node?.resident ?? [],
          preloading: node?.preloading ?? [],
          models: deps.registry.list().filter((m) => m.nodes.includes(backend)).map((m) => m.name),
          slots: node ? Object.fromEntries(Object.entries(node.models).map(([model, s]) => [model, s.slots])) : {},
          concurrency: node ? Object.fromEntries(Object.entries(node.models).map(([model, s]) => [model, toAdminConcurrency(s.concurrency)])) : {},
          listing_error: deps.registry.nodeError(backend.name) ?? null,
        };
      }),
    };
  });

  const nodeAction = (action: 'drain' | 'undrain') => async (request: { params: unknown }) => {
    const { name } = request.params as { name: string };
    const scheduler = requireScheduler();
    if (!deps.registry.backends.some((b) => b.name === name)) throw new FlexiError('not_found', `No node named '${name}'.`);
    if (action === 'drain') scheduler.drain(name);
    else scheduler.undrain(name);
    const node = scheduler.snapshot().nodes.find((n) => n.name === name);
    return { name, draining: node?.draining ?? action === 'drain', in_flight: node?.inFlight ?? 0 };
  };
  app.post('/admin/v1/nodes/:name/drain', nodeAction('drain'));
  app.post('/admin/v1/nodes/:name/undrain', nodeAction('undrain'));
}

/** Only the documented fields go on the wire, whatever else the scheduler keeps. */
function toAdminConcurrency(state: AdminNodeConcurrency): AdminNodeConcurrency {
  return { limit: state.limit, max: state.max, phase: state.phase, samples: state.samples };
}
