import type { FastifyInstance } from 'fastify';
import type { ReadinessService } from '../services/readiness.service.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';

export function registerSystemRoutes(app: FastifyInstance, deps: { metrics: GatewayMetrics; readiness: ReadinessService }): void {
  // Liveness: answers while the event loop runs, whatever the database, Redis or nodes do.
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const result = await deps.readiness.check();
    return reply.code(result.status === 'ready' ? 200 : 503).header('cache-control', 'no-store').send(result);
  });

  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()));
}
