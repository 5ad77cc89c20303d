/**
 * Newcomer benchmark (issue 13 §2): one user keeps 24 streams in flight on a model served by one
 * node with 4 slots; other users arrive one at a time with nothing in flight. Measured on `flexi
 * sim` (one GPU of the paper's server A, phi3) through Flexi, with the newcomer reserve on
 * (`scheduler.newcomer_reserve` default) and off (0), in one run: the lone user's time to first
 * token, the newcomers' time to first token while the flood runs, their ratio and the target,
 * and the flooder's throughput with and without the rule (its loss in %). Prints a markdown
 * table; writes bench/out/newcomer-<time>/.
 *
 *   npm run bench:newcomer [-- --speed 4] [--flood-s 180] [--newcomers 24] [--gap-s 6] [--streams 24] [--seed 1] [--out DIR]
 *
 * Times are simulated (wall-clock × speed). Method and results: docs/scheduler-benchmark.md.
 */
import { setMaxListeners } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDispatcher } from '../src/lab/client/target.js';
import { PAPER_PROMPTS } from '../src/lab/data/paper-appendix-a.js';
import { loadConfig } from '../src/config/load.js';
import { flexiConfig, pacingLagMs } from './scheduler/cluster.js';
import { Driver, type BenchRecord } from './scheduler/driver.js';
import { createUsers, type BenchUser } from './scheduler/keys.js';
import { startGateway, startSimHost } from './scheduler/processes.js';

const { values: args } = parseArgs({
  options: {
    speed: { type: 'string', default: '4' },
    'flood-s': { type: 'string', default: '180' },
    newcomers: { type: 'string', default: '24' },
    'gap-s': { type: 'string', default: '6' },
    streams: { type: 'string', default: '24' },
    lone: { type: 'string', default: '12' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const speed = Number(args.speed);
const floodMs = Number(args['flood-s']) * 1000;
const newcomerCount = Number(args.newcomers);
const gapMs = Number(args['gap-s']) * 1000;
const streams = Number(args.streams);
const loneCount = Number(args.lone);
const seed = Number(args.seed);
const MODEL = 'phi3:latest';
const SLOTS = 4;
/** The flood runs this long before the first newcomer and before its throughput is counted (its ramp-up). */
const WARM_MS = 10_000;
/** `scheduler.newcomer_window_ms` by default (simulated ms). */
const WINDOW_MS = loadConfig({}).scheduler.newcomer_window_ms;

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = args.out ?? join('bench', 'out', `newcomer-${stamp}`);
const work = mkdtempSync(join(tmpdir(), 'flexi-bench-newcomer-'));
const databaseUrl = join(work, 'flexi.db');
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const started = performance.now();
const loadBefore = load();
const log = (message: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);

interface VariantResult {
  variant: 'reserve' | 'no reserve';
  lone: BenchRecord[];
  newcomers: BenchRecord[];
  flood: BenchRecord[];
  pacingLagMs: number | undefined;
}

/** One flood stream: sends one request after another from `user` until `stop` aborts. */
async function loop(driver: Driver, user: BenchUser, stop: AbortSignal, index: number): Promise<void> {
  for (let i = 0; !stop.aborted; i++) {
    const prompt = PAPER_PROMPTS[(index + i) % PAPER_PROMPTS.length]!;
    await driver.send({ user, class: 'batch', model: MODEL, prompt, signal: stop });
  }
}

async function runVariant(variant: VariantResult['variant'], users: Map<string, BenchUser[]>): Promise<VariantResult> {
  const sim = await startSimHost('paper-server-a', 1, speed, seed);
  // The default reserve (and its window, scaled to the sim's speed like every duration), or none.
  const config = flexiConfig({
    speed, databaseUrl, schedulerEnabled: true, nodes: [{ name: 'gpu1', url: sim.info.urls[0]!, slots: SLOTS }],
    newcomerReserve: variant === 'reserve' ? undefined : 0,
  });
  const gateway = await startGateway(config);
  const dispatcher = createDispatcher();
  try {
    const driver = new Driver(gateway.info.url, speed, dispatcher);
    const lone = users.get('lone')![0]!;
    // Loads the model (a cold start is not what is measured).
    await driver.send({ user: lone, class: 'lone', model: MODEL, prompt: 'hello', maxTokens: 1 });
    driver.records.length = 0;
    for (let i = 0; i < loneCount; i++) {
      await driver.send({ user: lone, class: 'lone', model: MODEL, prompt: PAPER_PROMPTS[i % PAPER_PROMPTS.length]! });
      await driver.sleep(1000);
    }
    const loneRecords = driver.records.splice(0);
    // The lone user's last request must not count as "someone around" when the flood starts.
    await driver.sleep(WINDOW_MS + 1000);
    const stop = new AbortController();
    // Every flood request listens to it.
    setMaxListeners(Infinity, stop.signal);
    const floodStartMs = driver.nowMs();
    const flooder = users.get('flooder')![0]!;
    const flood = Array.from({ length: streams }, (_, i) => loop(driver, flooder, stop.signal, i));
    await driver.sleep(WARM_MS);
    const newcomerRecords: BenchRecord[] = [];
    for (const user of users.get('newcomer')!.slice(0, newcomerCount)) {
      const begin = driver.nowMs();
      newcomerRecords.push(await driver.send({ user, class: 'interactive', model: MODEL, prompt: PAPER_PROMPTS[newcomerRecords.length % PAPER_PROMPTS.length]! }));
      await driver.sleep(Math.max(0, gapMs - (driver.nowMs() - begin)));
    }
    await driver.sleep(Math.max(0, floodStartMs + floodMs - driver.nowMs()));
    stop.abort();
    await Promise.all(flood);
    const floodRecords = driver.records.filter((r) => r.user === flooder.name).map((r) => ({ ...r, sentAtMs: r.sentAtMs - floodStartMs }));
    return { variant, lone: loneRecords, newcomers: newcomerRecords, flood: floodRecords, pacingLagMs: await pacingLagMs(sim.info.urls) };
  } finally {
    await dispatcher.close();
    await gateway.stop();
    await sim.stop();
  }
}

const quantile = (values: readonly number[], q: number) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
};
const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const ttfts = (records: readonly BenchRecord[]) => records.filter((r) => r.ok && r.ttftMs !== undefined).map((r) => r.ttftMs!);

/** The flooder's completed requests and output tokens per simulated second, counted from WARM_MS to the end of the flood. */
function floodThroughput(records: readonly BenchRecord[]): { requestsPerS: number; tokensPerS: number } {
  const done = records.filter((r) => r.ok && r.sentAtMs + r.e2eMs >= WARM_MS && r.sentAtMs + r.e2eMs <= floodMs);
  const seconds = (floodMs - WARM_MS) / 1000;
  return { requestsPerS: done.length / seconds, tokensPerS: done.reduce((a, r) => a + (r.outputTokens ?? 0), 0) / seconds };
}

function summarize(result: VariantResult) {
  const lone = ttfts(result.lone);
  const newcomers = ttfts(result.newcomers);
  const loneMs = mean(lone);
  const targetMs = Math.max(2 * loneMs, loneMs + 1000);
  return {
    variant: result.variant,
    loneTtftMs: loneMs,
    newcomerFirstMs: newcomers[0] ?? NaN,
    newcomerMedianMs: quantile(newcomers.slice(1), 0.5),
    newcomerP95Ms: quantile(newcomers.slice(1), 0.95),
    newcomerMaxMs: Math.max(...newcomers.slice(1)),
    newcomersFailed: result.newcomers.length - newcomers.length,
    targetMs,
    ...floodThroughput(result.flood),
    floodFailed: result.flood.filter((r) => !r.ok && r.errorKind !== 'aborted').length,
    pacingLagMs: result.pacingLagMs,
  };
}

log(`${cpus().length} cores, load ${loadBefore}; speed ×${speed}; ${streams} flood streams, ${newcomerCount} newcomers every ${gapMs / 1000} s`);
const users = await createUsers(databaseUrl, [
  // admin: no per-minute limits and no concurrency cap, so 24 streams stay in flight.
  { prefix: 'flooder', role: 'admin', count: 1 },
  { prefix: 'lone', role: 'staff', count: 1 },
  { prefix: 'newcomer', role: 'staff', count: newcomerCount },
]);
const results: VariantResult[] = [];
for (const variant of ['reserve', 'no reserve'] as const) {
  log(`${variant} …`);
  results.push(await runVariant(variant, users));
}
const rows = results.map(summarize);
const fmt = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–');
const withRule = rows[0]!;
const without = rows[1]!;
const lossPct = (a: number, b: number) => (((b - a) / b) * 100).toFixed(1);
const table = [
  '| | reserve on (default) | reserve off |',
  '| --- | ---: | ---: |',
  `| lone user TTFT, mean of ${loneCount} (s) | ${fmt(withRule.loneTtftMs)} | ${fmt(without.loneTtftMs)} |`,
  `| first newcomer TTFT, after the flooder was alone (s) | ${fmt(withRule.newcomerFirstMs)} | ${fmt(without.newcomerFirstMs)} |`,
  `| newcomer TTFT median / p95 / max, next ${newcomerCount - 1} (s) | ${fmt(withRule.newcomerMedianMs)} / ${fmt(withRule.newcomerP95Ms)} / ${fmt(withRule.newcomerMaxMs)} | ${fmt(without.newcomerMedianMs)} / ${fmt(without.newcomerP95Ms)} / ${fmt(without.newcomerMaxMs)} |`,
  `| ratio newcomer p95 ÷ lone | ${(withRule.newcomerP95Ms / withRule.loneTtftMs).toFixed(1)} | ${(without.newcomerP95Ms / without.loneTtftMs).toFixed(1)} |`,
  `| target max(2 × lone, lone + 1 s) (s); p95 meets it | ${fmt(withRule.targetMs)}; ${withRule.newcomerP95Ms <= withRule.targetMs ? 'yes' : 'no'} | ${fmt(without.targetMs)}; ${without.newcomerP95Ms <= without.targetMs ? 'yes' : 'no'} |`,
  `| flooder completed requests/s | ${withRule.requestsPerS.toFixed(3)} | ${without.requestsPerS.toFixed(3)} |`,
  `| flooder output tokens/s | ${withRule.tokensPerS.toFixed(1)} | ${without.tokensPerS.toFixed(1)} |`,
  `| flooder's loss with the reserve (tokens/s; requests/s) | ${lossPct(withRule.tokensPerS, without.tokensPerS)} %; ${lossPct(withRule.requestsPerS, without.requestsPerS)} % | – |`,
  `| failed requests (newcomers; flooder, not counting the final abort) | ${withRule.newcomersFailed}; ${withRule.floodFailed} | ${without.newcomersFailed}; ${without.floodFailed} |`,
  `| sim pacing lag (ms) | ${(withRule.pacingLagMs ?? 0).toFixed(0)} | ${(without.pacingLagMs ?? 0).toFixed(0)} |`,
].join('\n');
const wallS = (performance.now() - started) / 1000;
const header = `Newcomer benchmark, ${new Date().toISOString()}, ${cpus().length} cores, load average before ${loadBefore}, after ${load()}, `
  + `${wallS.toFixed(0)} s wall, sim ×${speed} (times in simulated seconds). One paper-server-a node, ${MODEL}, ${SLOTS} slots; `
  + `flooder ${streams} streams for ${floodMs / 1000} s; ${newcomerCount} newcomers (one request each, ${gapMs / 1000} s apart, from ${WARM_MS / 1000} s).`;
const markdown = `${header}\n\n${table}`;
process.stdout.write(`${markdown}\n`);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify({ schema: 'flexi.bench.newcomer/1', startedAt: stamp, speed, streams, floodMs, newcomerCount, gapMs, seed, rows }, null, 2)}\n`);
writeFileSync(join(outDir, 'requests.jsonl'), results.flatMap((r) => [...r.lone, ...r.newcomers, ...r.flood].map((rec) => JSON.stringify({ variant: r.variant, ...rec }))).join('\n') + '\n');
writeFileSync(join(outDir, 'report.md'), `${markdown}\n`);
log(`wrote ${outDir}`);
rmSync(work, { recursive: true, force: true });
