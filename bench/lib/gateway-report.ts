import type { LatencyStats } from './load.js';
import type { StreamMemory, MemorySample } from './stream-memory.js';

/** Markdown tables and target checks of the gateway benchmark. */

export interface ScenarioResult {
  latency: LatencyStats;
  ttft?: LatencyStats;
  requestsPerSecond: number;
  /** CPU of the gateway process per request; absent for direct. */
  cpuMsPerRequest?: number;
  simCpuMsPerRequest: number;
}

export interface ScenarioInfo {
  id: string;
  label: string;
  stream: boolean;
  concurrency: number;
}

export interface TargetInfo {
  id: string;
  label: string;
}

/** Per scenario id, per target id. */
export type Results = Record<string, Record<string, ScenarioResult>>;

interface Row {
  metric: string;
  values: Record<string, number | undefined>;
  /** 'added': target − direct in ms; 'ratio': target / direct; 'cpu': target / pipe proxy. */
  kind: 'added' | 'ratio' | 'cpu';
  digits?: number;
}

const fmt = (value: number | undefined, digits = 3) => (value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));
export const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function rowsFor(scenario: ScenarioInfo, r: Record<string, ScenarioResult>): Row[] {
  const pick = (f: (x: ScenarioResult) => number | undefined) => Object.fromEntries(Object.entries(r).map(([id, x]) => [id, f(x)]));
  const rows: Row[] = [];
  const what = scenario.stream ? 'total' : 'latency';
  rows.push({ metric: `${scenario.label} ${what} p50 (ms)`, values: pick((x) => x.latency.p50Ms), kind: 'added' });
  rows.push({ metric: `${scenario.label} ${what} p99 (ms)`, values: pick((x) => x.latency.p99Ms), kind: 'added' });
  if (scenario.stream) {
    rows.push({ metric: `${scenario.label} TTFT p50 (ms)`, values: pick((x) => x.ttft?.p50Ms), kind: 'added' });
    rows.push({ metric: `${scenario.label} TTFT p99 (ms)`, values: pick((x) => x.ttft?.p99Ms), kind: 'added' });
  }
  if (scenario.concurrency > 1) {
    rows.push({ metric: `${scenario.label} requests/s`, values: pick((x) => x.requestsPerSecond), kind: 'ratio', digits: 0 });
  }
  rows.push({ metric: `${scenario.label} gateway CPU ms/request`, values: pick((x) => x.cpuMsPerRequest), kind: 'cpu' });
  if (scenario.concurrency > 1) {
    rows.push({ metric: `${scenario.label} sim CPU ms/request`, values: pick((x) => x.simCpuMsPerRequest), kind: 'ratio' });
  }
  return rows;
}

export function renderResultsTable(scenarios: ScenarioInfo[], targets: TargetInfo[], results: Results): string {
  const others = targets.filter((t) => t.id !== 'direct');
  const lines = [
    `| metric | ${targets.map((t) => t.label).join(' | ')} | ${others.map((t) => `${t.label} vs direct`).join(' | ')} |`,
    `| --- |${' ---: |'.repeat(targets.length + others.length)}`,
  ];
  for (const scenario of scenarios) {
    for (const row of rowsFor(scenario, results[scenario.id]!)) {
      const direct = row.values.direct;
      const compare = (v: number | undefined) => {
        if (v === undefined) return '–';
        if (row.kind === 'cpu') return row.values.pipe ? `${(v / row.values.pipe).toFixed(2)}× pipe` : '–';
        if (direct === undefined) return '–';
        return row.kind === 'added' ? `${v >= direct ? '+' : '−'}${fmt(Math.abs(v - direct))} ms` : `${((v / direct) * 100).toFixed(1)} %`;
      };
      const values = targets.map((t) => fmt(row.values[t.id], row.digits ?? 3));
      lines.push(`| ${row.metric} | ${values.join(' | ')} | ${others.map((t) => compare(row.values[t.id])).join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

export function renderMemoryTable(targets: TargetInfo[], idle: Record<string, MemorySample>, memory: Record<string, StreamMemory>): string {
  return [
    '| process | idle RSS (start) | idle RSS (before streams) | RSS with streams open | growth per stream | heap growth per stream |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...targets.filter((t) => memory[t.id]).map((t) => {
      const m = memory[t.id]!;
      return `| ${t.label} | ${mib(idle[t.id]!.rssBytes)} | ${mib(m.idleRssBytes)} | ${mib(m.openRssBytes)} | ${kib(m.growthPerStreamBytes)} | ${kib(m.heapGrowthPerStreamBytes)} |`;
    }),
  ].join('\n');
}

export interface Check {
  name: string;
  value: number;
  limit: number;
  unit: string;
  atMost: boolean;
  ok: boolean;
}

/** The issue's targets for Flexi (target id `flexi`). */
export function targetChecks(results: Results, memory: Record<string, StreamMemory> | undefined): Check[] {
  const c1 = results.openai_c1;
  const st = results.openai_stream_c1;
  const c64 = results.openai_c64;
  const checks: Omit<Check, 'ok'>[] = [];
  if (c1) checks.push({ name: 'added p50 at c=1 ≤ 0.75 ms', value: c1.flexi!.latency.p50Ms - c1.direct!.latency.p50Ms, limit: 0.75, unit: 'ms', atMost: true });
  if (st) checks.push({ name: 'added TTFT (p50) ≤ 1 ms', value: st.flexi!.ttft!.p50Ms - st.direct!.ttft!.p50Ms, limit: 1, unit: 'ms', atMost: true });
  if (c64) checks.push({ name: 'throughput at c=64 ≥ 25 % of direct', value: (c64.flexi!.requestsPerSecond / c64.direct!.requestsPerSecond) * 100, limit: 25, unit: '%', atMost: false });
  if (memory?.flexi) checks.push({ name: 'RSS growth per open stream ≤ 64 KiB', value: memory.flexi.growthPerStreamBytes / 1024, limit: 64, unit: 'KiB', atMost: true });
  return checks.map((c) => ({ ...c, ok: c.atMost ? c.value <= c.limit : c.value >= c.limit }));
}

export function renderChecks(checks: Check[]): string {
  return checks.map((c) => `- ${c.ok ? 'PASS' : 'MISS'} ${c.name}: ${c.value.toFixed(c.unit === '%' ? 1 : 3)} ${c.unit}`).join('\n');
}
