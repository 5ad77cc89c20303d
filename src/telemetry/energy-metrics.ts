import { Counter, Gauge, type Registry } from 'prom-client';
import type { GpuReading } from './gpu-sample.js';
import type { NodeGpuView } from './telemetry-scraper.js';

/** What the GPU and energy series are read from at scrape time. */
export interface EnergyView {
  gpus(): readonly NodeGpuView[];
  /** Joules attributed per model since start, idle as `(idle)`. */
  energyByModel(): ReadonlyMap<string, number>;
}

/** Registers `flexi_gpu_*{node,gpu}` and `flexi_energy_joules_total{model}` on the gateway's registry (read when scraped). */
export function registerEnergyMetrics(registry: Registry, view: EnergyView): void {
  const registers = [registry];
  const gpuGauge = (name: string, help: string, pick: (g: GpuReading) => number | undefined) => new Gauge({
    name, help, labelNames: ['node', 'gpu'], registers,
    collect() {
      this.reset();
      for (const node of view.gpus()) {
        if (node.state !== 'ok') continue;
        for (const gpu of node.gpus) {
          const value = pick(gpu);
          if (value !== undefined) this.set({ node: node.node, gpu: String(gpu.index) }, value);
        }
      }
    },
  });
  gpuGauge('flexi_gpu_power_watts', 'GPU board power draw.', (g) => g.powerWatts);
  gpuGauge('flexi_gpu_utilization_ratio', 'Share of the last sample period in which a kernel ran on the GPU (0-1).', (g) => g.utilizationRatio);
  gpuGauge('flexi_gpu_memory_used_bytes', 'GPU framebuffer memory in use.', (g) => g.memoryUsedBytes);
  gpuGauge('flexi_gpu_temperature_celsius', 'GPU core temperature.', (g) => g.temperatureCelsius);
  new Counter({
    name: 'flexi_gpu_energy_joules_total', help: 'GPU energy counter as the node reports it (driver counter, or power integrated by the agent).', labelNames: ['node', 'gpu'], registers,
    collect() {
      this.reset();
      for (const node of view.gpus()) {
        for (const gpu of node.gpus) if (gpu.energyJoules !== undefined) this.inc({ node: node.node, gpu: String(gpu.index) }, gpu.energyJoules);
      }
    },
  });
  new Gauge({
    name: 'flexi_telemetry_up', help: 'Node telemetry state: 1 when the last read of its GPUs succeeded.', labelNames: ['node'], registers,
    collect() {
      this.reset();
      for (const node of view.gpus()) this.set({ node: node.node }, node.state === 'ok' ? 1 : 0);
    },
  });
  new Counter({
    name: 'flexi_energy_joules_total', help: 'Measured GPU energy attributed to requests, by model; energy while nothing ran is model "(idle)".', labelNames: ['model'], registers,
    collect() {
      this.reset();
      for (const [model, joules] of view.energyByModel()) this.inc({ model }, joules);
    },
  });
}
