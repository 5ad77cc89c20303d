import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerClusterMetrics } from './cluster-metrics.js';

describe('registerClusterMetrics', () => {
  it('reports which jobs this replica leads, read at every scrape', async () => {
    const registry = new Registry();
    let leadsDiscovery = false;
    registerClusterMetrics(registry, { leaders: () => [['retention', true], ['discovery', leadsDiscovery]] });
    expect(await registry.metrics()).toContain('flexi_cluster_leader{job="retention"} 1\nflexi_cluster_leader{job="discovery"} 0');
    leadsDiscovery = true;
    expect(await registry.metrics()).toContain('flexi_cluster_leader{job="discovery"} 1');
    // Without shared slots there are no slot series.
    expect(await registry.metrics()).not.toContain('flexi_cluster_slots');
  });

  it('reports slots held over all replicas and by this one, per node and model', async () => {
    const registry = new Registry();
    let held = [{ node: 'gpu1', model: 'llama3:8b', slots: 3 }, { node: 'gpu2', model: 'llama3:8b', slots: 1 }];
    registerClusterMetrics(registry, {
      leaders: () => [],
      slotsHeld: () => Promise.resolve(held),
      slotsLocal: () => [{ node: 'gpu1', model: 'llama3:8b', slots: 2 }],
    });
    const text = await registry.metrics();
    expect(text).toContain('flexi_cluster_slots_held{node="gpu1",model="llama3:8b"} 3');
    expect(text).toContain('flexi_cluster_slots_held{node="gpu2",model="llama3:8b"} 1');
    expect(text).toContain('flexi_cluster_slots_local{node="gpu1",model="llama3:8b"} 2');
    // Slots given back everywhere: the series goes, it does not stay at its last value.
    held = [{ node: 'gpu1', model: 'llama3:8b', slots: 1 }];
    const after = await registry.metrics();
    expect(after).toContain('flexi_cluster_slots_held{node="gpu1",model="llama3:8b"} 1');
    expect(after).not.toContain('flexi_cluster_slots_held{node="gpu2"');
  });

  it('shows no cluster-wide slot series when the slot store cannot be read, and still answers the scrape', async () => {
    const registry = new Registry();
    let failing = false;
    registerClusterMetrics(registry, {
      leaders: () => [['retention', true]],
      slotsHeld: () => (failing ? Promise.reject(new Error('redis down')) : Promise.resolve([{ node: 'gpu1', model: 'm:latest', slots: 1 }])),
    });
    expect(await registry.metrics()).toContain('flexi_cluster_slots_held{node="gpu1",model="m:latest"} 1');
    failing = true;
    const text = await registry.metrics();
    expect(text).not.toContain('flexi_cluster_slots_held{');
    expect(text).toContain('flexi_cluster_leader{job="retention"} 1');
  });
});
