import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentSamples } from '../../src/telemetry/gpu-sample.js';
import { builtCli } from '../helpers/built-cli.js';
import { fakeNvidiaSmiPath, fixture } from '../helpers/fake-nvidia-smi.js';

/** `flexi agent` as a real process (the built CLI), with the fake nvidia-smi first on its PATH. */
describe('flexi agent', { timeout: 120_000 }, () => {
  let smi: ReturnType<typeof fakeNvidiaSmiPath>;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    smi = fakeNvidiaSmiPath();
  });
  afterAll(() => smi.remove());
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  });

  async function startAgent(env: Record<string, string>): Promise<{ url: string; child: ChildProcess; lines: string[]; reader: Interface }> {
    const child = spawn(process.execPath, [builtCli(), 'agent', '--port', '0', '--interval-ms', '50', '--json'], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PATH: smi.path, ...env },
    });
    children.push(child);
    const reader = createInterface({ input: child.stdout! });
    const lines: string[] = [];
    const first = new Promise<string>((resolve) => reader.once('line', resolve));
    reader.on('line', (line) => lines.push(line));
    const started = JSON.parse(await first) as { url: string };
    return { url: started.url, child, lines, reader };
  }

  /** Polls the agent until `ready` holds (the agent samples every 50 ms; the deadline is only a safety net). */
  async function samplesWhen(url: string, ready: (s: AgentSamples) => boolean): Promise<AgentSamples> {
    for (let attempt = 0; attempt < 400; attempt++) {
      const answer = (await (await fetch(`${url}/v1/samples`)).json()) as AgentSamples;
      if (ready(answer)) return answer;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the agent never reached the expected state');
  }

  it('serves an A100 host\'s samples with the driver\'s energy counter, and Prometheus text', async () => {
    const { url } = await startAgent({ FAKE_SMI_FIXTURE: fixture('a100.csv') });
    const answer = await samplesWhen(url, (s) => s.samples.length >= 2);
    expect(answer.state).toBe('ok');
    expect(answer.energyCounter).toBe(true);
    expect(answer.samples[0]!.gpus.map((g) => [g.name, g.powerWatts, g.energyJoules])).toEqual([
      ['NVIDIA A100-SXM4-80GB', 61.52, 1204598.321], ['NVIDIA A100-SXM4-80GB', 312.88, 2288130.777],
    ]);
    const last = answer.samples.at(-1)!.atMs;
    const newer = (await (await fetch(`${url}/v1/samples?since=${last}`)).json()) as AgentSamples;
    expect(newer.samples.every((s) => s.atMs > last)).toBe(true);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^flexi_gpu_power_watts\{gpu="1",uuid="GPU-e1d2c3b4-a596-4788-99aa-bbccddeeff00",name="NVIDIA A100-SXM4-80GB"\} 312\.88$/m);
    expect(metrics).toMatch(/^flexi_gpu_memory_used_bytes\{gpu="1",[^}]*\} 75328651264$/m);
    expect(metrics).toContain('flexi_agent_up 1');
  });

  it('integrates power itself when the driver refuses the energy field', async () => {
    const { url } = await startAgent({ FAKE_SMI_MODE: 'old-driver', FAKE_SMI_GPUS: '2', FAKE_SMI_WATTS: '200' });
    const answer = await samplesWhen(url, (s) => s.samples.length >= 3);
    expect(answer.energyCounter).toBe(false);
    const [first, last] = [answer.samples[0]!, answer.samples.at(-1)!];
    const seconds = (last.atMs - first.atMs) / 1000;
    // A constant 200 W: the integrated counter grows by exactly 200 J per second of the agent's clock.
    expect(last.gpus[0]!.energyJoules! - first.gpus[0]!.energyJoules!).toBeCloseTo(200 * seconds, 6);
  });

  it('says once that the driver failed, serves that state and keeps running', async () => {
    const { url, child, lines } = await startAgent({ FAKE_SMI_MODE: 'failed' });
    const answer = await samplesWhen(url, (s) => s.state === 'unavailable');
    expect(answer.error).toMatch(/couldn't communicate with the NVIDIA driver/);
    expect(answer.samples).toEqual([]);
    const health = (await (await fetch(`${url}/healthz`)).json()) as { state: string };
    expect(health.state).toBe('unavailable');
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('flexi_agent_up 0');
    // Several more failed reads later: still one message, still alive.
    await samplesWhen(url, () => lines.length >= 2 && child.exitCode === null);
    for (let i = 0; i < 5; i++) await fetch(`${url}/healthz`);
    expect(lines.filter((l) => l.includes('unavailable'))).toHaveLength(1);
    expect(child.exitCode).toBeNull();
  });

  it('says when nvidia-smi is not installed at all', async () => {
    const { url } = await startAgent({ PATH: '/nonexistent' });
    const answer = await samplesWhen(url, (s) => s.state === 'unavailable');
    expect(answer.error).toMatch(/nvidia-smi not found on PATH/);
  });

  it('answers a bad since with 400 naming the parameter', async () => {
    const { url } = await startAgent({ FAKE_SMI_FIXTURE: fixture('h100.csv') });
    const response = await fetch(`${url}/v1/samples?since=yesterday`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^since:/);
  });
});
