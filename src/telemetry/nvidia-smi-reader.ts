import { execFile } from 'node:child_process';
import { NVIDIA_SMI_ENERGY_FIELD, NVIDIA_SMI_FIELDS, parseNvidiaSmiCsv, type GpuReading } from './gpu-sample.js';

export type ReadResult = { ok: true; readings: GpuReading[]; energyCounter: boolean } | { ok: false; error: string };

export interface GpuReader {
  read(): Promise<ReadResult>;
}

/** nvidia-smi's answer when a field is unknown to this driver ("Field "x" is not a valid field to query."). */
const UNKNOWN_FIELD = /not a valid field/i;

/**
 * Reads every GPU with one `nvidia-smi --query-gpu` call. The energy counter is asked for until the driver
 * refuses the field once; from then on power alone is read (the agent integrates it).
 */
export class NvidiaSmiReader implements GpuReader {
  private withEnergy = true;

  constructor(private readonly options: { command?: string; timeoutMs?: number } = {}) {}

  async read(): Promise<ReadResult> {
    const result = await this.run(this.withEnergy);
    if (!result.ok && this.withEnergy && UNKNOWN_FIELD.test(result.error)) {
      this.withEnergy = false;
      return this.read();
    }
    if (!result.ok) return result;
    const readings = parseNvidiaSmiCsv(result.stdout, this.withEnergy);
    if (readings.length === 0) return { ok: false, error: `nvidia-smi listed no GPU (${firstLine(result.stdout) || 'empty output'})` };
    return { ok: true, readings, energyCounter: readings.some((r) => r.energyJoules !== undefined) };
  }

  private run(withEnergy: boolean): Promise<{ ok: true; stdout: string } | { ok: false; error: string }> {
    const fields = withEnergy ? [...NVIDIA_SMI_FIELDS, NVIDIA_SMI_ENERGY_FIELD] : [...NVIDIA_SMI_FIELDS];
    const command = this.options.command ?? 'nvidia-smi';
    return new Promise((resolve) => {
      execFile(command, [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits'], { timeout: this.options.timeoutMs ?? 5000, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (!error) return resolve({ ok: true, stdout });
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return resolve({ ok: false, error: `${command} not found on PATH (install the NVIDIA driver, or pass --nvidia-smi <path>)` });
        const said = firstLine(stderr) || firstLine(stdout) || error.message;
        resolve({ ok: false, error: `${command} failed: ${said}` });
      });
    });
  }
}

function firstLine(text: string): string {
  return text.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
}
