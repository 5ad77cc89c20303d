import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdminNode } from '../../src/api/admin.js';
import { createBackend } from '../../src/backends/factory.js';
import { configSchema } from '../../src/config/schema.js';
import { parseSimProfile } from '../../src/lab/sim/profile.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * 50 ms a token in real time (speed 1): a token interval is long next to a loaded CI machine's
 * scheduling hiccups, so no quiet request can look queued inside the node.
 */
const PROFILE = parseSimProfile({
  name: 'adaptive-test',
  memoryGb: 10,
  models: [{ name: 'm', sizeGb: 1, loadMs: 50, ttftMs: 20, decodeTokensPerSecond: 20, slots: 4, outputTokens: { mean: 6, spread: 0 } }],
});

const headers = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function simBehindGateway(options: { speed: number; extraBackends?: ScriptedBackend[] }): Promise<{ sim: SimServer; gateway: TestGateway }> {
  const sim = await startSimServer({ port: 0, profile: PROFILE, speed: options.speed, parallel: 4 });
  cleanups.push(() => sim.close());
  // An Ollama-type node without `slots`: Flexi must learn how many requests it runs at once.
  const nodes = [{ name: 'sim1', type: 'ollama' as const, url: sim.url }];
  const backend = createBackend(nodes[0]!, configSchema.parse({ nodes }));
  const extra = options.extraBackends ?? [];
  const yaml = ['nodes:', `  - { name: sim1, type: ollama, url: "${sim.url}" }`, ...extra.map((b) => `  - { name: ${b.name}, type: sim, url: "http://127.0.0.1:9" }`)];
  const gateway = await startGateway([backend, ...extra], { config: { fileText: `${yaml.join('\n')}\n` } });
  cleanups.push(() => gateway.close());
  return { sim, gateway };
}

async function generate(gateway: TestGateway, n: number): Promise<void> {
  const one = async () => {
    const response = await fetch(`${gateway.url}/api/chat`, {
      method: 'POST', headers, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    expect(response.status).toBe(200);
    await response.text();
  };
  await Promise.all(Array.from({ length: n }, one));
}

async function nodeLimit(gateway: TestGateway): Promise<AdminNode['concurrency'][string]> {
  const body = (await (await fetch(`${gateway.url}/admin/v1/nodes`, { headers })).json()) as { data: AdminNode[] };
  return body.data.find((n) => n.name === 'sim1')!.concurrency['m:latest']!;
}

function runBuiltCli(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, ['bin/flexi.js', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout }));
}

describe('adaptive concurrency through the gateway', { timeout: 180_000 }, () => {
  it('learns a limit above 1 for an Ollama node without slots, and shows it in the admin API, nodes status and /metrics', async () => {
    const { gateway } = await simBehindGateway({ speed: 1 });
    expect(await nodeLimit(gateway)).toMatchObject({ limit: 1, max: 64, phase: 'learning', samples: 0 });
    await generate(gateway, 1); // loads the model: a cold start teaches nothing
    expect((await nodeLimit(gateway)).samples).toBe(0);
    await generate(gateway, 1); // warm and alone, with the limit full: one more may run
    expect(await nodeLimit(gateway)).toMatchObject({ limit: 2, samples: 1 });
    await generate(gateway, 2); // both sent at once, the second with the limit full
    const learned = await nodeLimit(gateway);
    expect(learned.limit).toBeGreaterThanOrEqual(3);
    expect(learned.samples).toBe(3);

    const metrics = await (await fetch(`${gateway.url}/metrics`, { headers })).text();
    expect(metrics).toContain(`flexi_node_concurrency_limit{node="sim1",model="m:latest"} ${learned.limit}`);
    expect(metrics).toContain('flexi_node_concurrency_max{node="sim1",model="m:latest"} 64');
    const status = await runBuiltCli(['nodes', 'status', '--url', gateway.url, '--key', TEST_KEY]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^sim1\\s+ollama\\s+up\\s+0\\s+m:latest\\s+1\\s+${learned.limit} \\(learning, max 64\\)\\s*$`, 'm'));
  });
});

describe('x-sim-speed through the gateway', { timeout: 180_000 }, () => {
  it('passes the sim nodes\' speed on, so the built loadtest reports simulated time without --time-scale', async () => {
    const { gateway } = await simBehindGateway({ speed: 20 });
    const version = await fetch(`${gateway.url}/api/version`, { headers });
    expect(version.headers.get('x-sim-speed')).toBe('20');
    const dir = mkdtempSync(join(tmpdir(), 'flexi-adaptive-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const run = await runBuiltCli(['loadtest', '--url', gateway.url, '--key', TEST_KEY, '--models', 'm', '--concurrency', '1',
      '--requests', '1', '--warmup', '0', '--out', join(dir, 'out')]);
    expect(run.code).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8')) as { setup: { timeScale: number; timeScaleSource: string } };
    expect(summary.setup).toMatchObject({ timeScale: 20, timeScaleSource: 'x-sim-speed' });
  });

  it('sends no x-sim-speed when any node is a real one', async () => {
    const { gateway } = await simBehindGateway({ speed: 20, extraBackends: [new ScriptedBackend({ name: 'real' })] });
    await generate(gateway, 1);
    const version = await fetch(`${gateway.url}/api/version`, { headers });
    expect(version.status).toBe(200);
    expect(version.headers.has('x-sim-speed')).toBe(false);
  });
});
