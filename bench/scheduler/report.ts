import { PAPER_APPENDIX_A, PAPER_PROMPTS } from '../../src/lab/data/paper-appendix-a.js';
import { SYSTEM_LABELS, type SystemKind } from './cluster.js';
import type { BenchRecord } from './driver.js';
import { failuresByStart, jainIndex, loneReference, normalizedService, summarizeClass, type ClassSummary, type Slo } from './metrics.js';

/** One scenario against one system: its records and what they add up to. */
export interface RunResult {
  scenario: 'grid' | 'rush' | 'kill';
  system: SystemKind;
  speed: number;
  /** Mean pacing lag of the sim nodes (simulated ms): small against the latencies = the machine kept up. */
  pacingLagMs?: number;
  wallS: number;
  records: BenchRecord[];
  killedAtMs?: number;
  /** Flexi's own queue-wait histogram (`flexi_queue_wait_seconds`) per scheduler class. */
  gatewayQueue?: GatewayQueueByClass;
}

/** Keyed by Flexi's class (`interactive`, `batch`, …); the lone user's few requests count as interactive. */
export type GatewayQueueByClass = Record<string, GatewayQueue>;

export interface GatewayQueue {
  requests: number;
  /** Mean wait for a node, simulated s. */
  meanWaitS: number;
  /** Share of requests that waited more than 5 ms real time (the histogram's first bucket). */
  queuedShare: number;
}

/** Reads Flexi's queue-wait histogram from /metrics per class (summed over models); times × speed. */
export async function gatewayQueue(url: string, speed: number): Promise<GatewayQueueByClass | undefined> {
  try {
    return parseGatewayQueue(await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text(), speed);
  } catch {
    return undefined;
  }
}

export function parseGatewayQueue(metrics: string, speed: number): GatewayQueueByClass | undefined {
  const raw = new Map<string, { count: number; sum: number; firstBucket: number }>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('flexi_queue_wait_seconds_')) continue;
    const cls = /class="([^"]*)"/.exec(line)?.[1] ?? 'all';
    const entry = raw.get(cls) ?? { count: 0, sum: 0, firstBucket: 0 };
    raw.set(cls, entry);
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('flexi_queue_wait_seconds_count')) entry.count += value;
    else if (line.startsWith('flexi_queue_wait_seconds_sum')) entry.sum += value;
    else if (line.startsWith('flexi_queue_wait_seconds_bucket{le="0.005"')) entry.firstBucket += value;
  }
  const result: GatewayQueueByClass = {};
  for (const [cls, e] of raw) {
    if (e.count > 0) result[cls] = { requests: e.count, meanWaitS: (e.sum * speed) / e.count, queuedShare: 1 - e.firstBucket / e.count };
  }
  return Object.keys(result).length > 0 ? result : undefined;
}

export interface RunSummary {
  scenario: RunResult['scenario'];
  system: SystemKind;
  speed: number;
  pacingLagMs?: number;
  wallS: number;
  classes: ClassSummary[];
  lone?: { ttftP50S: number | null; ttftP95S: number | null };
  /** Jain's index of per-user normalized service across interactive users. */
  jain: number | null;
  interactiveUsers: number;
  failures: { notStarted: number; started: number };
  gatewayQueue?: GatewayQueueByClass;
}

export function summarizeRun(run: RunResult, slo: Slo): RunSummary {
  const classes = (['interactive', 'batch', 'lone'] as const)
    .filter((c) => run.records.some((r) => r.class === c)).map((c) => summarizeClass(run.records, c, slo));
  const lone = classes.find((c) => c.class === 'lone');
  const reference = loneReference(run.records);
  const service = reference ? normalizedService(run.records, reference) : new Map<string, number>();
  return {
    scenario: run.scenario, system: run.system, speed: run.speed, pacingLagMs: run.pacingLagMs, wallS: run.wallS, classes,
    lone: lone ? { ttftP50S: lone.ttftP50S, ttftP95S: lone.ttftP95S } : undefined,
    jain: jainIndex([...service.values()]), interactiveUsers: service.size,
    failures: failuresByStart(run.records.filter((r) => r.class !== 'lone')),
    gatewayQueue: run.gatewayQueue,
  };
}

const f = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

function queueCell(s: RunSummary, cls: string): string {
  const queue = s.gatewayQueue?.[cls];
  if (!queue) return '';
  return `${(queue.queuedShare * 100).toFixed(0)} %, ${f(queue.meanWaitS, 2)}`;
}

/** Side-by-side table: one row per system and class. */
export function renderScenarioTable(summaries: readonly RunSummary[]): string {
  const lines = [
    '| system | class | req | ok | refused (429 / 503) | timed out | failed (not started / started) | TTFT p50 / p95 s | e2e p50 / p95 s | goodput /s | Jain | Flexi queue: queued, mean s | ×speed, lag ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of summaries) {
    for (const c of s.classes) {
      const failed = c.class === 'lone' ? String(c.failed) : `${c.failed} (${s.failures.notStarted} / ${s.failures.started})`;
      lines.push(`| ${SYSTEM_LABELS[s.system]} | ${c.class} | ${c.requests} | ${c.ok} | ${c.refused429} / ${c.refused - c.refused429} | ${c.timedOut} | ${failed} | `
        + `${f(c.ttftP50S, 2)} / ${f(c.ttftP95S, 2)} | ${f(c.e2eP50S)} / ${f(c.e2eP95S)} | ${f(c.goodputPerS, 2)} | `
        + `${c.class === 'interactive' ? f(s.jain, 3) : ''} | ${queueCell(s, c.class)} | ×${s.speed}, ${f(s.pacingLagMs, 0)} |`);
    }
  }
  return lines.join('\n');
}

function paperMeanS(model: string, promptIndex: number, level: number): number | undefined {
  return PAPER_APPENDIX_A.find((c) => c.model === model && c.prompt === PAPER_PROMPTS[promptIndex] && c.concurrentQueries === level)?.meanS;
}

/** The grid in the paper's measure: mean seconds of finished or timed-out requests, p95 TTFT, time-outs. */
export function renderGridTable(runs: readonly RunResult[]): string {
  const systems = runs.map((r) => r.system);
  const header = ['| model | prompt | CQ | paper s', ...systems.map((s) => `${SYSTEM_LABELS[s]}: mean s · p95 TTFT s · t/o · refused`)].join(' | ');
  const lines = [`${header} |`, `|${' --- |'.repeat(4 + systems.length)}`];
  const cells = new Map<string, { model: string; promptIndex: number; level: number }>();
  for (const run of runs) {
    for (const r of run.records) {
      if (r.level === undefined || r.promptIndex === undefined) continue;
      cells.set(`${r.model}|${r.promptIndex}|${r.level}`, { model: r.model, promptIndex: r.promptIndex, level: r.level });
    }
  }
  for (const cell of cells.values()) {
    const columns = runs.map((run) => {
      const mine = run.records.filter((r) => r.model === cell.model && r.promptIndex === cell.promptIndex && r.level === cell.level);
      const latency = mine.filter((r) => r.ok || r.errorKind === 'timeout').map((r) => r.e2eMs / 1000);
      const ttfts = mine.filter((r) => r.ok && r.ttftMs !== undefined).map((r) => r.ttftMs! / 1000).sort((a, b) => a - b);
      const p95 = ttfts.length === 0 ? undefined : ttfts[Math.min(ttfts.length - 1, Math.ceil(0.95 * ttfts.length) - 1)];
      const mean = latency.length === 0 ? undefined : latency.reduce((a, b) => a + b, 0) / latency.length;
      const timeouts = mine.filter((r) => r.errorKind === 'timeout').length;
      const refused = mine.filter((r) => r.errorKind === 'refused').length;
      return `${f(mean)} · ${f(p95, 2)} · ${timeouts} · ${refused}`;
    });
    lines.push(`| ${cell.model} | ${cell.promptIndex + 1} | ${cell.level} | ${f(paperMeanS(cell.model, cell.promptIndex, cell.level), 0)} | ${columns.join(' | ')} |`);
  }
  return lines.join('\n');
}
