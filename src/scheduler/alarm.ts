import type { SetTimer } from './scheduler-types.js';

export const realTimer: SetTimer = (callback, delayMs) => {
  const handle = setTimeout(callback, delayMs);
  // Waiting requests keep their own sockets open; the scheduler's timer must not hold the process.
  handle.unref();
  return () => clearTimeout(handle);
};

/** One timer, re-set only when the wanted time changes; fires with the scheduler time it was set for. */
export class Alarm {
  private armedAtMs: number | undefined;
  private cancel: (() => void) | undefined;

  constructor(private readonly setTimer: SetTimer, private readonly onFire: (dueAtMs: number) => void) {}

  /** Wants a call at scheduler time `dueAtMs` (undefined: none), now being `nowMs`. */
  set(dueAtMs: number | undefined, nowMs: number): void {
    if (dueAtMs === this.armedAtMs) return;
    this.cancel?.();
    this.cancel = undefined;
    this.armedAtMs = dueAtMs;
    if (dueAtMs === undefined) return;
    this.cancel = this.setTimer(() => {
      this.cancel = undefined;
      this.armedAtMs = undefined;
      this.onFire(dueAtMs);
    }, Math.max(0, dueAtMs - nowMs));
  }
}
