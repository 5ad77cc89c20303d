import type { LoadPlan, NodeState } from './node-state.js';

export interface Placement {
  node: NodeState;
  plan: LoadPlan;
  /** The model was not resident on the node: it will load (a cold start). */
  cold: boolean;
}

export interface PlacementOptions {
  /** Nodes a retried request already failed on. */
  exclude?: ReadonlySet<string>;
  /** Requests waiting for the model (decides whether a replica may evict idle models). */
  waiting: number;
}

/**
 * Picks the node for the next request of `model`, or undefined when it must wait. In order:
 * 1. a node where the model is resident and has a free slot, least loaded by
 *    in-flight ÷ slots of the model, then by the node's total in-flight;
 * 2. a node where it loads without evicting anything (this is how a hot model spreads
 *    replicas once its resident nodes are full), least loaded first;
 * 3. a node where it loads after evicting idle models, fewest evictions first — for a model
 *    resident nowhere, or for a replica only when at least one full round (the resident
 *    replicas' slots) is waiting, so a short burst does not evict someone else's model.
 * Busy models are never evicted (`NodeState.planLoad`).
 */
export function choosePlacement(nodes: Iterable<NodeState>, model: string, nowMs: number, options: PlacementOptions): Placement | undefined {
  let resident: NodeState | undefined;
  let residentScore = Infinity;
  let residentSlots = 0;
  let cold: Placement | undefined;
  let coldScore = Infinity;
  for (const node of nodes) {
    if (!node.serves(model) || options.exclude?.has(node.name) || !node.isAvailable(nowMs)) continue;
    const isResident = node.isResident(model);
    if (isResident) residentSlots += node.slotsFor(model);
    if (!node.canTakeNew(nowMs) || !node.hasFreeSlot(model)) continue;
    if (isResident) {
      const score = node.inFlightFor(model) / node.slotsFor(model) + node.inFlight * 1e-6;
      if (score < residentScore) {
        resident = node;
        residentScore = score;
      }
      continue;
    }
    const plan = node.planLoad(model);
    if (!plan) continue;
    const score = plan.evict.length * 1e6 + node.inFlight;
    if (score < coldScore) {
      cold = { node, plan, cold: true };
      coldScore = score;
    }
  }
  if (resident) return { node: resident, plan: { evict: [] }, cold: false };
  if (!cold) return undefined;
  if (cold.plan.evict.length > 0 && residentSlots > 0 && options.waiting < residentSlots) return undefined;
  return cold;
}
