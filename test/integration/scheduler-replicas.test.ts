import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { createBackend } from '../../src/backends/factory.js';
import { loadConfig } from '../../src/config/load.js';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

/** Replica preloading end to end: Flexi over two real `flexi sim` nodes speaking Ollama's protocol. */

const headers = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
let gateway: TestGateway | undefined;
const sims: SimServer[] = [];
const backends: Backend[] = [];

afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`not reached in time: ${what}`);
}

const loaded = (sim: SimServer) => sim.state.info().models.find((m) => m.name === 'tiny:latest')?.status === 'loaded';

async function startCluster(schedulerYaml = ''): Promise<void> {
  for (let i = 0; i < 2; i++) sims.push(await startSimServer({ port: 0, profile: TINY, speed: 20, seed: i + 1 }));
  const fileText = `nodes:\n${sims.map((s, i) => `  - { name: s${i + 1}, type: sim, url: "${s.url}", slots: 2 }\n`).join('')}${schedulerYaml}`;
  const config = loadConfig({ fileText });
  for (const node of config.nodes ?? []) backends.push(createBackend(node, config));
  gateway = await startGateway(backends, { config: { fileText } });
  await until(() => gateway!.app.scheduler!.snapshot().nodes.every((n) => 'tiny:latest' in n.models), 'models discovered');
}

const ask = () => fetch(`${gateway!.url}/api/chat`, {
  method: 'POST', headers, body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], stream: false }),
});

describe('replica preloading through the gateway', () => {
  it('loads a busy model on the idle node ahead of demand, which the next request then uses warm', async () => {
    await startCluster();
    expect(sims.some(loaded)).toBe(false);
    const first = await ask();
    expect(first.status).toBe(200);
    // The first request loaded the model on one node; while it ran, Flexi asked the other to load it too.
    await until(() => sims.every(loaded), 'the second node loaded the model');
    await until(() => gateway!.app.scheduler!.snapshot().nodes.every((n) => n.preloading.length === 0), 'preload finished');
    const snapshot = gateway!.app.scheduler!.snapshot();
    expect(snapshot.counters).toMatchObject({ preloads: 1, preloadsFailed: 0 });
    expect(snapshot.nodes.every((n) => n.resident.includes('tiny:latest'))).toBe(true);
    // Each sim loaded the model exactly once: the preload, not a request, paid the second load.
    expect(sims.map((s) => s.state.info().models.find((m) => m.name === 'tiny:latest')!.loads)).toEqual([1, 1]);
    const both = await Promise.all([ask(), ask()]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    const replies = await Promise.all(both.map((r) => r.json() as Promise<{ load_duration?: number }>));
    expect(replies.map((r) => r.load_duration ?? 0)).toEqual([0, 0]);
    const metrics = await (await fetch(`${gateway!.url}/metrics`, { headers })).text();
    expect(metrics).toMatch(/^flexi_scheduler_preloads_total 1$/m);
    const nodes = await (await fetch(`${gateway!.url}/admin/v1/nodes`, { headers })).json() as { data: { resident: string[]; preloading: string[] }[] };
    expect(nodes.data.map((n) => n.preloading)).toEqual([[], []]);
  });

  it('preloads nothing when preload_replicas is off', async () => {
    await startCluster('scheduler:\n  preload_replicas: false\n');
    expect((await ask()).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(sims.filter(loaded)).toHaveLength(1);
    expect(gateway!.app.scheduler!.snapshot().counters.preloads).toBe(0);
  });
});
