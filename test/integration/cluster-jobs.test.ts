import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterCoordination } from '../../src/services/build-services.js';
import type { LeaderJob } from '../../src/services/leader-election.js';
import { LocalLeaderLock } from '../../src/store/leader-lock.js';
import { MemorySlotStore } from '../../src/store/slot-store.js';
import type { Store } from '../../src/store/store.js';
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
      config: { file: { nodes: [{ name: 'gpu1', type: 'sim', url: 'http://127.0.0.1:1', slots: 4 }] } },
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
