import type { LeaderLock } from '../store/leader-lock.js';

/**
 * The background jobs that run on one replica of a cluster, by lock name (docs/operations.md,
 * "One runner per background job"). Preloads are claimed per node and model instead
 * (`preload-claim.ts`).
 */
export const LEADER_JOBS = ['retention', 'roster-sync', 'discovery', 'telemetry'] as const;
export type LeaderJob = (typeof LEADER_JOBS)[number];

export interface LeaderElectionOptions {
  lock: LeaderLock;
  /** What is led, e.g. `retention`: one lock per job, so jobs may land on different replicas. */
  name: string;
  /** This replica (`cluster.replica_id`). */
  owner: string;
  /** `cluster.leader_lock_ttl_ms`: a dead leader's lock is free again after this long. Renewed every third of it. */
  ttlMs: number;
  nowMs?: () => number;
  onChange?: (leader: boolean, fencingToken: number | undefined) => void;
  onError?: (error: unknown) => void;
}

/**
 * One runner for a background job across replicas: the replica holding the lock leads. Every
 * replica asks for the lock every third of its TTL; the holder renews it, the others take it
 * once it has expired (a leader that died or lost Redis). A leader that cannot renew stops
 * leading at its lock's expiry by its own clock, before another replica can take the lock. With
 * one replica (a `LocalLeaderLock`) it always leads.
 */
export class LeaderElection {
  private token: number | undefined;
  private leadsUntilMs = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | undefined;
  private readonly nowMs: () => number;

  constructor(private readonly options: LeaderElectionOptions) {
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Asks for the lock now, and keeps asking (renewing while it leads) until `stop`. */
  start(): Promise<void> {
    if (!this.timer) {
      this.timer = setInterval(() => void this.tryLead(), Math.max(100, Math.floor(this.options.ttlMs / 3)));
      this.timer.unref();
    }
    return this.tryLead();
  }

  get isLeader(): boolean {
    return this.token !== undefined && this.nowMs() < this.leadsUntilMs;
  }

  /** Grows with every change of leader: a job's writes can carry it so a stale leader's are told apart. */
  get fencingToken(): number | undefined {
    return this.isLeader ? this.token : undefined;
  }

  /** One attempt to take or renew the lock (the timer calls it; tests may too). */
  tryLead(): Promise<void> {
    this.attempt ??= (async () => {
      const wasLeader = this.isLeader;
      const startedMs = this.nowMs();
      try {
        const token = await this.options.lock.acquire(this.options.name, this.options.owner, this.options.ttlMs);
        this.token = token;
        // Counted from before the call: the lock's TTL in Redis started no earlier than that.
        this.leadsUntilMs = token === undefined ? -Infinity : startedMs + this.options.ttlMs;
      } catch (error) {
        this.options.onError?.(error);
      }
      if (this.isLeader !== wasLeader) this.options.onChange?.(this.isLeader, this.fencingToken);
    })().finally(() => {
      this.attempt = undefined;
    });
    return this.attempt;
  }

  /** Stops asking and gives the lock up at once, so another replica leads without waiting for the TTL. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.attempt;
    const wasLeader = this.token !== undefined;
    this.token = undefined;
    this.leadsUntilMs = -Infinity;
    if (wasLeader) await this.options.lock.release(this.options.name, this.options.owner).catch((error: unknown) => this.options.onError?.(error));
  }
}
