import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { FlexiError } from '../core/errors.js';
import { AddressList } from '../lib/address-list.js';
import type { ReadinessService } from '../services/inference/readiness.service.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { publicRoute } from './route-access.js';

/** `metrics.*` of the config: who may read /metrics (neither set: anyone). */
export interface MetricsAccess {
  bearerToken?: string;
  allowFrom: readonly string[];
}

/**
 * /metrics needs no user credentials (Prometheus has none) but its own: the client address must be
 * in `allow_from` and the request must carry the bearer token, each when configured.
 */
function metricsGuard(access: MetricsAccess): onRequestHookHandler {
  const allowed = access.allowFrom.length > 0 ? new AddressList(access.allowFrom) : undefined;
  // Compared as SHA-256 digests: equal lengths for timingSafeEqual, whatever the client sends.
  const tokenDigest = access.bearerToken === undefined ? undefined : hash('sha256', access.bearerToken, 'buffer');
  return (request, _reply, done) => {
    if (allowed && !allowed.has(request.ip)) {
      done(new FlexiError('permission_denied', 'This address may not read /metrics (metrics.allow_from).'));
      return;
    }
    if (tokenDigest) {
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
      if (presented === undefined || !timingSafeEqual(hash('sha256', presented, 'buffer'), tokenDigest)) {
        done(new FlexiError('unauthorized', 'GET /metrics needs the metrics bearer token (metrics.bearer_token).'));
        return;
      }
    }
    done();
  };
}

export function registerSystemRoutes(app: FastifyInstance, deps: { metrics: GatewayMetrics; readiness: ReadinessService; metricsAccess: MetricsAccess }): void {
  // Liveness: answers while the event loop runs, whatever the database, Redis or nodes do.
  app.get('/healthz', publicRoute(), async () => ({ status: 'ok' }));

  app.get('/readyz', publicRoute(), async (_request, reply) => {
    const result = await deps.readiness.check();
    return reply.code(result.status === 'ready' ? 200 : 503).header('cache-control', 'no-store').send(result);
  });

  app.get('/metrics', { ...publicRoute(), onRequest: metricsGuard(deps.metricsAccess) },
    async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()));
}
