import { systemClock, type Clock } from '../../lib/clock.js';
import { toTimestamp } from '../../store/database.js';
import type { NewUsageRecord, UsageRepository } from '../../store/usage.repository.js';

export type WarnLogger = (message: string, details?: Record<string, unknown>) => void;

/** A usage record as the response path hands it over; `createdAt` defaults to now. */
export type UsageEntry = Omit<NewUsageRecord, 'createdAt'> & { createdAt?: string | Date };

export type UsageSink = Pick<UsageRepository, 'insertMany'>;

export interface UsageRecorderOptions {
  /** `usage.flush_interval_ms`. */
  flushIntervalMs: number;
  /** `usage.batch_size`: the most records per write, and the count that triggers a write early. */
  batchSize: number;
  /** Records held while the database is unreachable; beyond it the oldest are dropped and counted. */
  maxBufferedRecords?: number;
  clock?: Clock;
  warn?: WarnLogger;
}

export interface UsageRecorderStats {
  buffered: number;
  written: number;
  dropped: number;
  failedFlushes: number;
}

/** Fixed-capacity FIFO whose push is O(1) and overwrites the oldest item when full. */
class RingBuffer<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  size = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  /** Returns true when the oldest item was overwritten. */
  push(item: T): boolean {
    if (this.size < this.capacity) {
      this.items[(this.head + this.size) % this.capacity] = item;
      this.size += 1;
      return false;
    }
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
    return true;
  }

  take(count: number): T[] {
    const n = Math.min(count, this.size);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.items[this.head] as T;
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
    }
    this.size -= n;
    return out;
  }
}

/**
 * Collects usage records off the response path and writes them in batches. `record` never
 * touches the database; a timer (and a full batch) triggers the write. A failed write keeps
 * its batch for the next attempt; `close` writes whatever is left.
 */
export class UsageRecorder {
  private readonly batchSize: number;
  private readonly clock: Clock;
  private readonly warn: WarnLogger;
  private readonly buffer: RingBuffer<NewUsageRecord>;
  /** A batch taken from the buffer whose write has not succeeded yet; always written first. */
  private pending: NewUsageRecord[] | undefined;
  private flushing: Promise<void> | undefined;
  /** After a failed write, only the timer retries, so a down database is not hit per request. */
  private failing = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private written = 0;
  private dropped = 0;
  private droppedReported = 0;
  private failedFlushes = 0;

  constructor(private readonly sink: UsageSink, options: UsageRecorderOptions) {
    this.batchSize = Math.max(1, options.batchSize);
    this.clock = options.clock ?? systemClock;
    this.warn = options.warn ?? (() => {});
    this.buffer = new RingBuffer(Math.max(this.batchSize, options.maxBufferedRecords ?? 100_000));
    this.timer = setInterval(() => void this.flush(), Math.max(1, options.flushIntervalMs));
    this.timer.unref();
  }

  /** Synchronous and O(1): buffers the record for the next batch write. */
  record(entry: UsageEntry): void {
    if (this.closed) {
      this.dropped += 1;
      this.warn('usage record arrived after the recorder was closed; dropped', { requestId: entry.requestId });
      return;
    }
    // InferenceService hands over a Date (core/usage.ts); the database wants ISO text on both dialects.
    const createdAt = entry.createdAt instanceof Date ? entry.createdAt.toISOString() : entry.createdAt ?? toTimestamp(this.clock.now());
    const record: NewUsageRecord = { ...entry, createdAt };
    if (this.buffer.push(record)) this.dropped += 1;
    if (!this.flushing && !this.failing && this.buffer.size >= this.batchSize) void this.flush();
  }

  /** Writes everything buffered; resolves (never rejects) when done or when a write failed. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Resolves once every record buffered before the call is written (or its write failed): waits
   * for a write in progress, then writes the rest. Requests finishing together share one write.
   */
  async flushed(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.bufferedCount() > 0) await this.flush();
  }

  /** Stops the timer and writes what is left; records that still cannot be written are reported lost. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    // The write in progress may fail; give the rest one fresh attempt after it.
    if (this.flushing) await this.flushing;
    await this.flush();
    const lost = this.bufferedCount();
    if (lost > 0) this.warn('usage records could not be written before shutdown and are lost', { lost });
  }

  stats(): UsageRecorderStats {
    return { buffered: this.bufferedCount(), written: this.written, dropped: this.dropped, failedFlushes: this.failedFlushes };
  }

  private bufferedCount(): number {
    return this.buffer.size + (this.pending?.length ?? 0);
  }

  private async drain(): Promise<void> {
    if (this.dropped > this.droppedReported) {
      this.warn('usage buffer full: oldest records dropped', { dropped: this.dropped - this.droppedReported, droppedTotal: this.dropped });
      this.droppedReported = this.dropped;
    }
    for (;;) {
      const batch = this.pending ?? this.buffer.take(this.batchSize);
      if (batch.length === 0) return;
      this.pending = batch;
      try {
        await this.sink.insertMany(batch);
      } catch (error) {
        this.failing = true;
        this.failedFlushes += 1;
        this.warn('writing usage records failed; will retry', { records: this.bufferedCount(), error: String(error) });
        return;
      }
      this.pending = undefined;
      this.failing = false;
      this.written += batch.length;
    }
  }
}
