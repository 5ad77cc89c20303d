/**
 * Never slower than going direct (issue 13 §1): the paper's Appendix A grid (models × prompts ×
 * 1/10/30 concurrent users, one burst per cell) sent (a) straight to a `flexi sim` node that runs
 * `--parallel N` requests per model and queues the rest FIFO inside itself, like Ollama, and
 * (b) through Flexi to the same node with NO `slots` configured — as an `ollama` node (the learned
 * limit starts at 1 and probes upward) and as an `openai` node (starts at the learner's maximum).
 * Every run starts a fresh sim and a fresh Flexi, so the limit is learned from scratch. Prints a
 * markdown table per N, writes the records to bench/out/direct-<time>/.
 *
 *   npm run bench:direct [-- --quick] [--parallel 32,4] [--models phi3,llama3] [--big-models mixtral]
 *                        [--prompts 1,5] [--targets direct,ollama,openai] [--speed 4] [--big-speed 40] [--out DIR]
 *
 * Times are simulated seconds (wall-clock × speed). Method and results: docs/scheduler-benchmark.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AdminNode } from '../src/api/admin.js';
import { createDispatcher } from '../src/lab/client/target.js';
import { PAPER_TIMEOUT_S } from '../src/lab/data/paper-appendix-a.js';
import { flexiConfig, pacingLagMs } from './scheduler/cluster.js';
import { Driver, type BenchRecord } from './scheduler/driver.js';
import { createUsers, type BenchUser } from './scheduler/keys.js';
import { startGateway, startSimHost } from './scheduler/processes.js';
import { runGrid } from './scheduler/scenarios.js';

type Target = 'direct' | 'ollama' | 'openai';
const TARGET_LABELS: Record<Target, string> = { direct: 'direct', ollama: 'Flexi → ollama node', openai: 'Flexi → openai node' };

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    parallel: { type: 'string', default: '32,4' },
    models: { type: 'string' },
    'big-models': { type: 'string' },
    prompts: { type: 'string' },
    targets: { type: 'string', default: 'direct,ollama,openai' },
    speed: { type: 'string', default: '4' },
    'big-speed': { type: 'string', default: '40' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const list = (text: string | undefined, fallback: string) => (text ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
const parallels = list(args.parallel, '32,4').map(Number);
const smallModels = list(args.models, args.quick ? 'phi3' : 'phi3,llama3,mistral,gemma');
const bigModels = list(args['big-models'], args.quick ? '' : 'mixtral');
const promptIndexes = list(args.prompts, args.quick ? '5' : '1,2,3,4,5').map((p) => Number(p) - 1);
const targets = list(args.targets, 'direct,ollama,openai') as Target[];
const speed = Number(args.speed);
const bigSpeed = Number(args['big-speed']);
const seed = Number(args.seed);
const LEVELS = [1, 10, 30];
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = args.out ?? join('bench', 'out', `direct-${stamp}`);
const work = mkdtempSync(join(tmpdir(), 'flexi-bench-direct-'));
const databaseUrl = join(work, 'flexi.db');
const started = performance.now();
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const log = (message: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);

interface Run {
  parallel: number;
  target: Target;
  speed: number;
  records: BenchRecord[];
  /** Learned limit per model at the end (Flexi targets). */
  limits: Record<string, string>;
  pacingLagMs: number | undefined;
}

log(`${cpus().length} cores, load ${load()}; N = ${parallels.join(', ')}; models ${[...smallModels, ...bigModels].join(', ')}; prompts ${promptIndexes.map((p) => p + 1).join(', ')}`);
const users = await createUsers(databaseUrl, [{ prefix: 'grid', role: 'staff', count: Math.max(...LEVELS) }, { prefix: 'admin', role: 'admin', count: 1 }]);

async function runOne(parallel: number, target: Target, models: readonly string[], phaseSpeed: number): Promise<Run> {
  const sim = await startSimHost('paper-server-b', 1, phaseSpeed, seed, parallel);
  const simUrl = sim.info.urls[0]!;
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  const dispatcher = createDispatcher();
  try {
    if (target !== 'direct') {
      const url = target === 'openai' ? `${simUrl}/v1` : simUrl;
      gateway = await startGateway(withClientDeadline(
        flexiConfig({ speed: phaseSpeed, databaseUrl, schedulerEnabled: true, nodes: [{ name: 'b', url, type: target }] }), phaseSpeed));
    }
    const driver = new Driver(gateway?.info.url ?? simUrl, phaseSpeed, dispatcher);
    await runGrid(driver, { models, promptIndexes, levels: LEVELS, users: users.get('grid')! });
    return {
      parallel, target, speed: phaseSpeed, records: driver.records, pacingLagMs: await pacingLagMs([simUrl]),
      limits: gateway ? await learnedLimits(gateway.info.url, users.get('admin')![0]!) : {},
    };
  } finally {
    await dispatcher.close();
    await gateway?.stop();
    await sim.stop();
  }
}

/**
 * Flexi refuses an interactive request that cannot start within 60 s; going direct, the client
 * waits up to its own time-out (the paper's 300 s). Both sides give up at the same point here, so
 * the comparison is about speed, not about that policy.
 */
function withClientDeadline(config: Record<string, unknown>, phaseSpeed: number): Record<string, unknown> {
  const scheduler = config.scheduler as { classes: { max_wait_ms: number }[] };
  const maxWaitMs = Math.round((PAPER_TIMEOUT_S * 1000) / phaseSpeed);
  return { ...config, scheduler: { ...scheduler, classes: scheduler.classes.map((c) => ({ ...c, max_wait_ms: maxWaitMs })) } };
}

async function learnedLimits(url: string, admin: BenchUser): Promise<Record<string, string>> {
  const reply = await fetch(`${url}/admin/v1/nodes`, { headers: { authorization: `Bearer ${admin.key}` } });
  const node = ((await reply.json()) as { data: AdminNode[] }).data[0];
  const limits: Record<string, string> = {};
  for (const [model, c] of Object.entries(node?.concurrency ?? {})) limits[model.replace(/:latest$/, '')] = `${c.limit} ${c.phase}`;
  return limits;
}

const runs: Run[] = [];
for (const parallel of parallels) {
  for (const [models, phaseSpeed] of [[smallModels, speed], [bigModels, bigSpeed]] as const) {
    if (models.length === 0) continue;
    for (const target of targets) {
      log(`N=${parallel} · ${target} · ${models.join(',')} at ×${phaseSpeed} (load ${load()}) …`);
      const t0 = performance.now();
      const run = await runOne(parallel, target, models, phaseSpeed);
      runs.push(run);
      log(`  ${run.records.length} requests in ${((performance.now() - t0) / 1000).toFixed(0)} s real; sim pacing lag ${(run.pacingLagMs ?? 0).toFixed(0)} ms`);
    }
  }
}

/** Mean e2e (s) over a model's cells at one level; a time-out counts with its time-out time, as in the paper. */
function cell(records: readonly BenchRecord[], model: string, level: number) {
  const mine = records.filter((r) => r.model === model && r.level === level);
  const measured = mine.filter((r) => r.ok || r.errorKind === 'timeout');
  const meanS = measured.length === 0 ? undefined : measured.reduce((a, r) => a + r.e2eMs, 0) / measured.length / 1000;
  return { meanS, timeouts: mine.filter((r) => r.errorKind === 'timeout').length, failed: mine.filter((r) => !r.ok && r.errorKind !== 'timeout').length, n: mine.length };
}

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '–' : x.toFixed(digits));
const sections: string[] = [];
const worst: { parallel: number; target: Target; model: string; level: number; ratio: number }[] = [];
for (const parallel of parallels) {
  const mine = runs.filter((r) => r.parallel === parallel);
  const flexiTargets = targets.filter((t) => t !== 'direct');
  const header = ['model', 'CQ', 'direct: mean s · t/o', ...flexiTargets.map((t) => `${TARGET_LABELS[t]}: mean s · ×direct · t/o · failed`)];
  const lines = [`### sim --parallel ${parallel}`, '', `| ${header.join(' | ')} |`, `|${' --- |'.repeat(header.length)}`];
  for (const model of [...smallModels, ...bigModels]) {
    const runFor = (t: Target) => mine.find((r) => r.target === t && r.records.some((x) => x.model === model));
    for (const level of LEVELS) {
      const direct = cell(runFor('direct')?.records ?? [], model, level);
      const columns = flexiTargets.map((t) => {
        const c = cell(runFor(t)?.records ?? [], model, level);
        const ratio = c.meanS !== undefined && direct.meanS ? c.meanS / direct.meanS : undefined;
        if (ratio !== undefined) worst.push({ parallel, target: t, model, level, ratio });
        return `${fmt(c.meanS)} · ${fmt(ratio, 2)} · ${c.timeouts} · ${c.failed}`;
      });
      lines.push(`| ${model} | ${level} | ${fmt(direct.meanS)} · ${direct.timeouts} | ${columns.join(' | ')} |`);
    }
  }
  const limits = flexiTargets.map((t) => `${TARGET_LABELS[t]}: ${mine.filter((r) => r.target === t).flatMap((r) => Object.entries(r.limits)
    .filter(([m]) => [...smallModels, ...bigModels].includes(m)).map(([m, l]) => `${m} ${l}`)).join(', ')}`);
  lines.push('', `Learned limit at the end — ${limits.join('; ')}.`);
  sections.push(lines.join('\n'));
}
worst.sort((a, b) => b.ratio - a.ratio);
const speeds = `×${speed} (${smallModels.join(', ')})${bigModels.length > 0 ? `, ×${bigSpeed} (${bigModels.join(', ')})` : ''}`;
const report = [
  `## Appendix A grid: direct vs through Flexi without \`slots\` (${new Date().toISOString().slice(0, 10)})`,
  '',
  `Profile paper-server-b, one sim node; prompts ${promptIndexes.map((p) => p + 1).join(', ')}; one burst of CQ requests per cell; sim speed ${speeds}; `
    + `${cpus().length} cores, load ${load()} at the end; ${((performance.now() - started) / 1000).toFixed(0)} s real.`,
  '',
  ...sections.flatMap((s) => [s, '']),
  worst.length > 0 ? `Worst cell: ${worst[0]!.model} at ${worst[0]!.level} CQ, ${TARGET_LABELS[worst[0]!.target]}, N=${worst[0]!.parallel}: ×${worst[0]!.ratio.toFixed(2)} direct.` : '',
].join('\n');
process.stdout.write(`${report}\n`);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'report.md'), `${report}\n`);
writeFileSync(join(outDir, 'runs.json'), JSON.stringify(runs, null, 1));
log(`wrote ${outDir}`);
rmSync(work, { recursive: true, force: true });
