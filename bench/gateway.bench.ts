/**
 * Gateway overhead benchmark: the same load sent straight to a `flexi sim` node, through a bare
 * Node pipe proxy (bench/lib/pipe-proxy.mjs, the practical floor) and through Flexi, in one run.
 * Sim, proxy and Flexi are separate processes; the load generator is this process.
 *
 *   npm run bench:gateway                    (builds dist/ first when it is stale)
 *   npm run bench:gateway -- --quick         (a quarter of the requests, for a smoke run)
 *   npm run bench:gateway -- --cpu-prof      (Flexi writes a .cpuprofile to bench/out/prof/)
 *   npm run bench:gateway -- --tsx           (Flexi from src/ via tsx instead of dist/)
 *   npm run bench:gateway -- --streams 1000  (open streams for the memory measurement)
 *
 * Rounds interleave the targets (rotating their order) so that a burst of load from other
 * processes on a shared machine hits all three alike. docs/benchmarks.md explains the numbers.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Pool } from 'undici';
import { readCpuMs, startChild, stopAll, type Child } from './lib/children.js';
import { chatBody, chatOnce, createPool, latencyStats, runLoad, type ChatCall, type LatencyStats, type Protocol } from './lib/load.js';
import { ensureBuilt } from './lib/ensure-built.js';
import { measureStreamMemory, sampleMemory, type MemoryResult } from './lib/stream-memory.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    tsx: { type: 'boolean', default: false },
    streams: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '4' },
  },
});

const SCALE = args.quick ? 0.25 : 1;
const ROUNDS = Math.max(1, Number(args.rounds));
const STREAMS = Math.max(1, Number(args.streams));
const n = (count: number) => Math.max(20, Math.round((count * SCALE) / ROUNDS));

/** Fast model: no prefill or decode delay, 8 tokens; slow model: 1 token/s so streams stay open. */
const PROFILE = {
  name: 'gateway-bench',
  memory_gb: 100,
  keep_alive_ms: -1,
  models: [
    { name: 'fast', size_gb: 1, load_ms: 0, ttft_ms: 0, prefill_tokens_per_second: 1e9, decode_tokens_per_second: 1e9, slots: 4096, contention: { alpha: 0 }, output_tokens: { mean: 8, spread: 0 } },
    { name: 'slow', size_gb: 1, load_ms: 0, ttft_ms: 0, decode_tokens_per_second: 1, slots: 4096, contention: { alpha: 0 }, output_tokens: { mean: 600, spread: 0 } },
  ],
};

type TargetName = 'direct' | 'pipe' | 'flexi';
const TARGET_NAMES: TargetName[] = ['direct', 'pipe', 'flexi'];

interface Target {
  name: TargetName;
  url: string;
  /** The process between client and sim (none for direct). */
  child?: Child;
  pool: Pool;
}

interface ScenarioResult {
  latency: LatencyStats;
  ttft?: LatencyStats;
  requestsPerSecond: number;
  /** CPU of the gateway process (pipe/Flexi) per request; the sim's for direct. */
  cpuMsPerRequest?: number;
  simCpuMsPerRequest: number;
}

interface Scenario {
  id: string;
  label: string;
  call: ChatCall;
  concurrency: number;
  /** Requests per target over all rounds. */
  requests: number;
}

const SCENARIOS: Scenario[] = [
  { id: 'openai_c1', label: 'OpenAI chat, c=1', call: { protocol: 'openai', stream: false, model: 'fast' }, concurrency: 1, requests: 2000 },
  { id: 'openai_stream_c1', label: 'OpenAI stream, c=1', call: { protocol: 'openai', stream: true, model: 'fast' }, concurrency: 1, requests: 1000 },
  { id: 'openai_c64', label: 'OpenAI chat, c=64', call: { protocol: 'openai', stream: false, model: 'fast' }, concurrency: 64, requests: 8000 },
  { id: 'ollama_c1', label: 'Ollama chat, c=1', call: { protocol: 'ollama', stream: false, model: 'fast' }, concurrency: 1, requests: 1000 },
  { id: 'ollama_stream_c1', label: 'Ollama stream, c=1', call: { protocol: 'ollama', stream: true, model: 'fast' }, concurrency: 1, requests: 1000 },
  { id: 'ollama_c64', label: 'Ollama chat, c=64', call: { protocol: 'ollama', stream: false, model: 'fast' }, concurrency: 64, requests: 4000 },
];

async function runScenario(scenario: Scenario, targets: Target[], headers: Record<string, string>, sim: Child): Promise<Record<TargetName, ScenarioResult>> {
  const body = chatBody(scenario.call);
  const acc = new Map<TargetName, { totals: number[]; ttfts: number[]; wallMs: number; count: number; cpuMs: number; simCpuMs: number }>();
  for (const t of targets) acc.set(t.name, { totals: [], ttfts: [], wallMs: 0, count: 0, cpuMs: 0, simCpuMs: 0 });
  const perRound = n(scenario.requests);
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const target of order) {
      const a = acc.get(target.name)!;
      const cpuBefore = target.child ? readCpuMs(target.child.pid) : 0;
      const simBefore = readCpuMs(sim.pid);
      const run = await runLoad(scenario.concurrency, perRound, () => chatOnce(target.pool, scenario.call, headers, body));
      if (target.child) a.cpuMs += readCpuMs(target.child.pid) - cpuBefore;
      a.simCpuMs += readCpuMs(sim.pid) - simBefore;
      a.wallMs += run.wallMs;
      a.count += run.samples.length;
      for (const s of run.samples) {
        a.totals.push(s.totalMs);
        if (s.firstTokenMs !== undefined) a.ttfts.push(s.firstTokenMs);
      }
    }
  }
  const out = {} as Record<TargetName, ScenarioResult>;
  for (const [name, a] of acc) {
    out[name] = {
      latency: latencyStats(a.totals),
      ttft: a.ttfts.length > 0 ? latencyStats(a.ttfts) : undefined,
      requestsPerSecond: (a.count / a.wallMs) * 1000,
      cpuMsPerRequest: name === 'direct' ? undefined : a.cpuMs / a.count,
      simCpuMsPerRequest: a.simCpuMs / a.count,
    };
  }
  return out;
}

async function warmUp(targets: Target[], headers: Record<string, string>): Promise<void> {
  for (const target of targets) {
    for (const protocol of ['openai', 'ollama'] as Protocol[]) {
      for (const stream of [false, true]) {
        await runLoad(16, n(2000), () => chatOnce(target.pool, { protocol, stream, model: 'fast' }, headers));
      }
    }
  }
}

const fmt = (value: number | undefined, digits = 3) => (value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

interface Row {
  metric: string;
  values: Record<TargetName, number | undefined>;
  /** 'added': show Flexi − direct (ms); 'ratio': show Flexi / direct. */
  kind: 'added' | 'ratio';
  digits?: number;
}

function rowsFor(scenario: Scenario, r: Record<TargetName, ScenarioResult>): Row[] {
  const pick = (f: (x: ScenarioResult) => number | undefined) => ({ direct: f(r.direct), pipe: f(r.pipe), flexi: f(r.flexi) });
  const rows: Row[] = [];
  const what = scenario.call.stream ? 'total' : 'latency';
  rows.push({ metric: `${scenario.label} ${what} p50 (ms)`, values: pick((x) => x.latency.p50Ms), kind: 'added' });
  rows.push({ metric: `${scenario.label} ${what} p99 (ms)`, values: pick((x) => x.latency.p99Ms), kind: 'added' });
  if (scenario.call.stream) {
    rows.push({ metric: `${scenario.label} TTFT p50 (ms)`, values: pick((x) => x.ttft?.p50Ms), kind: 'added' });
    rows.push({ metric: `${scenario.label} TTFT p99 (ms)`, values: pick((x) => x.ttft?.p99Ms), kind: 'added' });
  }
  if (scenario.concurrency > 1) {
    rows.push({ metric: `${scenario.label} requests/s`, values: pick((x) => x.requestsPerSecond), kind: 'ratio', digits: 0 });
    rows.push({ metric: `${scenario.label} gateway CPU ms/request`, values: pick((x) => x.cpuMsPerRequest), kind: 'ratio' });
    rows.push({ metric: `${scenario.label} sim CPU ms/request`, values: pick((x) => x.simCpuMsPerRequest), kind: 'ratio' });
  }
  return rows;
}

function renderTable(rows: Row[]): string {
  const lines = [
    '| metric | direct | pipe proxy | Flexi | pipe vs direct | Flexi vs direct |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const { direct, pipe, flexi } = row.values;
    const d = row.digits ?? 3;
    const compare = (v: number | undefined) => {
      if (v === undefined || direct === undefined) return '–';
      return row.kind === 'added' ? `+${fmt(v - direct)} ms` : `${((v / direct) * 100).toFixed(1)} %`;
    };
    const cpuRow = row.metric.includes('gateway CPU');
    lines.push(`| ${row.metric} | ${fmt(direct, d)} | ${fmt(pipe, d)} | ${fmt(flexi, d)} | ${cpuRow ? '–' : compare(pipe)} | ${cpuRow ? (pipe ? `${(flexi! / pipe).toFixed(1)}× pipe` : '–') : compare(flexi)} |`);
  }
  return lines.join('\n');
}

function targetChecks(results: Record<string, Record<TargetName, ScenarioResult>>, memory: MemoryResult | undefined) {
  const c1 = results.openai_c1!;
  const st = results.openai_stream_c1!;
  const c64 = results.openai_c64!;
  const checks = [
    { name: 'added p50 at c=1 ≤ 0.75 ms', value: c1.flexi.latency.p50Ms - c1.direct.latency.p50Ms, limit: 0.75, unit: 'ms', atMost: true },
    { name: 'added TTFT (p50) ≤ 1 ms', value: st.flexi.ttft!.p50Ms - st.direct.ttft!.p50Ms, limit: 1, unit: 'ms', atMost: true },
    { name: 'throughput at c=64 ≥ 25 % of direct', value: (c64.flexi.requestsPerSecond / c64.direct.requestsPerSecond) * 100, limit: 25, unit: '%', atMost: false },
  ];
  if (memory) checks.push({ name: 'RSS growth per open stream ≤ 64 KiB', value: memory.flexi.growthPerStreamBytes / 1024, limit: 64, unit: 'KiB', atMost: true });
  return checks.map((c) => ({ ...c, ok: c.atMost ? c.value <= c.limit : c.value >= c.limit }));
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg();
  const work = mkdtempSync(join(tmpdir(), 'flexi-gw-bench-'));
  const targets: Target[] = [];
  try {
    const flexiEntry = args.tsx ? ['--import', 'tsx', join(ROOT, 'src', 'main.ts')] : [ensureBuilt(ROOT)];
    const profileFile = join(work, 'profile.json');
    writeFileSync(profileFile, JSON.stringify(PROFILE));
    const gcHook = ['--expose-gc', '--import', join(ROOT, 'bench', 'lib', 'gc-on-signal.mjs')];

    const sim = await startChild({
      name: 'sim', command: process.execPath, cwd: work,
      args: [...flexiEntry, 'sim', '--port', '0', '--profile', profileFile, '--json'],
      readyPattern: /"url":"([^"]+)"/,
    });
    const dbFile = join(work, 'flexi.db');
    const flexiEnv = {
      FLEXI_DATABASE_URL: dbFile,
      FLEXI_NODES: JSON.stringify([{ name: 'sim', type: 'sim', url: sim.ready }]),
      FLEXI_LOG_LEVEL: 'warn',
      // Enough upstream connections for every open stream of the memory measurement.
      FLEXI_UPSTREAM_CONNECTIONS_PER_NODE: String(Math.max(256, STREAMS + 64)),
      FLEXI_SERVER_SHUTDOWN_GRACE_MS: '500',
    };
    const created = JSON.parse(execFileSync(process.execPath, [...flexiEntry, 'keys', 'create', '--name', 'bench', '--json'], {
      cwd: work, env: { ...process.env, ...flexiEnv }, encoding: 'utf8',
    })) as { key: string };
    const headers = { authorization: `Bearer ${created.key}` };
    const profDir = join(OUT_DIR, 'prof');
    if (args['cpu-prof']) mkdirSync(profDir, { recursive: true });
    const flexi = await startChild({
      name: 'flexi', command: process.execPath, cwd: work, env: flexiEnv,
      args: [...gcHook, ...(args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), ...flexiEntry, 'serve', '--port', '0'],
      readyPattern: /Flexi is serving at (\S+)/,
    });
    const pipe = await startChild({
      name: 'pipe proxy', command: process.execPath, cwd: work,
      args: [...gcHook, join(ROOT, 'bench', 'lib', 'pipe-proxy.mjs'), sim.ready],
      readyPattern: /"url":"([^"]+)"/,
    });
    const urls: Record<TargetName, [string, Child | undefined]> = { direct: [sim.ready, undefined], pipe: [pipe.ready, pipe], flexi: [flexi.ready, flexi] };
    for (const name of TARGET_NAMES) targets.push({ name, url: urls[name][0], child: urls[name][1], pool: createPool(urls[name][0], 64) });
    process.stderr.write(`sim ${sim.ready}, pipe proxy ${pipe.ready}, Flexi ${flexi.ready} (${args.tsx ? 'tsx src/main.ts' : 'node dist/main.js'}); load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}\n`);

    const idle = { flexi: await sampleMemory(flexi), pipe: await sampleMemory(pipe) };
    process.stderr.write('warming up…\n');
    await warmUp(targets, headers);

    const results: Record<string, Record<TargetName, ScenarioResult>> = {};
    const rows: Row[] = [];
    for (const scenario of SCENARIOS) {
      process.stderr.write(`${scenario.label}: ${n(scenario.requests) * ROUNDS} requests per target in ${ROUNDS} rounds…\n`);
      results[scenario.id] = await runScenario(scenario, targets, headers, sim);
      rows.push(...rowsFor(scenario, results[scenario.id]!));
    }

    process.stderr.write(`memory: ${STREAMS} open streams through the pipe proxy, then through Flexi…\n`);
    const memory: MemoryResult = {
      streams: STREAMS,
      pipe: await measureStreamMemory(pipe, STREAMS, headers),
      flexi: await measureStreamMemory(flexi, STREAMS, headers),
    };
    const loadAfter = loadavg();
    const checks = targetChecks(results, memory);

    const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores`;
    const table = renderTable(rows);
    const memTable = [
      '| process | idle RSS (start) | idle RSS (before streams) | RSS with streams open | growth per stream | heap growth per stream |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...(['pipe', 'flexi'] as const).map((name) => {
        const m = memory[name];
        return `| ${name === 'pipe' ? 'pipe proxy' : 'Flexi'} | ${mib(idle[name].rssBytes)} | ${mib(m.idleRssBytes)} | ${mib(m.openRssBytes)} | ${kib(m.growthPerStreamBytes)} | ${kib(m.heapGrowthPerStreamBytes)} |`;
      }),
    ].join('\n');
    const checkLines = checks.map((c) => `- ${c.ok ? 'PASS' : 'MISS'} ${c.name}: ${c.value.toFixed(c.unit === '%' ? 1 : 3)} ${c.unit}`).join('\n');
    const header = `Gateway benchmark ${startedAt.toISOString()} — ${machine}; Flexi via ${args.tsx ? 'tsx src/main.ts' : 'node dist/main.js'}; `
      + `load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}; ${ROUNDS} rounds${args.quick ? ' (quick)' : ''}`;
    process.stdout.write(`\n${header}\n\n${table}\n\nMemory (${STREAMS} concurrent slow streams, RSS from /proc after a full GC):\n\n${memTable}\n\nTargets:\n${checkLines}\n`);

    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(join(OUT_DIR, 'gateway.json'), `${JSON.stringify({
      startedAt: startedAt.toISOString(), machine, flexiRunner: args.tsx ? 'tsx' : 'dist', rounds: ROUNDS, quick: args.quick,
      loadAverageBefore: loadBefore, loadAverageAfter: loadAfter, scenarios: SCENARIOS, results,
      idleMemory: idle, memory, checks,
    }, null, 2)}\n`);
    process.stderr.write(`wrote ${join(OUT_DIR, 'gateway.json')}${args['cpu-prof'] ? ` and a CPU profile to ${profDir}` : ''}\n`);
  } finally {
    await Promise.all(targets.map((t) => t.pool.destroy().catch(() => undefined)));
    await stopAll();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
