import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EnergyLiveJson, EnergyReportJson, GpuJson, OwnEnergyJson } from '../api/energy.js';
import { FlexiError } from '../core/errors.js';
import type { EnergyServices } from '../services/build-services.js';
import { ENERGY_DIMENSIONS, energyReportToCsv, energyReportToJson, type EnergyDimension } from '../services/energy/energy-report.service.js';
import type { GpuReading } from '../telemetry/gpu-sample.js';

const DAY_MS = 86_400_000;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/;

export interface EnergyRouteDeps {
  energy: EnergyServices;
  now?: () => number;
}

function query(request: FastifyRequest): Record<string, string | undefined> {
  const raw = request.query as Record<string, unknown>;
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? v : undefined]));
}

function time(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (!ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) throw new FlexiError('invalid_request', `${name} must be a date (YYYY-MM-DD) or an ISO time.`, { param: name });
  return new Date(value).toISOString();
}

function requireAdmin(request: FastifyRequest): void {
  if (!request.principal?.policy.admin) throw new FlexiError('permission_denied', 'The admin API needs an admin role.');
}

const orNull = (value: number | undefined) => value ?? null;

function gpuToJson(g: GpuReading): GpuJson {
  return {
    index: g.index, name: g.name, power_watts: orNull(g.powerWatts), power_limit_watts: orNull(g.powerLimitWatts), utilization_ratio: orNull(g.utilizationRatio),
    memory_used_bytes: orNull(g.memoryUsedBytes), memory_total_bytes: orNull(g.memoryTotalBytes), temperature_celsius: orNull(g.temperatureCelsius),
  };
}

/**
 * Energy: `GET /admin/v1/energy/report` (what `flexi energy report` prints), `GET /admin/v1/energy/live` (each node's
 * GPUs now and in the last minutes), `GET /ui/v1/me/energy` (the signed-in user's own energy and CO2).
 */
export function registerEnergyRoutes(app: FastifyInstance, deps: EnergyRouteDeps): void {
  const now = deps.now ?? Date.now;

  app.get('/admin/v1/energy/report', async (request, reply): Promise<EnergyReportJson | string> => {
    requireAdmin(request);
    const q = query(request);
    const by = (q.by ?? 'node') as EnergyDimension;
    if (!ENERGY_DIMENSIONS.includes(by)) throw new FlexiError('invalid_request', `by must be one of ${ENERGY_DIMENSIONS.join(', ')}.`, { param: 'by' });
    if (q.compare !== undefined && q.compare !== 'paper') throw new FlexiError('invalid_request', 'compare must be paper.', { param: 'compare' });
    if (q.format !== undefined && q.format !== 'json' && q.format !== 'csv') throw new FlexiError('invalid_request', 'format must be json or csv.', { param: 'format' });
    const since = time(q.since, 'since') ?? new Date(now() - 30 * DAY_MS).toISOString();
    const report = await deps.energy.report.report({ by, since, until: time(q.until, 'until'), compare: q.compare === 'paper' });
    if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').send(energyReportToCsv(report));
    return energyReportToJson(report);
  });

  app.get('/admin/v1/energy/live', async (request): Promise<EnergyLiveJson> => {
    requireAdmin(request);
    const scraper = deps.energy.scraper;
    const history = scraper?.recent() ?? {};
    return {
      nodes: (scraper?.snapshot() ?? []).map((view) => {
        const points = history[view.node] ?? [];
        return {
          node: view.node, state: view.state, error: view.error ?? null, at: view.atMs === undefined ? null : new Date(view.atMs).toISOString(),
          gpus: view.gpus.map(gpuToJson),
          history: {
            at_ms: points.map((p) => p.atMs), power_watts: points.map((p) => p.powerWatts),
            utilization_ratio: points.map((p) => p.utilizationRatio), memory_used_bytes: points.map((p) => p.memoryUsedBytes),
          },
        };
      }),
    };
  });

  app.get('/ui/v1/me/energy', async (request): Promise<OwnEnergyJson> => {
    const principal = request.principal;
    if (!principal?.subject) throw new FlexiError('permission_denied', 'Sign in to see your own energy use.');
    const since = time(query(request).since, 'since') ?? new Date(now() - 30 * DAY_MS).toISOString();
    const own = await deps.energy.report.own(principal.subject, since);
    return { since, energy_wh: Math.round(own.energyWh * 10_000) / 10_000, co2_g: Math.round(own.co2Grams * 1000) / 1000, requests: own.requests };
  });
}
