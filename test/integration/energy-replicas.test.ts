import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/lib/clock.js';
import { UsageRecorder } from '../../src/services/inference/usage-recorder.js';
import { API_KEY_SHOWN_CHARS, hashApiKey } from '../../src/services/identity/api-key.service.js';
import { MemorySlotStore } from '../../src/store/slot-store.js';
import { LocalLeaderLock } from '../../src/store/leader-lock.js';
import { openDatabase, type Store } from '../../src/store/store.js';
import { TEST_KEY } from '../helpers/gateway.js';
import { createTestDatabaseUrl, testDialects } from '../helpers/db.js';
import { fakeNvidiaSmiPath, startFakeGpuAgent } from '../helpers/fake-nvidia-smi.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

const T0 = Date.UTC(2026, 2, 2, 9);

/**
 * Two gateway replicas over one node and one database, sharing the node's slots (a `MemorySlotStore`, the
 * Redis store's rules in process): a fake nvidia-smi reports 2 × 200 W for 60 s while each replica runs one
 * request. The node's energy is counted once — 6.67 Wh in `node_energy`, written by the telemetry leader
 * only, and 6.67 Wh over the two usage records, half each — where before it was counted twice on both.
 */
describe.each(testDialects())('energy accounting with two replicas (%s)', { timeout: 120_000 }, (dialect) => {
  let smi: ReturnType<typeof fakeNvidiaSmiPath>;
  let databaseUrl: string;

  beforeAll(async () => {
    smi = fakeNvidiaSmiPath();
    databaseUrl = dialect === 'sqlite' ? ':memory:' : (await createTestDatabaseUrl('postgres')).url;
  });
  afterAll(() => smi.remove());

  it('60 s at 2 × 200 W with one request on each replica → 6.67 Wh once, 3.33 Wh per request', async () => {
    const clock = new ManualClock(T0);
    const { agent, url: telemetryUrl } = await startFakeGpuAgent(smi, clock, { gpus: 2, watts: 200 });
    const config = loadConfig({
      overrides: {
        'scheduler.probe_interval_ms': 60_000,
        nodes: [{ name: 'gpu1', type: 'sim', url: 'http://127.0.0.1:9', slots: 4, telemetry: { url: telemetryUrl } }],
      },
    });
    const store: Store = await openDatabase(databaseUrl);
    await store.migrate();
    await store.apiKeys.create({ id: 'key-1', name: 'key-1', prefix: TEST_KEY.slice(0, API_KEY_SHOWN_CHARS), keyHash: hashApiKey(TEST_KEY), role: 'staff', createdAt: new Date(T0).toISOString() });
    const slots = new MemorySlotStore();
    // One replica leads every job (the telemetry job writes the node totals), as LeaderElection would settle it.
    const lock = new LocalLeaderLock();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const replicas: { app: App; backend: ScriptedBackend; recorder: UsageRecorder }[] = [];
    for (const [replicaId, leader] of [['a', true], ['b', false]] as const) {
      const recorder = new UsageRecorder(store.usage, { flushIntervalMs: 60_000, batchSize: 100 });
      const backend = new ScriptedBackend({ name: 'gpu1', gate: () => gate, promptTokens: () => 20 });
      const app = await createApp({
        config, backends: [backend], store, clock, slots, replicaId, cluster: { lock, isLeader: () => leader },
        usage: { record: (entry) => recorder.record({ ...entry, createdAt: entry.createdAt.toISOString() }) },
      });
      await app.server.listen({ host: '127.0.0.1', port: 0 });
      replicas.push({ app, backend, recorder });
    }
    const scrapeAll = () => Promise.all(replicas.map((r) => r.app.energy.scraper!.scrapeAll()));

    const answers = replicas.map(({ app }) => {
      const { port } = app.server.server.address() as { port: number };
      return new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: TEST_KEY }).chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });
    });
    let failed: unknown;
    for (const answer of answers) answer.catch((error: unknown) => { failed = error; });
    while (replicas.some((r) => r.backend.active < 1) && !failed) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(failed).toBeUndefined();
    expect(await slots.heldOnNodes(clock.now())).toEqual(new Map([['gpu1', 2]]));

    // t = 0, both running: the first sample is the baseline, and each replica sees the other's request.
    await agent.sampleOnce();
    await scrapeAll();
    // A sample every 10 s is enough at constant power (each sample runs the fake nvidia-smi, a process).
    for (let second = 10; second <= 60; second += 10) {
      clock.advance(10_000);
      await agent.sampleOnce();
      await scrapeAll();
    }
    release();
    await Promise.all(answers);
    for (const { app, recorder } of replicas) {
      await app.close();
      await recorder.close();
    }
    await agent.stop();

    const records = await store.db.selectFrom('usage_records').select(['request_id', 'energy_wh']).execute();
    const intervals = await store.db.selectFrom('node_energy').select(['energy_joules', 'idle_joules']).execute();
    await store.close();
    const expectedWh = (2 * 200 * 60) / 3600;
    const nodeWh = intervals.reduce((sum, r) => sum + Number(r.energy_joules), 0) / 3600;
    expect(Math.abs(nodeWh - expectedWh) / expectedWh).toBeLessThan(0.01);
    expect(intervals.reduce((sum, r) => sum + Number(r.idle_joules), 0)).toBeCloseTo(0, 6);
    expect(records).toHaveLength(2);
    for (const record of records) expect(Math.abs(Number(record.energy_wh) - expectedWh / 2) / expectedWh).toBeLessThan(0.01);
  });
});
