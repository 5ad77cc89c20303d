import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/store.js';
import { GpuAgent } from '../../src/telemetry/gpu-agent.js';
import { NvidiaSmiReader } from '../../src/telemetry/nvidia-smi-reader.js';
import { runBuiltCli } from '../helpers/built-cli.js';
import { fakeNvidiaSmiPath, fixture } from '../helpers/fake-nvidia-smi.js';

/**
 * Checkmk's local-check line (docs.checkmk.com "Local checks"): status, service name (quoted when it has
 * spaces), metrics (`-` or `name=value;warn;crit;min;max` joined by `|`), free-text detail.
 */
const METRIC = /^[A-Za-z0-9_]+=-?\d+(\.\d+)?(;(-?\d+(\.\d+)?)?){0,4}$/;
function parseLocalCheck(line: string): { state: number; service: string; metrics: Record<string, string[]>; detail: string } {
  const match = /^([0-3P]) ("[^"]+"|[^\s"]+) (\S+) (.+)$/.exec(line);
  if (!match) throw new Error(`not a local check: ${line}`);
  const metrics: Record<string, string[]> = {};
  if (match[3] !== '-') {
    for (const metric of match[3]!.split('|')) {
      if (!METRIC.test(metric)) throw new Error(`bad metric "${metric}" in: ${line}`);
      const [name, rest] = metric.split('=') as [string, string];
      metrics[name] = rest.split(';');
    }
  }
  return { state: Number(match[1]), service: match[2]!.replace(/^"|"$/g, ''), metrics, detail: match[4]! };
}

describe('flexi checkmk', { timeout: 120_000 }, () => {
  let dir: string;
  let smi: ReturnType<typeof fakeNvidiaSmiPath>;
  const agents: GpuAgent[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flexi-checkmk-'));
    smi = fakeNvidiaSmiPath();
    for (const name of ['h100.csv', 'a40.csv']) {
      // One reader per fixture: a wrapper script fixes FAKE_SMI_FIXTURE for that agent.
      const script = join(dir, `smi-${name}.sh`);
      writeFileSync(script, `#!/bin/sh\nFAKE_SMI_FIXTURE='${fixture(name)}' exec '${smi.command}' "$@"\n`, { mode: 0o755 });
      const agent = new GpuAgent({ reader: new NvidiaSmiReader({ command: script }), intervalMs: 1000, capacity: 10 });
      await agent.sampleOnce();
      urls.push(`http://127.0.0.1:${await agent.listen('127.0.0.1', 0)}`);
      agents.push(agent);
    }
    const store = await openDatabase(join(dir, 'flexi.db'));
    await store.migrate();
    const now = Date.now();
    const record = (i: number, model: string, status: number, queueMs: number) => ({
      createdAt: new Date(now - 10_000 - i).toISOString(), requestId: `${model}-${i}`, endpoint: '/v1/chat/completions', protocol: 'openai' as const,
      model, status, promptTokens: 10, completionTokens: 10, durationMs: 100, queueMs,
    });
    await store.usage.insertMany([
      ...Array.from({ length: 20 }, (_, i) => record(i, 'llama', 200, 100 + i)),
      ...Array.from({ length: 10 }, (_, i) => record(i, 'busy', i < 3 ? 503 : 200, 20_000)),
    ]);
    await store.close();
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    smi.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  function writeConfig(extra = ''): string {
    const path = join(dir, 'flexi.yaml');
    writeFileSync(path, [
      `database: {url: '${join(dir, 'flexi.db')}'}`,
      'nodes:',
      `  - {name: gpu-h100, type: sim, url: 'http://127.0.0.1:9', telemetry: {url: '${urls[0]}'}}`,
      `  - {name: gpu-a40, type: sim, url: 'http://127.0.0.1:9', telemetry: {url: '${urls[1]}'}}`,
      '  - {name: cpu-box, type: sim, url: \'http://127.0.0.1:9\'}',
      extra,
    ].join('\n'));
    return path;
  }

  async function checks(configPath: string, args: string[] = []) {
    const result = await runBuiltCli(['checkmk', '-c', configPath, '--gateway', 'http://127.0.0.1:9', ...args], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.stdout.trimEnd().split('\n').map(parseLocalCheck);
  }

  it('prints one parsable local check per gateway, node, GPU and model queue, WARN and CRIT at the thresholds', async () => {
    const parsed = await checks(writeConfig());
    const byService = Object.fromEntries(parsed.map((c) => [c.service, c]));
    expect(Object.keys(byService).sort()).toEqual([
      'Flexi GPU gpu-a40/0', 'Flexi GPU gpu-a40/1', 'Flexi GPU gpu-h100/0', 'Flexi gateway',
      'Flexi node cpu-box', 'Flexi node gpu-a40', 'Flexi node gpu-h100', 'Flexi queue busy', 'Flexi queue llama',
    ]);
    // The gateway is not running: CRIT, saying where it looked.
    expect(byService['Flexi gateway']!.state).toBe(2);
    expect(byService['Flexi gateway']!.detail).toMatch(/^CRIT - gateway at http:\/\/127\.0\.0\.1:9 does not answer/);
    // H100 at 698 of 700 W (≥ 95 %: WARN, < 100 %: not CRIT); thresholds in watts travel with the metric.
    const h100 = byService['Flexi GPU gpu-h100/0']!;
    expect(h100.state).toBe(1);
    expect(h100.metrics.flexi_gpu_power_watts).toEqual(['698.12', '665', '700', '0', '700']);
    expect(h100.metrics.flexi_gpu_temperature_celsius).toEqual(['79', '83', '90']);
    expect(byService['Flexi GPU gpu-a40/0']!.state).toBe(0);
    expect(byService['Flexi node gpu-h100']!.detail).toContain('1 GPU, 698 W');
    expect(byService['Flexi node cpu-box']!.detail).toContain('no telemetry configured');
    // busy: every wait 20 s (p95 ≥ 10 s: WARN) and 3 of 10 failed (≥ 20 %: CRIT).
    expect(byService['Flexi queue busy']!.state).toBe(2);
    expect(byService['Flexi queue busy']!.metrics.flexi_error_ratio![0]).toBe('0.3');
    expect(byService['Flexi queue llama']!.state).toBe(0);
  });

  it('turns a GPU from OK to WARN to CRIT as its temperature thresholds come down', async () => {
    const warm = await checks(writeConfig('energy: {checkmk: {gpu_temperature_celsius: {warn: 70, crit: 80}, gpu_power_ratio: {warn: 0.99, crit: 1}, gpu_memory_ratio: {warn: 0.99, crit: 1}}}'));
    expect(warm.find((c) => c.service === 'Flexi GPU gpu-a40/0')!.state).toBe(1);
    expect(warm.find((c) => c.service === 'Flexi GPU gpu-h100/0')!.state).toBe(1);
    const hot = await checks(writeConfig('energy: {checkmk: {gpu_temperature_celsius: {warn: 60, crit: 75}}}'));
    expect(hot.find((c) => c.service === 'Flexi GPU gpu-h100/0')!.state).toBe(2);
    expect(hot.find((c) => c.service === 'Flexi GPU gpu-a40/1')!.state).toBe(0);
  });

  it('writes a spool file with the section header in one piece', async () => {
    const spool = join(dir, '300_flexi');
    const result = await runBuiltCli(['checkmk', '-c', writeConfig(), '--gateway', 'http://127.0.0.1:9', '--spool', spool], { cwd: dir });
    expect(result.code).toBe(0);
    const text = readFileSync(spool, 'utf8');
    expect(text.startsWith('<<<local:sep(0)>>>\n')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trimEnd().split('\n').slice(1)) parseLocalCheck(line);
  });
});
