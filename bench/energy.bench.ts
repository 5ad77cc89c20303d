/**
 * Energy benchmark (issue 17, "Measured"): prints three markdown tables.
 *
 * 1. Attribution accuracy on a scripted scenario: a known power curve (idle power + a cost per token
 *    processed), known requests with prefill and decode phases, sampled every second like the agent does.
 *    The meter's per-request energies plus idle must equal the measured total, and the requests' sum must
 *    come within 1 % of the energy measured while any request ran; the per-request error is shown too.
 * 2. `flexi agent` (the built CLI, a real process) at 1 s on 8 fake GPUs: its CPU and resident memory, and
 *    the CPU of the nvidia-smi runs it waited for (here a shell script; the real nvidia-smi costs more).
 * 3. Gateway CPU for scraping 10 nodes (10 agent processes) every second through the real scraper and meter.
 *
 *   npm run bench:energy [-- --seconds 20] [--requests 300]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { UsageEntry } from '../src/core/usage.js';
import { ManualClock } from '../src/lib/clock.js';
import { EnergyMeter, type NodeEnergyInterval } from '../src/telemetry/energy-meter.js';
import type { GpuSample } from '../src/telemetry/gpu-sample.js';
import { TelemetryScraper } from '../src/telemetry/telemetry-scraper.js';
import { readCpuMs, readRssBytes } from './lib/children.js';
import { ensureBuilt } from './lib/ensure-built.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, requests: { type: 'string', default: '300' } } });
const SECONDS = Number(args.seconds);
const REQUESTS = Number(args.requests);
const ROOT = resolve(import.meta.dirname, '..');

function lcg(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

/** Table 1: the meter against a scenario whose true energies are known. */
function attributionAccuracy(): string {
  const random = lcg(7);
  const T0 = Date.UTC(2026, 0, 1);
  const durationMs = 600_000;
  const IDLE_W = 2 * 70;
  const JOULES_PER_DECODE_TOKEN = 0.6;
  const PREFILL_FACTOR = 0.08;
  interface Scripted { id: string; start: number; firstToken: number; end: number; prompt: number; completion: number; trueJ: number }
  const requests: Scripted[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const start = Math.floor(random() * (durationMs - 40_000));
    const prompt = 50 + Math.floor(random() * 2000);
    const completion = 20 + Math.floor(random() * 600);
    const prefillMs = 50 + prompt * 0.2;
    const decodeMs = completion * (20 + random() * 30);
    requests.push({ id: `r${i}`, start, firstToken: start + prefillMs, end: Math.round(start + prefillMs + decodeMs), prompt, completion, trueJ: 0 });
  }
  // The true power at 10 ms resolution: idle + each request's work rate × its cost; idle while busy is split by work too.
  const STEP = 10;
  const powerAt: number[] = [];
  for (let t = 0; t < durationMs; t += STEP) {
    let dynamicW = 0;
    const rates: [Scripted, number][] = [];
    for (const r of requests) {
      if (t < r.start || t >= r.end) continue;
      const rate = t < r.firstToken ? (r.prompt * PREFILL_FACTOR) / ((r.firstToken - r.start) / 1000) : r.completion / ((r.end - r.firstToken) / 1000);
      rates.push([r, rate]);
      dynamicW += rate * JOULES_PER_DECODE_TOKEN;
    }
    const watts = IDLE_W + dynamicW;
    powerAt.push(watts);
    const total = rates.reduce((s, [, rate]) => s + rate, 0);
    for (const [r, rate] of rates) r.trueJ += (watts * STEP) / 1000 * (rate / total);
  }
  const clock = new ManualClock(T0);
  const recorded = new Map<string, number>();
  const intervals: NodeEnergyInterval[] = [];
  const meter = new EnergyMeter({
    usage: { record: (e: UsageEntry) => recorded.set(e.requestId, (e.energyWh ?? 0) * 3600) }, intervals: { record: (i) => intervals.push(i) },
    nodes: ['gpu1'], maxHoldMs: 60_000, prefillTokenWeight: 'auto', clock,
  });
  // The agent integrates power over its own 1 s samples (a driver without an energy counter).
  let counterJ = 0;
  const sampleAt = (ms: number): GpuSample => ({ atMs: T0 + ms, gpus: [{ index: 0, uuid: 'GPU-0', name: 'sim', powerWatts: powerAt[Math.min(powerAt.length - 1, ms / STEP)]!, energyJoules: counterJ }] });
  meter.ingest('gpu1', sampleAt(0));
  const events = [...requests.map((r) => ({ at: r.start, kind: 'start' as const, r })), ...requests.map((r) => ({ at: r.end, kind: 'end' as const, r }))].sort((a, b) => a.at - b.at);
  let next = 0;
  for (let ms = 0; ms <= durationMs; ms += STEP) {
    clock.set(T0 + ms);
    while (next < events.length && events[next]!.at <= ms) {
      const { kind, r } = events[next++]!;
      if (kind === 'start') meter.started(r.id, 'gpu1');
      else {
        meter.record({
          requestId: r.id, createdAt: new Date(T0 + r.end), endpoint: '/v1/chat/completions', protocol: 'openai', model: 'm', node: 'gpu1', status: 200,
          promptTokens: r.prompt, completionTokens: r.completion, durationMs: r.end - r.start, ttftMs: r.firstToken - r.start,
        });
      }
    }
    if (ms > 0) counterJ += (powerAt[ms / STEP - 1]! * STEP) / 1000;
    if (ms > 0 && ms % 1000 === 0) meter.ingest('gpu1', sampleAt(ms));
  }
  meter.close();
  const measured = intervals.reduce((s, i) => s + i.joules, 0);
  const idle = intervals.reduce((s, i) => s + i.idleJoules, 0);
  const attributed = [...recorded.values()].reduce((s, j) => s + j, 0);
  const trueBusy = requests.reduce((s, r) => s + r.trueJ, 0);
  const errors = requests.map((r) => Math.abs((recorded.get(r.id) ?? 0) - r.trueJ) / r.trueJ).sort((a, b) => a - b);
  const pct = (x: number) => `${(x * 100).toFixed(3)} %`;
  return [
    `### Attribution accuracy (${REQUESTS} requests over ${durationMs / 60_000} min, 1 s samples, prefill weight measured)`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| measured energy (Wh) | ${(measured / 3600).toFixed(3)} |`,
    `| attributed to requests (Wh) | ${(attributed / 3600).toFixed(3)} |`,
    `| idle (Wh) | ${(idle / 3600).toFixed(3)} |`,
    `| requests + idle − measured | ${pct(Math.abs(attributed + idle - measured) / measured)} |`,
    `| requests vs true energy while busy | ${pct((attributed - trueBusy) / trueBusy)} (target: within 1 %) |`,
    `| per-request error, median / p90 | ${pct(errors[Math.floor(errors.length / 2)]!)} / ${pct(errors[Math.floor(errors.length * 0.9)]!)} |`,
    '',
  ].join('\n');
}

function fakeSmi(dir: string, gpus: number, name: string): string {
  const lines = Array.from({ length: gpus }, (_, i) => `${i}, GPU-00000000-0000-4000-8000-${String(i).padStart(12, '0')}, NVIDIA H100 80GB HBM3, ${(200 + i).toFixed(2)}, 700.00, 50, 40000, 81559, 55, 1980, 2619, ${1_000_000 + i}`);
  writeFileSync(join(dir, `${name}.csv`), `${lines.join('\n')}\n`);
  const script = join(dir, name);
  // As cheap as a fake can be: the measured child cost is the shell's, not nvidia-smi's.
  writeFileSync(script, `#!/bin/sh\nexec cat '${join(dir, `${name}.csv`)}'\n`, { mode: 0o755 });
  return script;
}

async function startAgent(main: string, smi: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [main, 'agent', '--port', '0', '--interval-ms', '1000', '--nvidia-smi', smi, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

function childCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function main(): Promise<void> {
  const built = ensureBuilt(ROOT);
  process.stdout.write(`## bench:energy — ${new Date().toISOString()}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()[0]!.toFixed(2)}\n\n`);
  process.stdout.write(`${attributionAccuracy()}\n`);

  const dir = mkdtempSync(join(tmpdir(), 'flexi-bench-energy-'));
  try {
    const agent = await startAgent(built, fakeSmi(dir, 8, 'smi8'));
    await sleep(3000);
    const cpu0 = readCpuMs(agent.child.pid!);
    const child0 = childCpuMs(agent.child.pid!);
    await sleep(SECONDS * 1000);
    const cpuMs = readCpuMs(agent.child.pid!) - cpu0;
    const smiMs = childCpuMs(agent.child.pid!) - child0;
    const rss = readRssBytes(agent.child.pid!);
    agent.child.kill('SIGTERM');
    await once(agent.child, 'exit');
    process.stdout.write([
      `### flexi agent, 8 GPUs, 1 s interval, ${SECONDS} s`, '',
      '| figure | value |', '| --- | --- |',
      `| agent CPU | ${((cpuMs / (SECONDS * 1000)) * 100).toFixed(2)} % of one core (${(cpuMs / SECONDS).toFixed(1)} ms per sample) |`,
      `| nvidia-smi runs (shell fake) CPU | ${((smiMs / (SECONDS * 1000)) * 100).toFixed(2)} % of one core |`,
      `| agent resident memory | ${(rss / 1024 / 1024).toFixed(1)} MiB |`, '', '',
    ].join('\n'));

    const smi = fakeSmi(dir, 8, 'smi-nodes');
    const agents = await Promise.all(Array.from({ length: 10 }, () => startAgent(built, smi)));
    const meter = new EnergyMeter({ usage: { record: () => {} }, nodes: agents.map((_, i) => `gpu${i}`), maxHoldMs: 60_000, prefillTokenWeight: 'auto' });
    const scraper = new TelemetryScraper({ sources: agents.map((a, i) => ({ node: `gpu${i}`, url: a.url })), intervalMs: 1000, sink: meter, afterRound: () => meter.tick() });
    await sleep(2000);
    await scraper.scrapeAll();
    const before = process.cpuUsage();
    const rounds = SECONDS;
    const startedAt = performance.now();
    for (let i = 0; i < rounds; i++) {
      await sleep(1000);
      await scraper.scrapeAll();
    }
    const used = process.cpuUsage(before);
    const wallMs = performance.now() - startedAt;
    const gpuSamples = scraper.snapshot().reduce((s, v) => s + v.gpus.length, 0);
    await scraper.stop();
    for (const a of agents) a.child.kill('SIGTERM');
    await Promise.all(agents.map((a) => once(a.child, 'exit')));
    const gatewayCpuMs = (used.user + used.system) / 1000;
    process.stdout.write([
      `### Gateway scraping 10 nodes (8 GPUs each) every second, ${rounds} rounds`, '',
      '| figure | value |', '| --- | --- |',
      `| gateway CPU (scraper + meter) | ${((gatewayCpuMs / wallMs) * 100).toFixed(2)} % of one core (${(gatewayCpuMs / rounds).toFixed(1)} ms per round of 10 nodes) |`,
      `| GPUs read in the last round | ${gpuSamples} |`, '',
    ].join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
