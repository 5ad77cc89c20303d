import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnergyLiveJson, EnergyReportJson, OwnEnergyJson } from '../../src/api/energy.js';
import { GpuAgent } from '../../src/telemetry/gpu-agent.js';
import { NvidiaSmiReader } from '../../src/telemetry/nvidia-smi-reader.js';
import { fakeNvidiaSmiPath, fixture } from '../helpers/fake-nvidia-smi.js';
import { openStoreWithKeys, startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

const STUDENT_KEY = `flx-${'studentkey0123456'.padEnd(40, 'y')}`;

describe('energy over HTTP', { timeout: 60_000 }, () => {
  let smi: ReturnType<typeof fakeNvidiaSmiPath>;
  let agent: GpuAgent;
  let gateway: TestGateway;
  const admin = { authorization: `Bearer ${TEST_KEY}` };
  const student = { authorization: `Bearer ${STUDENT_KEY}` };

  beforeAll(async () => {
    smi = fakeNvidiaSmiPath();
    process.env.FAKE_SMI_FIXTURE = fixture('a100.csv');
    agent = new GpuAgent({ reader: new NvidiaSmiReader({ command: smi.command }), intervalMs: 1000, capacity: 60 });
    await agent.sampleOnce();
    const agentUrl = `http://127.0.0.1:${await agent.listen('127.0.0.1', 0)}`;
    const store = await openStoreWithKeys([{ id: 'key-1', key: TEST_KEY, role: 'admin' }, { id: 'key-2', key: STUDENT_KEY, role: 'student' }]);
    gateway = await startGateway([new ScriptedBackend({ name: 'gpu1' })], {
      config: { overrides: { nodes: [{ name: 'gpu1', type: 'sim', url: 'http://127.0.0.1:9', telemetry: { url: agentUrl } }] } },
      deps: { store },
    });
    await gateway.app.energy.scraper!.scrapeAll();
  });

  afterAll(async () => {
    await gateway.close();
    await agent.stop();
    smi.remove();
    delete process.env.FAKE_SMI_FIXTURE;
  });

  it('shows each node\'s GPUs live to admins', async () => {
    const response = await fetch(`${gateway.url}/admin/v1/energy/live`, { headers: admin });
    expect(response.status).toBe(200);
    const live = (await response.json()) as EnergyLiveJson;
    expect(live.nodes).toHaveLength(1);
    expect(live.nodes[0]).toMatchObject({ node: 'gpu1', state: 'ok', error: null });
    expect(live.nodes[0]!.gpus.map((g) => [g.name, g.power_watts, g.power_limit_watts])).toEqual([
      ['NVIDIA A100-SXM4-80GB', 61.52, 400], ['NVIDIA A100-SXM4-80GB', 312.88, 400],
    ]);
    expect(live.nodes[0]!.history.power_watts).toEqual([61.52 + 312.88]);
  });

  it('exports the GPU series and the energy counter in Prometheus units', async () => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(text).toMatch(/^flexi_gpu_power_watts\{node="gpu1",gpu="1"\} 312\.88$/m);
    expect(text).toMatch(/^flexi_gpu_utilization_ratio\{node="gpu1",gpu="1"\} 1$/m);
    expect(text).toMatch(/^flexi_gpu_memory_used_bytes\{node="gpu1",gpu="0"\} 4194304$/m);
    expect(text).toMatch(/^flexi_gpu_temperature_celsius\{node="gpu1",gpu="0"\} 33$/m);
    expect(text).toMatch(/^flexi_gpu_energy_joules_total\{node="gpu1",gpu="0"\} 1204598\.321$/m);
    expect(text).toMatch(/^flexi_energy_joules_total\{model="\(idle\)"\} 0$/m);
  });

  it('refuses the admin views to a student and a bad parameter with 400 naming it', async () => {
    expect((await fetch(`${gateway.url}/admin/v1/energy/live`, { headers: student })).status).toBe(403);
    expect((await fetch(`${gateway.url}/admin/v1/energy/report`, { headers: student })).status).toBe(403);
    for (const [query, param] of [['by=user', 'by'], ['since=yesterday', 'since'], ['compare=ollama', 'compare'], ['format=xml', 'format']]) {
      const response = await fetch(`${gateway.url}/admin/v1/energy/report?${query}`, { headers: admin });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { param: string } }).error.param).toBe(param);
    }
  });

  it('answers the report as JSON and CSV', async () => {
    const json = (await (await fetch(`${gateway.url}/admin/v1/energy/report?by=day&compare=paper`, { headers: admin })).json()) as EnergyReportJson;
    expect(json).toMatchObject({ by: 'day', currency: 'EUR', price_per_kwh: 0.3, co2_g_per_kwh: 380, idle: 'apart' });
    expect(json.compare?.paper.kwh_per_gpu_day).toBe(0.6675);
    const csv = await (await fetch(`${gateway.url}/admin/v1/energy/report?format=csv`, { headers: admin })).text();
    expect(csv.split('\n')[0]).toBe('node,energy_kwh,idle_kwh,cost_eur,co2_g,requests,tokens,tokens_per_kwh');
  });

  it('tells a user their own energy and CO2', async () => {
    const response = await fetch(`${gateway.url}/ui/v1/me/energy`, { headers: student });
    expect(response.status).toBe(200);
    const own = (await response.json()) as OwnEnergyJson;
    expect(own).toMatchObject({ energy_wh: 0, co2_g: 0, requests: 0 });
    expect((await fetch(`${gateway.url}/ui/v1/me/energy?since=soon`, { headers: student })).status).toBe(400);
  });
});
