/**
 * Gateway overhead benchmark: the same load sent straight to a `flexi sim` node, through a bare
 * Node pipe proxy (bench/lib/pipe-proxy.mjs, the practical floor) and through Flexi, in one run.
 * Sim, proxy and Flexi are separate processes; the load generator is this process.
 *
 *   npm run bench:gateway                    (builds dist/ first when it is stale)
 *   npm run bench:gateway -- --quick         (a quarter of the requests, for a smoke run)
 *   npm run bench:gateway -- --cpu-prof      (Flexi writes a .cpuprofile to bench/out/prof/)
 *   npm run bench:gateway -- --tsx           (Flexi from src/ via tsx instead of dist/)
 *   npm run bench:gateway -- --streams 1000  (open streams for the memory measurement; 0 skips it)
 *   npm run bench:gateway -- --scenarios openai_c1,openai_c64   (run only these)
 *   npm run bench:gateway -- --baseline bench/out/base-dist       (A/B: a second Flexi built
 *                                   from another commit, measured in the same rounds; with
 *                                   --cpu-prof its profile goes to bench/out/prof/baseline/)
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
import { renderChecks, renderMemoryTable, renderResultsTable, targetChecks, type Results, type ScenarioInfo, type ScenarioResult, type TargetInfo } from './lib/gateway-report.js';
import { chatBody, chatOnce, createPool, latencyStats, runLoad, type ChatCall, type Protocol } from './lib/load.js';
import { ensureBuilt } from './lib/ensure-built.js';
import { measureStreamMemory, sampleMemory, type MemorySample, type StreamMemory } from './lib/stream-memory.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'bench', 'out');
/** Lets the benchmark trigger a full GC (SIGUSR2) before it reads a process's RSS. */
const GC_HOOK = ['--expose-gc', '--import', join(ROOT, 'bench', 'lib', 'gc-on-signal.mjs')];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    tsx: { type: 'boolean', default: false },
    streams: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '4' },
    scenarios: { type: 'string' },
    baseline: { type: 'string' },
  },
});

const SCALE = args.quick ? 0.25 : 1;
const ROUNDS = Math.max(1, Number(args.rounds));
const STREAMS = Math.max(0, Number(args.streams));
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

interface Target extends TargetInfo {
  url: string;
  /** The process between client and sim (none for direct). */
  child?: Child;
  pool: Pool;
  headers: Record<string, string>;
}

interface Scenario extends ScenarioInfo {
  call: ChatCall;
  /** Requests per target over all rounds. */
  requests: number;
}

const scenario = (id: string, label: string, protocol: Protocol, stream: boolean, concurrency: number, requests: number): Scenario => ({
  id, label, stream, concurrency, requests, call: { protocol, stream, model: 'fast' },
});

const ALL_SCENARIOS: Scenario[] = [
  scenario('openai_c1', 'OpenAI chat, c=1', 'openai', false, 1, 2000),
  scenario('openai_stream_c1', 'OpenAI stream, c=1', 'openai', true, 1, 1000),
  scenario('openai_c64', 'OpenAI chat, c=64', 'openai', false, 64, 8000),
  scenario('ollama_c1', 'Ollama chat, c=1', 'ollama', false, 1, 1000),
  scenario('ollama_stream_c1', 'Ollama stream, c=1', 'ollama', true, 1, 1000),
  scenario('ollama_c64', 'Ollama chat, c=64', 'ollama', false, 64, 4000),
];
const SCENARIOS = args.scenarios ? ALL_SCENARIOS.filter((s) => args.scenarios!.split(',').includes(s.id)) : ALL_SCENARIOS;

async function runScenario(scenario: Scenario, targets: Target[], sim: Child): Promise<Record<string, ScenarioResult>> {
  const body = chatBody(scenario.call);
  const acc = new Map<string, { totals: number[]; ttfts: number[]; wallMs: number; count: number; cpuMs: number; simCpuMs: number }>();
  for (const t of targets) acc.set(t.id, { totals: [], ttfts: [], wallMs: 0, count: 0, cpuMs: 0, simCpuMs: 0 });
  const perRound = n(scenario.requests);
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const target of order) {
      const a = acc.get(target.id)!;
      const cpuBefore = target.child ? readCpuMs(target.child.pid) : 0;
      const simBefore = readCpuMs(sim.pid);
      const run = await runLoad(scenario.concurrency, perRound, () => chatOnce(target.pool, scenario.call, target.headers, body));
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
  const out: Record<string, ScenarioResult> = {};
  for (const [id, a] of acc) {
    out[id] = {
      latency: latencyStats(a.totals),
      ttft: a.ttfts.length > 0 ? latencyStats(a.ttfts) : undefined,
      requestsPerSecond: (a.count / a.wallMs) * 1000,
      cpuMsPerRequest: id === 'direct' ? undefined : a.cpuMs / a.count,
      simCpuMsPerRequest: a.simCpuMs / a.count,
    };
  }
  return out;
}

async function warmUp(targets: Target[]): Promise<void> {
  for (const target of targets) {
    for (const protocol of ['openai', 'ollama'] as Protocol[]) {
      for (const stream of [false, true]) {
        await runLoad(16, n(2000), () => chatOnce(target.pool, { protocol, stream, model: 'fast' }, target.headers));
      }
    }
  }
}

/** Starts `flexi serve` (own SQLite file and API key) in front of the sim. */
async function startFlexi(name: string, entry: string[], work: string, simUrl: string, extraNodeArgs: string[]): Promise<{ child: Child; headers: Record<string, string> }> {
  const env = {
    FLEXI_DATABASE_URL: join(work, `${name}.db`),
    // The sim's benchmark models have thousands of slots; tell the scheduler so that it measures
    // overhead, not queueing (a node reports no slot count Flexi could read).
    FLEXI_NODES: JSON.stringify([{ name: 'sim', type: 'sim', url: simUrl, slots: 1024 }]),
    // One benchmark user opens every request: lift the per-user caps (the admin role has none).
    FLEXI_SCHEDULER_MAX_IN_FLIGHT_PER_USER: '100000',
    FLEXI_SCHEDULER_MAX_QUEUE_PER_MODEL: '100000',
    FLEXI_LOG_LEVEL: 'warn',
    // Enough upstream connections for every open stream of the memory measurement.
    FLEXI_UPSTREAM_CONNECTIONS_PER_NODE: String(Math.max(256, STREAMS + 64)),
    FLEXI_SERVER_SHUTDOWN_GRACE_MS: '500',
  };
  const created = JSON.parse(execFileSync(process.execPath, [...entry, 'keys', 'create', '--name', 'bench', '--role', 'admin', '--json'], {
    cwd: work, env: { ...process.env, ...env }, encoding: 'utf8',
  })) as { key: string };
  const child = await startChild({
    name, command: process.execPath, cwd: work, env,
    args: [...GC_HOOK, ...extraNodeArgs, ...entry, 'serve', '--port', '0'],
    readyPattern: /Flexi is serving at (\S+)/,
  });
  return { child, headers: { authorization: `Bearer ${created.key}` } };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg();
  const work = mkdtempSync(join(tmpdir(), 'flexi-gw-bench-'));
  const targets: Target[] = [];
  try {
    const flexiEntry = args.tsx ? ['--import', 'tsx', join(ROOT, 'src', 'main.ts')] : [ensureBuilt(ROOT)];
    const runner = args.tsx ? 'tsx src/main.ts' : 'node dist/main.js';
    const profileFile = join(work, 'profile.json');
    writeFileSync(profileFile, JSON.stringify(PROFILE));

    const sim = await startChild({
      name: 'sim', command: process.execPath, cwd: work,
      args: [...flexiEntry, 'sim', '--port', '0', '--profile', profileFile, '--json'],
      readyPattern: /"url":"([^"]+)"/,
    });
    const profDir = join(OUT_DIR, 'prof');
    if (args['cpu-prof']) mkdirSync(profDir, { recursive: true });
    const flexi = await startFlexi('flexi', flexiEntry, work, sim.ready, args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []);
    const pipe = await startChild({
      name: 'pipe proxy', command: process.execPath, cwd: work,
      args: [...GC_HOOK, join(ROOT, 'bench', 'lib', 'pipe-proxy.mjs'), sim.ready],
      readyPattern: /"url":"([^"]+)"/,
    });
    const add = (id: string, label: string, url: string, child: Child | undefined, headers: Record<string, string>) => {
      targets.push({ id, label, url, child, headers, pool: createPool(url, 64) });
    };
    add('direct', 'direct', sim.ready, undefined, {});
    add('pipe', 'pipe proxy', pipe.ready, pipe, {});
    add('flexi', 'Flexi', flexi.child.ready, flexi.child, flexi.headers);
    if (args.baseline) {
      const baseProf = join(profDir, 'baseline');
      if (args['cpu-prof']) mkdirSync(baseProf, { recursive: true });
      const base = await startFlexi('baseline', [resolve(args.baseline, 'main.js')], work, sim.ready, args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', baseProf] : []);
      add('baseline', 'Flexi baseline', base.child.ready, base.child, base.headers);
    }
    process.stderr.write(`${targets.map((t) => `${t.label} ${t.url}`).join(', ')}; Flexi via ${runner}; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}\n`);

    const idle: Record<string, MemorySample> = {};
    for (const t of targets) if (t.child) idle[t.id] = await sampleMemory(t.child);
    process.stderr.write('warming up…\n');
    await warmUp(targets);

    const results: Results = {};
    for (const s of SCENARIOS) {
      process.stderr.write(`${s.label}: ${n(s.requests) * ROUNDS} requests per target in ${ROUNDS} rounds…\n`);
      results[s.id] = await runScenario(s, targets, sim);
    }

    let memory: Record<string, StreamMemory> | undefined;
    if (STREAMS > 0) {
      memory = {};
      for (const t of targets) {
        if (!t.child) continue;
        process.stderr.write(`memory: ${STREAMS} open streams through ${t.label}…\n`);
        memory[t.id] = await measureStreamMemory(t.child, STREAMS, t.headers);
      }
    }
    const loadAfter = loadavg();
    const checks = targetChecks(results, memory);

    const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores`;
    const loads = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
    const header = `Gateway benchmark ${startedAt.toISOString()} — ${machine}; Node ${process.version}; Flexi via ${runner}; `
      + `load average before ${loads(loadBefore)}, after ${loads(loadAfter)}; ${ROUNDS} rounds${args.quick ? ' (quick)' : ''}`;
    const memTable = memory ? renderMemoryTable(targets, idle, memory) : '(skipped)';
    process.stdout.write(`\n${header}\n\n${renderResultsTable(SCENARIOS, targets, results)}\n\n`
      + `Memory (${STREAMS} concurrent slow streams, RSS from /proc after a full GC):\n\n${memTable}\n\nTargets:\n${renderChecks(checks)}\n`);

    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(join(OUT_DIR, 'gateway.json'), `${JSON.stringify({
      startedAt: startedAt.toISOString(), machine, node: process.version, flexiRunner: runner, rounds: ROUNDS, quick: args.quick,
      loadAverageBefore: loadBefore, loadAverageAfter: loadAfter, scenarios: SCENARIOS, targets: targets.map((t) => ({ id: t.id, label: t.label })),
      results, idleMemory: idle, streams: STREAMS, memory, checks,
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
