import type { PurgeResult } from './privacy.service.js';

export interface RetentionJobOptions {
  purge: () => Promise<PurgeResult>;
  /** `privacy.purge_interval_ms`; 0 disables the job. */
  intervalMs: number;
  onResult?: (result: PurgeResult) => void;
  onError?: (error: unknown) => void;
  /** Several replicas: only the one leading the `retention` job purges (`LeaderElection`); default always. */
  isLeader?: () => boolean;
}

/**
 * Runs the retention purge in the serving process: once at start, then every interval. The
 * timer is unref'd (it never keeps the process alive) and runs never overlap. With several
 * replicas only the leader runs it (`isLeader`); were two to overlap at a hand-over, deleting
 * what is already gone deletes nothing.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: RetentionJobOptions) {}

  start(): void {
    if (this.timer || this.options.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.runOnce(), this.options.intervalMs);
    this.timer.unref();
    void this.runOnce();
  }

  /** One purge now, unless one is running (then that one's end). */
  runOnce(): Promise<void> {
    if (this.options.isLeader && !this.options.isLeader()) return this.running ?? Promise.resolve();
    this.running ??= this.options.purge()
      .then((result) => this.options.onResult?.(result), (error: unknown) => this.options.onError?.(error))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Stops the timer and waits for a purge in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
