import type { NodeState } from './node-state.js';
import type { AcquireRequest, ModelState } from './scheduler-types.js';
import type { SchedulerSettings } from './settings.js';

/** Retry-After when no drain rate is known yet. */
export const FALLBACK_RETRY_AFTER_S = 5;

/** Whole seconds in [1, max]; unknown or infinite becomes the fallback. */
export function clampRetryAfter(seconds: number | undefined, maxSeconds: number): number {
  const value = seconds === undefined || !Number.isFinite(seconds) ? FALLBACK_RETRY_AFTER_S : Math.ceil(seconds);
  return Math.min(maxSeconds, Math.max(1, value));
}

/** Completions per second of the model: measured, else slots of available nodes ÷ mean service time. */
export function drainPerSecond(nodes: Iterable<NodeState>, state: ModelState, nowMs: number): number | undefined {
  let slots = 0;
  for (const node of nodes) if (node.serves(state.name) && node.isAvailable(nowMs)) slots += node.slotsFor(state.name);
  return state.drain.perSecond(nowMs, slots);
}

/**
 * Time until a request with `ahead` requests before it starts: free resident slots take the
 * first ones at once, each further one needs a completion.
 */
export function estimateWaitMs(nodes: Iterable<NodeState>, state: ModelState, nowMs: number, ahead: number): number | undefined {
  let free = 0;
  const all = [...nodes];
  for (const node of all) {
    if (node.serves(state.name) && node.isResident(state.name) && node.canTakeNew(nowMs)) {
      free += Math.max(0, node.slotsFor(state.name) - node.inFlightFor(state.name));
    }
  }
  const needed = ahead + 1 - free;
  if (needed <= 0) return 0;
  const rate = drainPerSecond(all, state, nowMs);
  return rate === undefined ? undefined : (needed / rate) * 1000;
}

/** Seconds until a user's own `queued` requests drain at their `share` (0..1) of `rate`. */
export function userBacklogSeconds(rate: number | undefined, queued: number, share: number): number | undefined {
  return rate === undefined || share <= 0 ? undefined : (queued + 1) / (rate * share);
}

/** The first problem with a request, naming the field; undefined when it is fine. */
export function validateRequest(request: AcquireRequest, settings: SchedulerSettings): { param: string; message: string } | undefined {
  if (typeof request.model !== 'string' || request.model === '') return { param: 'model', message: 'model must be a non-empty string.' };
  if (typeof request.userId !== 'string' || request.userId === '') return { param: 'userId', message: 'userId must be a non-empty string.' };
  const className = request.priorityClass ?? settings.defaultClass;
  if (!settings.classes.some((c) => c.name === className)) {
    return { param: 'priorityClass', message: `Unknown priority class "${className}"; configured: ${settings.classes.map((c) => c.name).join(', ')}.` };
  }
  const weight = request.weight ?? 1;
  if (!(weight > 0 && Number.isFinite(weight))) return { param: 'weight', message: 'weight must be a finite number > 0.' };
  if (request.maxInFlight !== undefined && !(request.maxInFlight >= 1)) return { param: 'maxInFlight', message: 'maxInFlight must be ≥ 1.' };
  if (request.maxWaitMs !== undefined && !(request.maxWaitMs >= 0)) return { param: 'maxWaitMs', message: 'maxWaitMs must be ≥ 0.' };
  return undefined;
}
