import { toCanonicalModelName } from '../core/model-name.js';
import type { NodeInit, NodeKind } from './node-state.js';
import type { PlacementMode } from './placement.js';

/** One priority class; the order of `SchedulerSettings.classes` is the priority order. */
export interface PriorityClass {
  name: string;
  /** Deadline: the longest a request may wait for a slot. */
  maxWaitMs: number;
  /**
   * Largest share (0–1] of a model's slots this class may hold at once. Below 1 it keeps slots
   * free for higher classes: long batch jobs cannot fill a model before a rush of students.
   */
  maxShare?: number;
  /** How its requests pick among ready nodes (`placement.ts`); default `spread`. */
  placement?: PlacementMode;
}

export interface SchedulerSettings {
  classes: readonly PriorityClass[];
  defaultClass: string;
  maxQueuePerModel: number;
  maxInFlightPerUser: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  drainRateWindowMs: number;
  maxRetryAfterSeconds: number;
  /** Re-place a request that failed before its first byte once, on another node. */
  retryBeforeFirstByte: boolean;
  /**
   * When a `spread` request finds no idle replica of its model, load the model on an idle node
   * that takes it without evicting anything, ahead of demand (needs `SchedulerOptions.preload`).
   */
  preloadReplicas: boolean;
  /**
   * A class may use more than its `maxShare` while no higher class has asked for the model for
   * this long (ms): idle capacity is lent to batch, and taken back as its requests end once
   * interactive use returns. 0 never lends.
   */
  lendIdleAfterMs: number;
  /**
   * Share of a model's slots kept free for users with nothing in flight on it, while other
   * users are around (at least 1 slot when the model has 2 or more; none with 1). 0 turns it off.
   */
  newcomerReserve: number;
  /** The reserve holds while another user asked for or finished a request of the model this recently (ms); then it is lent. */
  newcomerWindowMs: number;
}

export const DEFAULT_SETTINGS: SchedulerSettings = {
  classes: [{ name: 'interactive', maxWaitMs: 60_000 }, { name: 'batch', maxWaitMs: 600_000, maxShare: 0.25, placement: 'pack' }],
  defaultClass: 'interactive',
  maxQueuePerModel: 1000,
  maxInFlightPerUser: 8,
  breakerFailures: 5,
  breakerCooldownMs: 30_000,
  drainRateWindowMs: 60_000,
  maxRetryAfterSeconds: 600,
  retryBeforeFirstByte: true,
  preloadReplicas: true,
  lendIdleAfterMs: 0,
  newcomerReserve: 0.125,
  newcomerWindowMs: 60_000,
};

/**
 * The parts of the loaded config the scheduler reads, typed structurally so this folder does
 * not import src/config (the gateway passes `config` in as it is).
 */
export interface SchedulerConfigInput {
  scheduler: {
    classes: readonly { name: string; max_wait_ms: number; max_share?: number; placement?: PlacementMode }[];
    default_class: string;
    max_queue_per_model: number;
    max_in_flight_per_user: number;
    breaker_failures: number;
    breaker_cooldown_ms: number;
    drain_rate_window_ms: number;
    max_retry_after_s: number;
    preload_replicas?: boolean;
    lend_idle_after_ms?: number;
    newcomer_reserve?: number;
    newcomer_window_ms?: number;
  };
  upstream: { retry_before_first_byte: boolean };
  nodes?: readonly { name: string; type: NodeKind; slots?: number; models?: readonly string[] }[];
  embedded?: { default_slots: number };
}

export function settingsFromConfig(config: SchedulerConfigInput): SchedulerSettings {
  const s = config.scheduler;
  return {
    classes: s.classes.map((c) => ({ name: c.name, maxWaitMs: c.max_wait_ms, maxShare: c.max_share, placement: c.placement })),
    defaultClass: s.default_class,
    maxQueuePerModel: s.max_queue_per_model,
    maxInFlightPerUser: s.max_in_flight_per_user,
    breakerFailures: s.breaker_failures,
    breakerCooldownMs: s.breaker_cooldown_ms,
    drainRateWindowMs: s.drain_rate_window_ms,
    maxRetryAfterSeconds: s.max_retry_after_s,
    retryBeforeFirstByte: config.upstream.retry_before_first_byte,
    preloadReplicas: s.preload_replicas ?? DEFAULT_SETTINGS.preloadReplicas,
    lendIdleAfterMs: s.lend_idle_after_ms ?? DEFAULT_SETTINGS.lendIdleAfterMs,
    newcomerReserve: s.newcomer_reserve ?? DEFAULT_SETTINGS.newcomerReserve,
    newcomerWindowMs: s.newcomer_window_ms ?? DEFAULT_SETTINGS.newcomerWindowMs,
  };
}

/**
 * The scheduler's view of the nodes it serves — the one converter from node config, used by the
 * gateway and the tests alike. `serving` are the nodes actually built (default: the configured
 * ones; the runtime may serve nodes the config does not list). Slots come from the node's config,
 * embedded nodes default to `embedded.default_slots`; model restrictions are canonical names, as
 * the registry names models. Discovery and probes fill in the rest with `updateNode`.
 */
export function nodesFromConfig(config: SchedulerConfigInput, serving?: readonly { name: string; type: NodeKind }[]): NodeInit[] {
  const configured = config.nodes ?? [];
  return (serving ?? configured).map((backend) => {
    const node = configured.find((n) => n.name === backend.name);
    const slots = node?.slots ?? (backend.type === 'embedded' ? config.embedded?.default_slots : undefined);
    return { name: backend.name, type: backend.type, configuredSlots: slots, allowedModels: node?.models?.map(toCanonicalModelName) };
  });
}
