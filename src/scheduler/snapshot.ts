import type { NodeState } from './node-state.js';
import type { ModelSnapshot, ModelState, NodeSnapshot, SchedulerCounters, SchedulerSnapshot } from './scheduler-types.js';
import type { PriorityClass } from './settings.js';
import type { WaitHistograms } from './wait-histogram.js';

export interface SnapshotInput {
  atMs: number;
  nowMs: number;
  nodes: Iterable<NodeState>;
  models: Iterable<ModelState>;
  classes: readonly PriorityClass[];
  activeUsers: number;
  counters: SchedulerCounters;
  histograms: WaitHistograms;
  drainPerSecond: (state: ModelState) => number | undefined;
}

/** Plain data, copied: safe to serialise, keep, or export to Prometheus. */
export function snapshotOf(input: SnapshotInput): SchedulerSnapshot {
  const models: ModelSnapshot[] = [];
  for (const state of input.models) {
    const queuedByClass: Record<string, number> = {};
    const inFlightByClass: Record<string, number> = {};
    input.classes.forEach((c, i) => {
      queuedByClass[c.name] = state.queue.queuedIn(i);
      inFlightByClass[c.name] = state.inFlightByClass[i]!;
    });
    models.push({
      model: state.name, queuedByClass, inFlightByClass, retrying: state.retryLane.size, inFlight: state.inFlight,
      drainRatePerSecond: input.drainPerSecond(state), meanServiceMs: state.drain.meanServiceMs,
    });
  }
  const nodes: NodeSnapshot[] = [];
  for (const node of input.nodes) {
    const perModel: NodeSnapshot['models'] = {};
    for (const model of node.servedModels()) {
      perModel[model] = {
        slots: node.slotsFor(model), inFlight: node.inFlightFor(model), resident: node.isResident(model), preloading: node.isPreloading(model),
        concurrency: node.concurrencyOf(model),
      };
    }
    nodes.push({
      name: node.name, type: node.type, healthy: node.healthy, draining: node.draining,
      breaker: node.breaker.state(input.nowMs), inFlight: node.inFlight, models: perModel,
      resident: node.residentModels(), preloading: node.preloadingModels(), memoryBytes: node.memoryBytes, residentBytes: node.residentBytes(),
    });
  }
  return {
    atMs: input.atMs, models, nodes, activeUsers: input.activeUsers,
    counters: { ...input.counters, refused: { ...input.counters.refused } },
    waitHistograms: input.histograms.data(),
  };
}
