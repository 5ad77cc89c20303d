import type { FastifyInstance } from 'fastify';
import type { GatewayMetrics } from '../telemetry/metrics.js';

/** Whether the process can serve: database reachable, nodes known. */
export type ReadinessCheck = () => Promise<{ ready: boolean; checks: Record<string, unknown> }>;

export function registerSystemRoutes(app: FastifyInstance, deps: { metrics: GatewayMetrics; readiness: ReadinessCheck }): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const result = await deps.readiness();
    return reply.code(result.ready ? 200 : 503).send({ status: result.ready ? 'ready' : 'not_ready', ...result.checks });
  });

  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()));
}
