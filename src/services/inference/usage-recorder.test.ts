import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { describeEachDatabase } from '../../../test/helpers/db.js';
import type { NewUsageRecord } from '../../store/usage.repository.js';
import { UsageRecorder, type UsageEntry, type UsageRecorderOptions, type UsageSink } from './usage-recorder.js';

function entry(i: number): UsageEntry {
  return {
    requestId: `r${i}`, endpoint: '/v1/chat/completions', protocol: 'openai', model: 'm', status: 200,
    promptTokens: 1, completionTokens: 1, durationMs: 1,
  };
}

/** A sink that records batches, can be made to fail, and lets a test hold a write open. */
class FakeSink implements UsageSink {
  batches: NewUsageRecord[][] = [];
  failNext = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }
  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }
  async insertMany(records: readonly NewUsageRecord[]): Promise<void> {
    if (this.gate) await this.gate;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('database is down');
    }
    this.batches.push([...records]);
  }
  get ids(): string[] {
    return this.batches.flat().map((r) => r.requestId);
  }
}

describe('UsageRecorder', () => {
  const recorders: UsageRecorder[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const r of recorders.splice(0)) await r.close();
  });
  const make = (sink: UsageSink, options: Partial<UsageRecorderOptions> = {}) => {
    const warnings: string[] = [];
    const recorder = new UsageRecorder(sink, {
      flushIntervalMs: 3_600_000, batchSize: 3, clock: new ManualClock(Date.UTC(2026, 0, 2)),
      warn: (message) => warnings.push(message), ...options,
    });
    recorders.push(recorder);
    return { recorder, warnings };
  };

  it('starts a write as soon as batch_size records are buffered, and not before', async () => {
    const sink = new FakeSink();
    const insert = vi.spyOn(sink, 'insertMany');
    const { recorder } = make(sink);
    recorder.record(entry(1));
    recorder.record(entry(2));
    expect(insert).not.toHaveBeenCalled();
    expect(recorder.stats().buffered).toBe(2);
    recorder.record(entry(3));
    expect(insert).toHaveBeenCalledTimes(1);
    await recorder.flush();
    expect(sink.batches.map((b) => b.map((r) => r.requestId))).toEqual([['r1', 'r2', 'r3']]);
  });

  it('flushed() resolves only once the records handed over before it are written, also past a write in progress', async () => {
    const sink = new FakeSink();
    const { recorder } = make(sink, { batchSize: 100 });
    recorder.record(entry(1));
    sink.hold();
    const first = recorder.flushed();
    // r2 arrives while r1's write is held open: its own flushed() must wait for a second write.
    recorder.record(entry(2));
    let secondDone = false;
    const second = recorder.flushed().then(() => { secondDone = true; });
    await Promise.resolve();
    expect(sink.ids).toEqual([]);
    sink.release();
    await first;
    await second;
    expect(secondDone).toBe(true);
    expect(sink.ids).toEqual(['r1', 'r2']);
  });

  it('writes on the flush interval, in batches of at most batch_size, stamping created_at', async () => {
    vi.useFakeTimers();
    const sink = new FakeSink();
    const { recorder } = make(sink, { flushIntervalMs: 1000, batchSize: 100 });
    for (let i = 0; i < 250; i++) recorder.record({ ...entry(i), createdAt: i === 0 ? '2025-01-01T00:00:00.000Z' : undefined });
    // The size trigger wrote the first 100 already or will with the timer; either way all are written once.
    await vi.advanceTimersByTimeAsync(1000);
    expect(sink.ids).toEqual(Array.from({ length: 250 }, (_, i) => `r${i}`));
    expect(sink.batches.every((b) => b.length <= 100)).toBe(true);
    expect(sink.batches[0]![0]!.createdAt).toBe('2025-01-01T00:00:00.000Z');
    expect(sink.batches[0]![1]!.createdAt).toBe('2026-01-02T00:00:00.000Z');
    expect(recorder.stats()).toMatchObject({ buffered: 0, written: 250, dropped: 0 });
  });

  it('writes everything left on close', async () => {
    const sink = new FakeSink();
    const { recorder } = make(sink, { batchSize: 1000 });
    for (let i = 0; i < 5; i++) recorder.record(entry(i));
    await recorder.close();
    expect(sink.ids).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });

  it('waits for a write in progress on close and then writes the rest', async () => {
    const sink = new FakeSink();
    const { recorder } = make(sink, { batchSize: 2 });
    sink.hold();
    recorder.record(entry(1));
    recorder.record(entry(2)); // starts a write that is held open
    recorder.record(entry(3));
    const closing = recorder.close();
    sink.release();
    await closing;
    expect(sink.ids).toEqual(['r1', 'r2', 'r3']);
  });

  it('keeps a failed batch and writes it first on the next flush', async () => {
    const sink = new FakeSink();
    const { recorder, warnings } = make(sink, { batchSize: 2 });
    sink.failNext = 1;
    recorder.record(entry(1));
    recorder.record(entry(2));
    await recorder.flush();
    expect(sink.batches).toEqual([]);
    expect(warnings.some((w) => w.includes('failed'))).toBe(true);
    expect(recorder.stats()).toMatchObject({ buffered: 2, failedFlushes: 1 });
    recorder.record(entry(3));
    await recorder.flush();
    expect(sink.ids).toEqual(['r1', 'r2', 'r3']);
    expect(recorder.stats()).toMatchObject({ buffered: 0, written: 3 });
  });

  it('does not retry on every record while the database is failing, only on the timer', async () => {
    vi.useFakeTimers();
    const sink = new FakeSink();
    const insert = vi.spyOn(sink, 'insertMany');
    const { recorder } = make(sink, { batchSize: 1, flushIntervalMs: 1000 });
    sink.failNext = 1;
    recorder.record(entry(1));
    await vi.advanceTimersByTimeAsync(0);
    expect(insert).toHaveBeenCalledTimes(1);
    for (let i = 2; i <= 10; i++) recorder.record(entry(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(insert).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sink.ids).toEqual(Array.from({ length: 10 }, (_, i) => `r${i + 1}`));
  });

  it('retries on close after failures and loses nothing when the database is back', async () => {
    const sink = new FakeSink();
    const { recorder } = make(sink, { batchSize: 10 });
    sink.failNext = 1;
    for (let i = 0; i < 4; i++) recorder.record(entry(i));
    await recorder.flush();
    await recorder.close();
    expect(sink.ids).toEqual(['r0', 'r1', 'r2', 'r3']);
  });

  it('reports records it could not write at close', async () => {
    const sink = new FakeSink();
    const { recorder, warnings } = make(sink);
    sink.failNext = 10;
    recorder.record(entry(1));
    await recorder.close();
    expect(warnings.at(-1)).toContain('lost');
    expect(recorder.stats().buffered).toBe(1);
  });

  it('drops the oldest records beyond its bound, counts them and warns', async () => {
    const sink = new FakeSink();
    const { recorder, warnings } = make(sink, { batchSize: 2, maxBufferedRecords: 4 });
    sink.failNext = 1;
    recorder.record(entry(0));
    recorder.record(entry(1)); // this batch fails and is kept aside
    await recorder.flush();
    for (let i = 2; i < 9; i++) recorder.record(entry(i)); // 7 more into a buffer of 4
    expect(recorder.stats()).toMatchObject({ dropped: 3, buffered: 6 });
    await recorder.flush();
    expect(sink.ids).toEqual(['r0', 'r1', 'r5', 'r6', 'r7', 'r8']);
    expect(warnings.some((w) => w.includes('dropped'))).toBe(true);
  });

  it('drops and counts records that arrive after close', async () => {
    const sink = new FakeSink();
    const { recorder } = make(sink);
    await recorder.close();
    recorder.record(entry(1));
    expect(recorder.stats()).toMatchObject({ dropped: 1, buffered: 0 });
  });
});

describeEachDatabase('UsageRecorder with the usage repository', (getStore) => {
  it('has every recorded request in the database after close', async () => {
    const store = getStore();
    const recorder = new UsageRecorder(store.usage, { flushIntervalMs: 3_600_000, batchSize: 7 });
    for (let i = 0; i < 30; i++) recorder.record(entry(i));
    await recorder.close();
    const rows = await store.db.selectFrom('usage_records').select('request_id').orderBy('id').execute();
    expect(rows.map((r) => r.request_id)).toEqual(Array.from({ length: 30 }, (_, i) => `r${i}`));
  });
});
