import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../lib/clock.js';
import type { AgentSamples, GpuReading, GpuSample } from './gpu-sample.js';
import type { GpuReader } from './nvidia-smi-reader.js';

export interface GpuAgentOptions {
  reader: GpuReader;
  /** Sampling interval (`--interval-ms`). */
  intervalMs: number;
  /** Samples kept for `/v1/samples` (`--keep`); at 1 s, 600 are ten minutes. */
  capacity: number;
  clock?: Clock;
  /** Told once per change of state: "nvidia-smi failed: …", "sampling 2 GPUs". */
  log?: (message: string) => void;
}

/**
 * `flexi agent`: samples the host's GPUs, keeps the last samples in a ring and serves them. No database, no
 * config. Where the driver has no energy counter the agent integrates power over its own samples, so
 * every sample carries an energy counter and a scraper that misses samples loses resolution, not energy.
 */
export class GpuAgent {
  private readonly clock: Clock;
  private readonly log: (message: string) => void;
  private samples: GpuSample[] = [];
  private state: AgentSamples['state'] = 'ok';
  private error: string | undefined;
  private energyCounter = false;
  private lastStateMessage: string | undefined;
  /** Power integrated per GPU uuid (J) and the previous reading's time and power, when the driver has no counter. */
  private readonly integrated = new Map<string, { joules: number; atMs: number; watts: number }>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private server: Server | undefined;

  constructor(private readonly options: GpuAgentOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => {});
  }

  /** Samples once now, then every interval (never two reads at once: a slow nvidia-smi skips a tick). */
  start(): void {
    void this.sampleOnce();
    this.timer = setInterval(() => {
      if (!this.sampling) void this.sampleOnce();
    }, Math.max(10, this.options.intervalMs));
  }

  /** Reads the GPUs once and appends a sample; never throws (a failure is the agent's state). */
  sampleOnce(): Promise<void> {
    this.sampling ??= this.readAndStore().finally(() => {
      this.sampling = undefined;
    });
    return this.sampling;
  }

  private async readAndStore(): Promise<void> {
    let result;
    try {
      result = await this.options.reader.read();
    } catch (error) {
      result = { ok: false as const, error: (error as Error).message };
    }
    if (!result.ok) {
      this.state = 'unavailable';
      this.error = result.error;
      this.say(`GPU sampling unavailable: ${result.error}`);
      return;
    }
    const atMs = this.clock.now();
    this.state = 'ok';
    this.error = undefined;
    this.energyCounter = result.energyCounter;
    const gpus = result.readings.map((r) => (r.energyJoules === undefined ? this.withIntegratedEnergy(r, atMs) : r));
    this.say(`sampling ${gpus.length} GPU${gpus.length === 1 ? '' : 's'} (${result.energyCounter ? 'driver energy counter' : 'power integrated over time'})`);
    this.samples.push({ atMs, gpus });
    // Trim in chunks: one splice per quarter of the capacity instead of a shift per sample.
    if (this.samples.length > this.options.capacity * 1.25) this.samples.splice(0, this.samples.length - this.options.capacity);
  }

  /** Trapezoid over the agent's own samples: ±5 W per reading averages out over many. */
  private withIntegratedEnergy(reading: GpuReading, atMs: number): GpuReading {
    const key = reading.uuid || String(reading.index);
    const watts = reading.powerWatts;
    const previous = this.integrated.get(key);
    if (watts === undefined) return previous ? { ...reading, energyJoules: previous.joules } : reading;
    const joules = previous ? previous.joules + ((previous.watts + watts) / 2) * Math.max(0, atMs - previous.atMs) / 1000 : 0;
    this.integrated.set(key, { joules, atMs, watts });
    return { ...reading, energyJoules: joules };
  }

  private say(message: string): void {
    if (message === this.lastStateMessage) return;
    this.lastStateMessage = message;
    this.log(message);
  }

  /** Samples taken after `sinceMs` (all kept ones without it). */
  read(sinceMs?: number): AgentSamples {
    const samples = sinceMs === undefined ? [...this.samples] : this.samples.filter((s) => s.atMs > sinceMs);
    const trimmed = this.samples.length > this.options.capacity ? samples.slice(-this.options.capacity) : samples;
    return { state: this.state, ...(this.error ? { error: this.error } : {}), energyCounter: this.energyCounter, samples: trimmed };
  }

  /** The latest sample as Prometheus text (the same names the gateway exports, without the node label). */
  metricsText(): string {
    const latest = this.samples.at(-1);
    const lines: string[] = [];
    const series = (name: string, help: string, type: string, pick: (g: GpuReading) => number | undefined) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const gpu of latest?.gpus ?? []) {
        const value = pick(gpu);
        if (value !== undefined) lines.push(`${name}{gpu="${gpu.index}",uuid="${gpu.uuid}",name="${gpu.name.replace(/["\\]/g, '')}"} ${value}`);
      }
    };
    lines.push('# HELP flexi_agent_up 1 when the last GPU read succeeded.', '# TYPE flexi_agent_up gauge', `flexi_agent_up ${this.state === 'ok' ? 1 : 0}`);
    series('flexi_gpu_power_watts', 'Board power draw.', 'gauge', (g) => g.powerWatts);
    series('flexi_gpu_utilization_ratio', 'Share of the last period in which a kernel ran (0-1).', 'gauge', (g) => g.utilizationRatio);
    series('flexi_gpu_memory_used_bytes', 'Framebuffer memory in use.', 'gauge', (g) => g.memoryUsedBytes);
    series('flexi_gpu_temperature_celsius', 'GPU core temperature.', 'gauge', (g) => g.temperatureCelsius);
    series('flexi_gpu_energy_joules_total', 'Energy since the driver (or the agent) started.', 'counter', (g) => g.energyJoules);
    return `${lines.join('\n')}\n`;
  }

  /** Serves `/v1/samples?since=<epoch ms>`, `/metrics` and `/healthz`; resolves with the bound port. */
  async listen(host: string, port: number): Promise<number> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://agent');
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const json = (status: number, value: unknown) => send(status, 'application/json; charset=utf-8', JSON.stringify(value));
    if (req.method !== 'GET') return json(405, { error: `${req.method} is not allowed; the agent answers GET only` });
    if (url.pathname === '/v1/samples') {
      const since = url.searchParams.get('since');
      if (since !== null && !/^\d{1,16}$/.test(since)) return json(400, { error: 'since: give epoch milliseconds, e.g. since=1767225600000' });
      return json(200, this.read(since === null ? undefined : Number(since)));
    }
    if (url.pathname === '/metrics') return send(200, 'text/plain; version=0.0.4; charset=utf-8', this.metricsText());
    if (url.pathname === '/healthz') return json(200, { state: this.state, ...(this.error ? { error: this.error } : {}) });
    return json(404, { error: `no such path ${url.pathname}; try /v1/samples, /metrics or /healthz` });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sampling;
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
  }
}
