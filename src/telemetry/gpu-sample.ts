/** One GPU at one instant, in base units (W, J, ratio 0–1, bytes, °C, MHz). */
export interface GpuReading {
  index: number;
  uuid: string;
  name: string;
  powerWatts?: number;
  powerLimitWatts?: number;
  /** The driver's energy counter (monotonic since driver load), where the GPU and driver have one. */
  energyJoules?: number;
  utilizationRatio?: number;
  memoryUsedBytes?: number;
  memoryTotalBytes?: number;
  temperatureCelsius?: number;
  smClockMhz?: number;
  memoryClockMhz?: number;
}

/** Every GPU of a host read at one time (`atMs`, epoch ms of the agent's clock). */
export interface GpuSample {
  atMs: number;
  gpus: GpuReading[];
}

/** What an agent serves at `/v1/samples`: its samples and why there are none, if so. */
export interface AgentSamples {
  /** `ok`, or `unavailable` with `error` (nvidia-smi missing or failing). */
  state: 'ok' | 'unavailable';
  error?: string;
  /** Whether the driver reports an energy counter (else energy is power integrated over time). */
  energyCounter: boolean;
  samples: GpuSample[];
}

const MIB = 1_048_576;

/** The `--query-gpu` fields the agent asks for, in this order; the energy field is appended when the driver knows it. */
export const NVIDIA_SMI_FIELDS = [
  'index', 'uuid', 'name', 'power.draw', 'power.limit', 'utilization.gpu', 'memory.used', 'memory.total',
  'temperature.gpu', 'clocks.current.sm', 'clocks.current.memory',
] as const;

/**
 * Energy counter as a query field. NVIDIA's `--help-query-gpu` of older drivers has none (the counter is NVML's
 * `nvmlDeviceGetTotalEnergyConsumption`, mJ); the agent asks for it and drops it when the driver refuses the field.
 */
export const NVIDIA_SMI_ENERGY_FIELD = 'energy.consumed';

/** `[N/A]`, `[Not Supported]`, `N/A`, empty → undefined; otherwise the number (unit already stripped by `nounits`). */
function numberOf(cell: string | undefined): number | undefined {
  if (cell === undefined) return undefined;
  const text = cell.trim();
  if (text === '' || text.startsWith('[') || /^n\/a$/i.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Parses `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`: one line per GPU, cells separated by
 * `, `. Names contain no commas on any product NVIDIA ships; a line with the wrong cell count is skipped.
 */
export function parseNvidiaSmiCsv(text: string, withEnergy: boolean): GpuReading[] {
  const expected = NVIDIA_SMI_FIELDS.length + (withEnergy ? 1 : 0);
  const readings: GpuReading[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== expected) continue;
    const index = numberOf(cells[0]);
    if (index === undefined) continue;
    const utilization = numberOf(cells[5]);
    const memoryUsed = numberOf(cells[6]);
    const memoryTotal = numberOf(cells[7]);
    const energyMj = withEnergy ? numberOf(cells[11]) : undefined;
    readings.push(definedOnly({
      index,
      uuid: cells[1] ?? '',
      name: cells[2] ?? '',
      powerWatts: numberOf(cells[3]),
      powerLimitWatts: numberOf(cells[4]),
      utilizationRatio: utilization === undefined ? undefined : utilization / 100,
      memoryUsedBytes: memoryUsed === undefined ? undefined : memoryUsed * MIB,
      memoryTotalBytes: memoryTotal === undefined ? undefined : memoryTotal * MIB,
      temperatureCelsius: numberOf(cells[8]),
      smClockMhz: numberOf(cells[9]),
      memoryClockMhz: numberOf(cells[10]),
      energyJoules: energyMj === undefined ? undefined : energyMj / 1000,
    }));
  }
  return readings;
}

/** DCGM's "blank" sentinels sit near the int64 maximum; anything this large is no reading. */
const DCGM_BLANK = 9e18;

const DCGM_FIELDS: Record<string, (r: GpuReading, v: number) => void> = {
  DCGM_FI_DEV_POWER_USAGE: (r, v) => { r.powerWatts = v; },
  DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION: (r, v) => { r.energyJoules = v / 1000; },
  DCGM_FI_DEV_GPU_UTIL: (r, v) => { r.utilizationRatio = v / 100; },
  DCGM_FI_DEV_FB_USED: (r, v) => { r.memoryUsedBytes = v * MIB; },
  DCGM_FI_DEV_FB_FREE: (r, v) => { r.memoryTotalBytes = (r.memoryTotalBytes ?? 0) + v * MIB; },
  DCGM_FI_DEV_GPU_TEMP: (r, v) => { r.temperatureCelsius = v; },
  DCGM_FI_DEV_SM_CLOCK: (r, v) => { r.smClockMhz = v; },
  DCGM_FI_DEV_MEM_CLOCK: (r, v) => { r.memoryClockMhz = v; },
};

/** `name{a="x",b="y"} value [timestamp]` → its parts; undefined for comments and other lines. */
function parsePromLine(line: string): { name: string; labels: Record<string, string>; value: number } | undefined {
  const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
  if (!match) return undefined;
  const labels: Record<string, string> = {};
  for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, '$1');
  return { name: match[1]!, labels, value: Number(match[4]) };
}

/** Parses a DCGM exporter's `/metrics` into readings in base units (mJ → J, % → ratio, MiB → bytes). */
export function parseDcgmMetrics(text: string): GpuReading[] {
  const byGpu = new Map<string, GpuReading>();
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#')) continue;
    const parsed = parsePromLine(line);
    const apply = parsed && DCGM_FIELDS[parsed.name];
    if (!parsed || !apply || !Number.isFinite(parsed.value) || Math.abs(parsed.value) >= DCGM_BLANK) continue;
    const gpu = parsed.labels.gpu ?? '0';
    let reading = byGpu.get(gpu);
    if (!reading) byGpu.set(gpu, (reading = { index: Number(gpu) || 0, uuid: parsed.labels.UUID ?? '', name: parsed.labels.modelName ?? '' }));
    apply(reading, parsed.value);
  }
  for (const reading of byGpu.values()) {
    // FB_FREE was summed into the total; the total is used + free.
    if (reading.memoryTotalBytes !== undefined) reading.memoryTotalBytes += reading.memoryUsedBytes ?? 0;
  }
  return [...byGpu.values()].sort((a, b) => a.index - b.index);
}

function definedOnly<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
