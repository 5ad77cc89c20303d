import { describe as describeStats, mean } from '../../src/lab/loadtest/stats.js';
import type { BenchRecord, RequestClass } from './driver.js';

/** Service-level objectives for goodput (simulated ms). */
export interface Slo {
  interactiveTtftMs: number;
  /** Every request must end within the client time-out (the paper's 300 s). */
  timeoutMs: number;
}

export const DEFAULT_SLO: Slo = { interactiveTtftMs: 5000, timeoutMs: 300_000 };

export interface ClassSummary {
  class: RequestClass;
  requests: number;
  ok: number;
  /** 429/503 before the stream. */
  refused: number;
  /** Of those, 429: the user's own limit (role concurrency or rate, fair share of the queue). */
  refused429: number;
  /** The client's 300 s time-out fired. */
  timedOut: number;
  /** Any other failure (broken stream, connection, HTTP error). */
  failed: number;
  /** Stopped by the benchmark (researchers' requests still open when the rush ended). */
  cut: number;
  ttftP50S: number | null;
  ttftP95S: number | null;
  e2eP50S: number | null;
  e2eP95S: number | null;
  /** Longest time a refused request waited for its refusal. */
  maxRefusalWaitS: number | null;
  /** Requests within the SLO. */
  good: number;
  /** good ÷ the class's span (first send → last end), per simulated second. */
  goodputPerS: number | null;
}

const seconds = (ms: number | undefined) => (ms === undefined ? null : ms / 1000);

export function isGood(r: BenchRecord, slo: Slo): boolean {
  if (!r.ok || r.e2eMs > slo.timeoutMs) return false;
  return r.class === 'batch' || (r.ttftMs !== undefined && r.ttftMs <= slo.interactiveTtftMs);
}

export function summarizeClass(records: readonly BenchRecord[], cls: RequestClass, slo: Slo = DEFAULT_SLO): ClassSummary {
  const mine = records.filter((r) => r.class === cls);
  const counted = mine.filter((r) => r.errorKind !== 'aborted');
  const ok = counted.filter((r) => r.ok);
  const ttft = describeStats(ok.flatMap((r) => (r.ttftMs === undefined ? [] : [r.ttftMs])));
  const e2e = describeStats(ok.map((r) => r.e2eMs));
  const refusals = counted.filter((r) => r.errorKind === 'refused');
  const good = counted.filter((r) => isGood(r, slo)).length;
  const spanMs = counted.length === 0 ? 0
    : counted.reduce((m, r) => Math.max(m, r.sentAtMs + r.e2eMs), -Infinity) - counted.reduce((m, r) => Math.min(m, r.sentAtMs), Infinity);
  return {
    class: cls,
    requests: counted.length,
    ok: ok.length,
    refused: refusals.length,
    refused429: refusals.filter((r) => r.status === 429).length,
    timedOut: counted.filter((r) => r.errorKind === 'timeout').length,
    failed: counted.filter((r) => !r.ok && r.errorKind !== 'refused' && r.errorKind !== 'timeout').length,
    cut: mine.length - counted.length,
    ttftP50S: seconds(ttft?.p50), ttftP95S: seconds(ttft?.p95),
    e2eP50S: seconds(e2e?.p50), e2eP95S: seconds(e2e?.p95),
    maxRefusalWaitS: refusals.length === 0 ? null : refusals.reduce((m, r) => Math.max(m, r.e2eMs), 0) / 1000,
    good,
    goodputPerS: spanMs > 0 ? good / (spanMs / 1000) : null,
  };
}

/** Jain's fairness index of non-negative allocations: (Σx)² ÷ (n·Σx²); 1 = perfectly equal, 1/n = one user gets all. */
export function jainIndex(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  if (squares === 0) return 1;
  return (sum * sum) / (values.length * squares);
}

/** What one request takes with the system to itself: from the lone user's requests. */
export interface LoneReference {
  ttftMs: number;
  /** Per output token after the first. */
  tpotMs: number;
}

export function loneReference(records: readonly BenchRecord[]): LoneReference | undefined {
  const lone = records.filter((r) => r.class === 'lone' && r.ok && r.ttftMs !== undefined);
  if (lone.length === 0) return undefined;
  const tpots = lone.filter((r) => (r.outputTokens ?? 0) >= 2).map((r) => (r.e2eMs - r.ttftMs!) / (r.outputTokens! - 1));
  return { ttftMs: mean(lone.map((r) => r.ttftMs!)), tpotMs: tpots.length > 0 ? mean(tpots) : 0 };
}

/**
 * Per-user normalized service: the mean over a user's requests of (what it would take alone ÷
 * what it took), capped at 1; a refused, timed-out or failed request scores 0. Equal when every
 * user is slowed down (or refused) alike, whatever their request count.
 */
export function normalizedService(records: readonly BenchRecord[], reference: LoneReference): Map<string, number> {
  const perUser = new Map<string, number[]>();
  for (const r of records) {
    if (r.class !== 'interactive' || r.errorKind === 'aborted') continue;
    let score = 0;
    if (r.ok && r.e2eMs > 0) {
      const ideal = reference.ttftMs + Math.max(0, (r.outputTokens ?? 1) - 1) * reference.tpotMs;
      score = Math.min(1, ideal / r.e2eMs);
    }
    const list = perUser.get(r.user) ?? [];
    list.push(score);
    perUser.set(r.user, list);
  }
  return new Map([...perUser].map(([user, scores]) => [user, mean(scores)]));
}

/** Failed requests split by whether the client had seen a token before the failure. */
export function failuresByStart(records: readonly BenchRecord[]): { notStarted: number; started: number } {
  const failed = records.filter((r) => !r.ok && r.errorKind !== 'aborted' && r.errorKind !== 'refused');
  const started = failed.filter((r) => r.ttftMs !== undefined).length;
  return { notStarted: failed.length - started, started };
}
