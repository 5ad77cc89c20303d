/**
 * Scheduler benchmark (issue 5 item 7): Flexi with its scheduler against a least-busy balancer
 * without a queue and against the paper's single FIFO server, on `flexi sim` nodes modelling the
 * paper's servers A (8 × A5000) and B (2 × A40). Scenarios: (a) the Appendix A grid, (b) an exam
 * rush, (c) a node killed mid-run. Prints markdown tables, writes bench/out/scheduler-<time>/.
 *
 *   npm run bench:scheduler [-- --quick] [--scenarios grid,rush,kill] [--systems flexi,round-robin,fifo] [--researchers N]
 *                           [--batch-share 0.25] [--newcomer-reserve 0.125] [--out DIR]
 *
 * Method, scale and definitions: docs/scheduler-benchmark.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDispatcher } from '../src/lab/client/target.js';
import { PAPER_CLUSTER, SYSTEMS, pacingLagMs, startCluster, type MachineSpec, type SystemKind } from './scheduler/cluster.js';
import { Driver } from './scheduler/driver.js';
import { createUsers } from './scheduler/keys.js';
import { DEFAULT_SLO } from './scheduler/metrics.js';
import { gatewayQueue, renderGridTable, renderScenarioTable, summarizeRun, type RunResult, type RunSummary } from './scheduler/report.js';
import { runGrid, runKill, runRush } from './scheduler/scenarios.js';
import { PLANS, type Plan, type ScenarioName } from './scheduler/plan.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenarios: { type: 'string', default: 'grid,rush,kill' },
    systems: { type: 'string', default: SYSTEMS.join(',') },
    out: { type: 'string' },
    seed: { type: 'string', default: '1' },
    // 0 shows what the students alone get from the same cluster (is the rush over capacity?).
    researchers: { type: 'string' },
    // Flexi's batch class `max_share` instead of the default: the trade-off between students and researchers.
    'batch-share': { type: 'string' },
    // Flexi's `scheduler.newcomer_reserve` instead of the default (0: off).
    'newcomer-reserve': { type: 'string' },
  },
});
const basePlan: Plan = PLANS[args.quick ? 'quick' : 'full'];
const plan: Plan = args.researchers === undefined ? basePlan : { ...basePlan, rush: { ...basePlan.rush, researchers: Number(args.researchers) } };
const scenarios = args.scenarios!.split(',') as ScenarioName[];
const systems = args.systems!.split(',') as SystemKind[];
const seed = Number(args.seed);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = args.out ?? join('bench', 'out', `scheduler-${stamp}`);
const work = mkdtempSync(join(tmpdir(), 'flexi-bench-'));
const databaseUrl = join(work, 'flexi.db');
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const started = performance.now();
const loadBefore = load();
const log = (message: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);

log(`${args.quick ? 'quick' : 'full'} run; ${cpus().length} cores, load ${loadBefore}; keys in ${databaseUrl}`);
const users = await createUsers(databaseUrl, [
  { prefix: 'grid', role: 'staff', count: Math.max(...plan.grid.levels) },
  { prefix: 'student', role: 'student', count: plan.rush.students },
  { prefix: 'researcher', role: 'researcher', count: plan.rush.researchers },
  // staff, not student: at ×4 a student's 20 requests per (real) minute would refuse them.
  { prefix: 'kill', role: 'staff', count: plan.kill.users },
]);

const KILL_CLUSTER: readonly MachineSpec[] = [
  { name: 'gpu1', profile: 'paper-server-a', count: 1 },
  { name: 'gpu2', profile: 'paper-server-a', count: 1 },
];

async function runOne(scenario: ScenarioName, system: SystemKind, phase: { machines: readonly MachineSpec[]; speed: number },
  body: (driver: Driver, cluster: Awaited<ReturnType<typeof startCluster>>) => Promise<{ killedAtMs?: number } | void>): Promise<RunResult> {
  const batchShare = args['batch-share'] === undefined ? undefined : Number(args['batch-share']);
  const newcomerReserve = args['newcomer-reserve'] === undefined ? undefined : Number(args['newcomer-reserve']);
  const cluster = await startCluster({ system, machines: phase.machines, speed: phase.speed, seed, databaseUrl, batchShare, newcomerReserve });
  const dispatcher = createDispatcher();
  const t0 = performance.now();
  try {
    const driver = new Driver(cluster.url, phase.speed, dispatcher);
    const extra = await body(driver, cluster);
    return {
      scenario, system, speed: phase.speed, pacingLagMs: await pacingLagMs(cluster.simUrls), wallS: (performance.now() - t0) / 1000,
      records: driver.records, killedAtMs: extra ? extra.killedAtMs : undefined,
      gatewayQueue: system === 'flexi' ? await gatewayQueue(cluster.url, phase.speed) : undefined,
    };
  } finally {
    await dispatcher.close();
    await cluster.stop();
  }
}

const results: RunResult[] = [];
for (const scenario of scenarios) {
  for (const system of systems) {
    const speed = plan.speeds[scenario][system];
    log(`${scenario} · ${system} at ×${speed} …`);
    let run: RunResult;
    if (scenario === 'grid') {
      // Small and big models at their own speeds: the big ones are slow in simulated time but cheap in tokens.
      const parts: RunResult[] = [];
      for (const [models, phaseSpeed, machines] of [
        [plan.grid.smallModels, speed, PAPER_CLUSTER],
        [plan.grid.bigModels, plan.gridBigSpeed, PAPER_CLUSTER.filter((m) => m.name === 'b')],
      ] as const) {
        if (models.length === 0) continue;
        parts.push(await runOne('grid', system, { machines, speed: phaseSpeed }, (driver) => runGrid(driver, {
          models, promptIndexes: plan.grid.promptIndexes, levels: plan.grid.levels, users: users.get('grid')!,
        })));
      }
      run = {
        scenario, system, speed, wallS: parts.reduce((a, p) => a + p.wallS, 0), records: parts.flatMap((p) => p.records),
        pacingLagMs: Math.max(...parts.map((p) => p.pacingLagMs ?? 0)),
        gatewayQueue: parts[0]?.gatewayQueue,
      };
    } else if (scenario === 'rush') {
      run = await runOne('rush', system, { machines: PAPER_CLUSTER, speed }, (driver, cluster) => runRush(driver, {
        ...plan.rush.options, model: plan.rush.model, students: users.get('student')!, researchers: users.get('researcher')!, seed,
        warmupBurst: cluster.simUrls.length,
      }));
    } else {
      run = await runOne('kill', system, { machines: KILL_CLUSTER, speed }, (driver, cluster) => runKill(driver, {
        ...plan.kill.options, model: plan.kill.model, users: users.get('kill')!, seed,
        // fifo runs on one node only: that node dies; otherwise the second machine does.
        kill: () => cluster.machines[cluster.machines.length - 1]!.child.kill(),
      }));
    }
    results.push(run);
    const summary = summarizeRun(run, DEFAULT_SLO);
    log(`  done in ${run.wallS.toFixed(0)} s real; ${run.records.length} requests; sim pacing lag ${(summary.pacingLagMs ?? 0).toFixed(0)} ms`);
  }
}

const summaries: RunSummary[] = results.map((r) => summarizeRun(r, DEFAULT_SLO));
const sections: string[] = [];
for (const scenario of scenarios) {
  const mine = summaries.filter((s) => s.scenario === scenario);
  sections.push(`### ${scenario}\n\n${renderScenarioTable(mine)}`);
  if (scenario === 'grid') sections.push(renderGridTable(results.filter((r) => r.scenario === 'grid')));
}
const wallS = (performance.now() - started) / 1000;
const header = `Scheduler benchmark, ${new Date().toISOString()} (${args.quick ? 'quick' : 'full'}), ${cpus().length} cores, `
  + `load average before ${loadBefore}, after ${load()}, ${wallS.toFixed(0)} s wall. Times in simulated seconds.`;
const markdown = [header, ...sections].join('\n\n');
process.stdout.write(`${markdown}\n`);

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify({
  schema: 'flexi.bench.scheduler/1', startedAt: stamp, quick: args.quick, seed, cores: cpus().length,
  loadBefore, loadAfter: load(), wallS, plan, slo: DEFAULT_SLO, summaries,
}, null, 2)}\n`);
writeFileSync(join(outDir, 'requests.jsonl'), results.flatMap((r) => r.records.map((rec) => JSON.stringify({ scenario: r.scenario, system: r.system, ...rec }))).join('\n') + '\n');
writeFileSync(join(outDir, 'report.md'), `${markdown}\n`);
log(`wrote ${outDir}`);
rmSync(work, { recursive: true, force: true });
