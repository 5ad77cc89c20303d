import type { LoadPlan, NodeState } from './node-state.js';

/**
 * How a class places its requests among the nodes where the model is ready:
 * - `spread`: the least loaded first — each stream shares its GPU with as few others as
 *   possible, for the shortest time to first token (interactive use);
 * - `pack`: the most loaded that still has a free slot (the node with most slots first when
 *   equal) — long jobs fill a few nodes and leave the others idle for a rush (batch).
 */
export type PlacementMode = 'spread' | 'pack';

export interface Placement {
  node: NodeState;
  plan: LoadPlan;
  /** The model was not ready on the node: the request waits for a load (a cold start). */
  cold: boolean;
}

export interface PlacementOptions {
  /** Nodes a retried request already failed on. */
  exclude?: ReadonlySet<string>;
  /** Requests waiting for the model (decides whether a replica may evict idle models). */
  waiting: number;
  /** Default `spread`. */
  mode?: PlacementMode;
}

/**
 * Picks the node for the next request of `model`, or undefined when it must wait. In order:
 * 1. a node where the model is ready (resident, not still preloading) with a free slot, by the
 *    class's mode: `spread` least loaded by in-flight ÷ slots of the model, then by the node's
 *    total in-flight; `pack` most in-flight of the model, then most slots;
 * 2. a node already preloading the model (its load is under way), least loaded first;
 * 3. a node where it loads without evicting anything (this is how a hot model spreads
 *    replicas once its resident nodes are full), least loaded first;
 * 4. a node where it loads after evicting idle models, fewest evictions first — for a model
 *    resident nowhere, or for a replica only when at least one full round (the resident
 *    replicas' slots) is waiting, so a short burst does not evict someone else's model.
 * Busy and preloading models are never evicted (`NodeState.planLoad`).
 */
export function choosePlacement(nodes: Iterable<NodeState>, model: string, nowMs: number, options: PlacementOptions): Placement | undefined {
  const pack = options.mode === 'pack';
  let ready: NodeState | undefined;
  let readyScore = Infinity;
  let residentSlots = 0;
  let cold: Placement | undefined;
  let coldScore = Infinity;
  for (const node of nodes) {
    if (!node.serves(model) || options.exclude?.has(node.name) || !node.isAvailable(nowMs)) continue;
    const isResident = node.isResident(model);
    if (isResident) residentSlots += node.slotsFor(model);
    if (!node.canTakeNew(nowMs) || !node.hasFreeSlot(model)) continue;
    if (node.isReady(model)) {
      const score = pack
        ? -node.inFlightFor(model) - node.slotsFor(model) * 1e-3 + node.inFlight * 1e-6
        : node.inFlightFor(model) / node.slotsFor(model) + node.inFlight * 1e-6;
      if (score < readyScore) {
        ready = node;
        readyScore = score;
      }
      continue;
    }
    const plan = node.planLoad(model);
    if (!plan) continue;
    // Tiers 2–4 in one score: preloading < loads without eviction < fewest evictions; then least loaded.
    const score = (isResident ? 0 : 1e3) + plan.evict.length * 1e6 + node.inFlight;
    if (score < coldScore) {
      cold = { node, plan, cold: true };
      coldScore = score;
    }
  }
  if (ready) return { node: ready, plan: { evict: [] }, cold: false };
  if (!cold) return undefined;
  if (cold.plan.evict.length > 0 && residentSlots > 0 && options.waiting < residentSlots) return undefined;
  return cold;
}

/** True when every node where `model` is ready already runs at least one of its requests (or none is ready). */
export function noIdleReplica(nodes: Iterable<NodeState>, model: string, nowMs: number): boolean {
  for (const node of nodes) {
    if (node.serves(model) && node.canTakeNew(nowMs) && node.isReady(model) && node.inFlightFor(model) === 0) return false;
  }
  return true;
}

/**
 * A node to load `model` on ahead of demand, or undefined: it serves the model, may take
 * requests, does not hold or load it yet, and takes it without evicting anything. A node whose
 * memory is unknown qualifies only while it holds no model at all, so a preload never makes a
 * node's own scheduler push out someone else's model. The least loaded node, then the one with
 * most slots, is chosen.
 */
export function choosePreloadNode(nodes: Iterable<NodeState>, model: string, nowMs: number): NodeState | undefined {
  let best: NodeState | undefined;
  let bestScore = Infinity;
  for (const node of nodes) {
    if (node.type === 'openai' || !node.serves(model) || node.isResident(model)) continue;
    if (!node.healthy || node.draining || node.breaker.state(nowMs) !== 'closed') continue;
    if (node.memoryBytes === undefined && node.residentModels().length > 0) continue;
    if (node.planLoad(model)?.evict.length !== 0) continue;
    const score = node.inFlight - node.slotsFor(model) * 1e-3;
    if (score < bestScore) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}
