import type { EnergyConfig } from '../../config/schema.js';
import { checkFromMetrics, type CheckMetric, type CheckState, type LocalCheck } from '../../telemetry/checkmk.js';
import type { NodeGpuView } from '../../telemetry/telemetry-scraper.js';

/** What the gateway said about itself (`/readyz` and the breaker states in `/metrics`), if it answered. */
export interface GatewayState {
  reachable: boolean;
  ready: boolean;
  detail: string;
  /** Breaker state per node (`closed`, `open`, `half_open`), from `flexi_node_up`. */
  breakers: Map<string, { breaker: string; healthy: boolean; draining: boolean }>;
}

export interface ModelOutcomes {
  model: string;
  requests: number;
  errors: number;
  queueMs: number[];
}

export interface CheckInputs {
  nodes: readonly string[];
  gpus: readonly NodeGpuView[];
  models: readonly ModelOutcomes[];
  gateway: GatewayState;
  /** Energy measured today (UTC) over all nodes, Wh, and its cost. */
  today: { energyWh: number; cost: number; currency: string; co2Grams: number };
  thresholds: EnergyConfig['checkmk'];
}

const GIB = 1024 ** 3;

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** One service for the gateway, one per node, one per GPU and one per model queue. */
export function buildLocalChecks(inputs: CheckInputs): LocalCheck[] {
  return [gatewayCheck(inputs), ...inputs.nodes.flatMap((node) => nodeChecks(node, inputs)), ...inputs.models.map((m) => queueCheck(m, inputs))];
}

function gatewayCheck({ gateway, today }: CheckInputs): LocalCheck {
  const state: CheckState = !gateway.reachable ? 2 : gateway.ready ? 0 : 1;
  const metrics: CheckMetric[] = [
    { name: 'flexi_energy_today_wh', value: today.energyWh, min: 0 },
    { name: 'flexi_energy_cost_today', value: today.cost, min: 0 },
    { name: 'flexi_co2_today_grams', value: today.co2Grams, min: 0 },
  ];
  const energy = `${(today.energyWh / 1000).toFixed(3)} kWh today, ${today.cost.toFixed(2)} ${today.currency}, ${today.co2Grams.toFixed(0)} g CO2`;
  return checkFromMetrics('Flexi gateway', metrics, `${gateway.detail}; ${energy}`, state);
}

function nodeChecks(node: string, inputs: CheckInputs): LocalCheck[] {
  const view = inputs.gpus.find((g) => g.node === node);
  const breaker = inputs.gateway.breakers.get(node);
  const parts: string[] = [];
  let state: CheckState = 0;
  if (breaker) {
    parts.push(`breaker ${breaker.breaker}${breaker.draining ? ', draining' : ''}${breaker.healthy ? '' : ', unhealthy'}`);
    if (breaker.breaker === 'open' || !breaker.healthy) state = 2;
    else if (breaker.breaker !== 'closed' || breaker.draining) state = 1;
  } else if (inputs.gateway.reachable) {
    parts.push('not known to the gateway');
    state = 1;
  }
  const metrics: CheckMetric[] = [];
  if (view && view.state !== 'unknown') {
    if (view.state === 'ok') {
      const watts = view.gpus.reduce((sum, g) => sum + (g.powerWatts ?? 0), 0);
      metrics.push({ name: 'flexi_node_power_watts', value: watts, min: 0 });
      parts.push(`${view.gpus.length} GPU${view.gpus.length === 1 ? '' : 's'}, ${watts.toFixed(0)} W`);
    } else {
      parts.push(`telemetry ${view.state}: ${view.error ?? 'no detail'}`);
      state = Math.max(state, view.state === 'unreachable' ? 2 : 1) as CheckState;
    }
  } else {
    parts.push('no telemetry configured');
  }
  const checks = [checkFromMetrics(`Flexi node ${node}`, metrics, parts.join('; '), state)];
  if (view?.state === 'ok') for (const gpu of view.gpus) checks.push(gpuCheck(node, gpu, inputs.thresholds));
  return checks;
}

function gpuCheck(node: string, gpu: NodeGpuView['gpus'][number], thresholds: EnergyConfig['checkmk']): LocalCheck {
  const metrics: CheckMetric[] = [];
  const parts: string[] = [gpu.name];
  if (gpu.powerWatts !== undefined) {
    const limit = gpu.powerLimitWatts;
    metrics.push({
      name: 'flexi_gpu_power_watts', value: gpu.powerWatts, min: 0, max: limit,
      thresholds: limit ? { warn: thresholds.gpu_power_ratio.warn * limit, crit: thresholds.gpu_power_ratio.crit * limit } : undefined,
    });
    parts.push(`${gpu.powerWatts.toFixed(0)} W${limit ? ` of ${limit.toFixed(0)} W` : ''}`);
  }
  if (gpu.temperatureCelsius !== undefined) {
    metrics.push({ name: 'flexi_gpu_temperature_celsius', value: gpu.temperatureCelsius, thresholds: thresholds.gpu_temperature_celsius });
    parts.push(`${gpu.temperatureCelsius} °C`);
  }
  if (gpu.memoryUsedBytes !== undefined && gpu.memoryTotalBytes) {
    const ratio = gpu.memoryUsedBytes / gpu.memoryTotalBytes;
    metrics.push({ name: 'flexi_gpu_memory_used_ratio', value: ratio, thresholds: thresholds.gpu_memory_ratio, min: 0, max: 1 });
    parts.push(`memory ${(gpu.memoryUsedBytes / GIB).toFixed(1)} of ${(gpu.memoryTotalBytes / GIB).toFixed(1)} GiB`);
  }
  if (gpu.utilizationRatio !== undefined) {
    metrics.push({ name: 'flexi_gpu_utilization_ratio', value: gpu.utilizationRatio, min: 0, max: 1 });
    parts.push(`${(gpu.utilizationRatio * 100).toFixed(0)} % busy`);
  }
  return checkFromMetrics(`Flexi GPU ${node}/${gpu.index}`, metrics, parts.join(', '));
}

function queueCheck(model: ModelOutcomes, inputs: CheckInputs): LocalCheck {
  const { thresholds } = inputs;
  const p95 = percentile(model.queueMs, 0.95) / 1000;
  const errorRatio = model.requests === 0 ? 0 : model.errors / model.requests;
  const minutes = Math.round(thresholds.window_ms / 60_000);
  return checkFromMetrics(`Flexi queue ${model.model}`, [
    { name: 'flexi_queue_wait_p95_seconds', value: p95, thresholds: thresholds.queue_wait_p95_s, min: 0 },
    { name: 'flexi_error_ratio', value: errorRatio, thresholds: thresholds.error_ratio, min: 0, max: 1 },
    { name: 'flexi_requests', value: model.requests, min: 0 },
  ], `${model.requests} requests in ${minutes} min, queue wait p95 ${p95.toFixed(1)} s, ${(errorRatio * 100).toFixed(1)} % failed`);
}
