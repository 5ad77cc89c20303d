import { FlexiError } from '../../core/errors.js';

interface Waiter<T> {
  resolve(item: T): void;
  reject(error: unknown): void;
  signal: AbortSignal;
  onAbort(): void;
}

/**
 * A fixed set of items (context sequences) handed out first come, first served. Requests beyond
 * the items wait in a bounded FIFO; an aborted waiter leaves the queue at once. The scheduler will
 * later keep excess requests out, so the queue stays small.
 */
export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiters: Waiter<T>[] = [];
  /** Items in the pool, free or handed out. */
  readonly size: number;

  constructor(items: readonly T[], private readonly maxWaiting = 256) {
    this.free = [...items];
    this.size = items.length;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get available(): number {
    return this.free.length;
  }

  acquire(signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(abortError());
    const item = this.free.pop();
    if (item !== undefined) return Promise.resolve(item);
    if (this.waiters.length >= this.maxWaiting) {
      return Promise.reject(new FlexiError('overloaded', `All slots of the model are busy and ${this.maxWaiting} requests are waiting.`, { retryAfterSeconds: 1 }));
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve, reject, signal,
        onAbort: () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(abortError());
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(item: T): void {
    const waiter = this.waiters.shift();
    if (!waiter) {
      this.free.push(item);
      return;
    }
    waiter.signal.removeEventListener('abort', waiter.onAbort);
    waiter.resolve(item);
  }

  /** Rejects every waiter (the model is being unloaded). */
  rejectAll(error: unknown): void {
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.reject(error);
    }
  }
}

export function abortError(): FlexiError {
  return new FlexiError('client_closed_request', 'The request was cancelled.');
}
