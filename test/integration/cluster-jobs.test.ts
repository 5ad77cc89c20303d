import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import type { ClusterCoordination } from '../../src/services/build-services.js';
import type { LeaderJob } from '../../src/services/leader-election.js';
import { LocalLeaderLock } from '../../src/store/leader-lock.js';
import { MemorySlotStore } from '../../src/store/slot-store.js';
import type { Store } from '../../src/store/store.js';
import { createMigratedPostgresUrl, postgresTestUrl } from '../helpers/db.js';
import { openStoreWithKeys, startGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/** Replicas in one process over one database: what `runtime.ts` hands `createApp` when the lock is shared. */
const cluster = (leads: readonly LeaderJob[]): ClusterCoordination => ({ lock: new LocalLeaderLock(), isLeader: (job) => leads.includes(job) });

describe('jobs that run once per cluster', () => {
  const gateways: TestGateway[] = [];
  let store: Store | undefined;
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.close()));
    await store?.close();
    store = undefined;
  });

  it('lets only the discovery leader write the nodes\' model lists; a follower serves from its own listing', async () => {
    store = await openStoreWithKeys();
    const follower = await startGateway([new ScriptedBackend({ name: 'gpu1', models: ['tiny:latest'] })], {
      deps: { store, replicaId: 'r1', cluster: cluster(['retention']) },
    });
    gateways.push(follower);
    expect(await store.nodeModels.listAll()).toEqual([]);
    const listed = await fetch(`${follower.url}/v1/models`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    expect(((await listed.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toEqual(['tiny']);

    const leader = await startGateway([new ScriptedBackend({ name: 'gpu1', models: ['tiny:latest'] })], {
      deps: { store, replicaId: 'r2', cluster: cluster(['discovery']) },
    });
    gateways.push(leader);
    expect((await store.nodeModels.listAll()).map((r) => `${r.node}/${r.model}`)).toEqual(['gpu1/tiny:latest']);
  });

  it('exports which jobs this replica leads and the shared slots held over all replicas and by this one', async () => {
    const slots = new MemorySlotStore();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const backend = new ScriptedBackend({ name: 'gpu1', models: ['tiny:latest'], words: ['a', 'b'], gate: () => gate });
    const gateway = await startGateway([backend], {
      deps: { slots, replicaId: 'r1', cluster: cluster(['retention', 'roster-sync']) },
    });
    gateways.push(gateway);
    // Another replica holds one slot of the node.
    await slots.take({ model: 'tiny:latest', node: 'gpu1', limit: 4, reserve: 0, slotId: 'elsewhere', users: ['u9'], nowMs: Date.now(), ttlMs: 600_000, waitTtlMs: 1000 });
    // This replica runs one request, held open by the backend.
    const running = fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny:latest', messages: [{ role: 'user', content: 'hi' }] }),
    });
    while (backend.active === 0) await new Promise((resolve) => setTimeout(resolve, 10));

    const text = await gateway.app.metrics.text();
    expect(text).toContain('flexi_cluster_leader{job="retention"} 1');
    expect(text).toContain('flexi_cluster_leader{job="roster-sync"} 1');
    expect(text).toContain('flexi_cluster_leader{job="discovery"} 0');
    expect(text).toContain('flexi_cluster_slots_held{node="gpu1",model="tiny:latest"} 2');
    expect(text).toContain('flexi_cluster_slots_local{node="gpu1",model="tiny:latest"} 1');
    open();
    expect((await running).status).toBe(200);
  });

  it('registers no cluster series for one process', async () => {
    const gateway = await startGateway([new ScriptedBackend({ name: 'gpu1', models: ['tiny:latest'] })]);
    gateways.push(gateway);
    expect(await gateway.app.metrics.text()).not.toContain('flexi_cluster_');
  });
});

describe.runIf(postgresTestUrl)('jobs over PostgreSQL without Redis (startRuntime)', () => {
  const runtimes: Runtime[] = [];
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.stop()));
  });

  it('lets one replica lead every job on PostgreSQL advisory locks, and the other once it stopped', async () => {
    const url = await createMigratedPostgresUrl();
    const start = async (replica: string) => {
      const config = loadConfig({
        overrides: { 'database.url': url, 'server.port': 0, 'cluster.replica_id': replica, 'cluster.leader_lock_ttl_ms': 1000, 'log.level': 'silent' },
      });
      const runtime = await startRuntime(config, { probeLocalOllama: false });
      runtimes.push(runtime);
      return runtime;
    };
    const first = await start('r1');
    const second = await start('r2');
    const leads = async (runtime: Runtime, job: string) => (await runtime.app.metrics.text()).includes(`flexi_cluster_leader{job="${job}"} 1`);
    for (const job of ['retention', 'roster-sync', 'discovery']) {
      expect(await leads(first, job)).toBe(true);
      expect(await leads(second, job)).toBe(false);
    }

    await first.stop();
    // The second asks again every third of the TTL; the lock was freed when the first stopped.
    // Each job has its own lock and timer: wait for every one, not for the first.
    for (const job of ['retention', 'roster-sync', 'discovery']) {
      await vi.waitFor(async () => expect(await leads(second, job)).toBe(true), { timeout: 60_000, interval: 50 });
    }
  });
});
