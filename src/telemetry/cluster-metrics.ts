import { Gauge, type Registry } from 'prom-client';

/** Slots held on one node for one model. */
export interface NodeModelSlots {
  node: string;
  model: string;
  slots: number;
}

/** What the cluster series are read from at scrape time (structural: telemetry imports neither services nor store). */
export interface ClusterView {
  /** Every job that runs once per cluster, and whether this replica leads it now. */
  leaders(): Iterable<readonly [job: string, leads: boolean]>;
  /** Shared slots only: the slots held over all replicas (read from the slot store, e.g. Redis). */
  slotsHeld?: () => Promise<readonly NodeModelSlots[]>;
  /** Shared slots only: the slots this replica holds. */
  slotsLocal?: () => readonly NodeModelSlots[];
}

/**
 * Registers `flexi_cluster_leader{job}` and, with shared slots, `flexi_cluster_slots_held{node,model}`
 * and `flexi_cluster_slots_local{node,model}` on the gateway's registry (read when scraped). Only
 * for several replicas: one process leads everything and holds no shared slots.
 */
export function registerClusterMetrics(registry: Registry, view: ClusterView): void {
  const registers = [registry];
  new Gauge({
    name: 'flexi_cluster_leader', help: 'Whether this replica leads the background job (1) or another does (0).', labelNames: ['job'], registers,
    collect() {
      this.reset();
      for (const [job, leads] of view.leaders()) this.set({ job }, leads ? 1 : 0);
    },
  });
  const { slotsHeld, slotsLocal } = view;
  if (slotsHeld) {
    new Gauge({
      name: 'flexi_cluster_slots_held', help: 'Shared slots held on a node for a model, over all replicas (the node\'s requests in flight as the cluster counts them).',
      labelNames: ['node', 'model'], registers,
      async collect() {
        // Read first, then reset: a scrape that cannot reach the slot store shows no series rather than stale ones.
        const held = await slotsHeld().catch(() => undefined);
        this.reset();
        for (const s of held ?? []) this.set({ node: s.node, model: s.model }, s.slots);
      },
    });
  }
  if (slotsLocal) {
    new Gauge({
      name: 'flexi_cluster_slots_local', help: 'Shared slots this replica holds on a node for a model.', labelNames: ['node', 'model'], registers,
      collect() {
        this.reset();
        for (const s of slotsLocal()) this.set({ node: s.node, model: s.model }, s.slots);
      },
    });
  }
}
