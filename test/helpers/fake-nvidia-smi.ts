import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { Clock } from '../../src/lib/clock.js';
import { GpuAgent } from '../../src/telemetry/gpu-agent.js';
import { NvidiaSmiReader } from '../../src/telemetry/nvidia-smi-reader.js';

export const NVIDIA_SMI_FIXTURES = resolve(import.meta.dirname, '../fixtures/nvidia-smi');

/**
 * A folder holding an executable `nvidia-smi` (test/fixtures/nvidia-smi/fake-nvidia-smi.mjs) and the PATH that
 * finds it first. The fake reads its behaviour from FAKE_SMI_* variables (see the script).
 */
export function fakeNvidiaSmiPath(): { dir: string; command: string; path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'flexi-fake-smi-'));
  const command = join(dir, 'nvidia-smi');
  symlinkSync(join(NVIDIA_SMI_FIXTURES, 'fake-nvidia-smi.mjs'), command);
  return { dir, command, path: `${dir}${delimiter}${process.env.PATH ?? ''}`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function fixture(name: string): string {
  return join(NVIDIA_SMI_FIXTURES, name);
}

/**
 * A `flexi agent` (in process) reading the fake nvidia-smi on `clock`: `gpus` GPUs drawing `watts` each,
 * sampled every second. Returns the agent (close it) and the telemetry URL for a node's config.
 */
export async function startFakeGpuAgent(
  smi: { command: string }, clock: Clock, load: { gpus: number; watts: number },
): Promise<{ agent: GpuAgent; url: string }> {
  process.env.FAKE_SMI_GPUS = String(load.gpus);
  process.env.FAKE_SMI_WATTS = String(load.watts);
  const agent = new GpuAgent({ reader: new NvidiaSmiReader({ command: smi.command }), intervalMs: 1000, capacity: 600, clock });
  const port = await agent.listen('127.0.0.1', 0);
  return { agent, url: `http://127.0.0.1:${port}` };
}
