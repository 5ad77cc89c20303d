import type { EnergyRepository, NodeEnergyRecord } from '../../store/energy.repository.js';
import type { EnergyIntervalSink, NodeEnergyInterval } from '../../telemetry/energy-meter.js';

const MINUTE_MS = 60_000;

/**
 * Folds the meter's settled intervals (one per sample, about a second each) into one row per node and minute,
 * and writes the finished minutes in a batch off the request path. A failed write keeps its rows for the next.
 */
export class EnergyWriter implements EnergyIntervalSink {
  private readonly open = new Map<string, NodeEnergyRecord & { minute: number }>();
  private ready: NodeEnergyRecord[] = [];
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly repository: Pick<EnergyRepository, 'insertMany'>,
    private readonly options: { flushIntervalMs: number; warn?: (message: string, details?: Record<string, unknown>) => void },
  ) {
    this.timer = setInterval(() => void this.flush(false), Math.max(100, options.flushIntervalMs));
    this.timer.unref();
  }

  record(interval: NodeEnergyInterval): void {
    const minute = Math.floor(interval.startMs / MINUTE_MS);
    const current = this.open.get(interval.node);
    if (current && current.minute !== minute) {
      this.ready.push(toRecord(current));
      this.open.delete(interval.node);
    }
    const row = this.open.get(interval.node);
    if (!row) {
      this.open.set(interval.node, {
        minute, node: interval.node, startedAt: new Date(interval.startMs).toISOString(), endedAt: new Date(interval.endMs).toISOString(),
        energyJoules: interval.joules, idleJoules: interval.idleJoules, gpus: interval.gpus,
      });
      return;
    }
    row.endedAt = new Date(interval.endMs).toISOString();
    row.energyJoules += interval.joules;
    row.idleJoules += interval.idleJoules;
    row.gpus = Math.max(row.gpus, interval.gpus);
  }

  /** Writes the finished minutes (`all`: the open ones too, as at shutdown); never rejects. */
  flush(all = true): Promise<void> {
    if (all) {
      for (const row of this.open.values()) this.ready.push(toRecord(row));
      this.open.clear();
    }
    this.writing ??= this.write().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.flush(true);
  }

  private async write(): Promise<void> {
    const batch = this.ready;
    if (batch.length === 0) return;
    this.ready = [];
    try {
      await this.repository.insertMany(batch);
    } catch (error) {
      this.ready = [...batch, ...this.ready];
      this.options.warn?.('writing node energy failed; will retry', { rows: batch.length, error: String(error) });
    }
  }
}

function toRecord(row: NodeEnergyRecord & { minute: number }): NodeEnergyRecord {
  const { minute: _minute, ...record } = row;
  return record;
}
