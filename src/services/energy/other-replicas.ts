import type { SlotStore } from '../../store/slot-store.js';
import type { EnergyMeter } from '../../telemetry/energy-meter.js';

export interface OtherReplicasLoadOptions {
  /** The shared slot budget (Redis) this replica and the others take the nodes' slots from. */
  slots: Pick<SlotStore, 'heldOnNodes'>;
  /** What this replica's slot ids start with (`SharedSlotBudget.slotIdPrefix`): those are its own requests. */
  ownSlotIdPrefix: string;
  meter: Pick<EnergyMeter, 'observeOtherReplicas'>;
  nowMs?: () => number;
  warn?: (message: string, details?: Record<string, unknown>) => void;
}

/**
 * Tells the energy meter how many requests the other replicas run on each node: one read of the shared slot
 * budget, made once per telemetry round (never on the request path). A slot stands for a request — slots are
 * taken just before a request starts and given back as it ends, so the count is a snapshot of what runs. When
 * Redis fails the meter keeps the last observation; the failure is reported once until a read succeeds again.
 */
export function otherReplicasLoad(options: OtherReplicasLoadOptions): () => Promise<void> {
  const nowMs = options.nowMs ?? Date.now;
  let failing = false;
  return async () => {
    try {
      options.meter.observeOtherReplicas(await options.slots.heldOnNodes(nowMs(), options.ownSlotIdPrefix));
      failing = false;
    } catch (error) {
      if (!failing) options.warn?.('energy: cannot read the other replicas\' requests from Redis; attributing with the last known', { error: String(error) });
      failing = true;
    }
  };
}
