import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadSimProfileFile, type SimProfile } from '../lab/sim/profile.js';
import { calibrationRows, summarizeCalibration } from '../lab/sim/calibration.js';
import { BUILTIN_PROFILES } from '../lab/sim/profiles.js';
import { SIM_DEFAULT_PORT, startSimServer, withParallel } from '../lab/sim/sim-server.js';
import { CliError } from './cli-error.js';
import { EVAL_TASKS, EvalDataError, isEvalTask } from '../lab/eval/eval-data.js';
import type { SimAnswerKey } from '../lab/sim/sim-evals.js';

interface SimOptions {
  host: string;
  port: string;
  profile: string;
  speed: string;
  seed: string;
  errorRate?: string;
  hangRate?: string;
  dropRate?: string;
  parallel?: string;
  calibration?: boolean;
  json?: boolean;
  evalData: SimAnswerKey[];
}

/** `--eval-data task=FILE`: a benchmark file whose answers the sim knows. */
function parseAnswerKey(value: string, previous: SimAnswerKey[]): SimAnswerKey[] {
  const at = value.indexOf('=');
  const task = at > 0 ? value.slice(0, at) : '';
  if (!isEvalTask(task)) throw new CliError(`--eval-data must be TASK=FILE with TASK one of ${EVAL_TASKS.join(', ')}, got "${value}"`);
  const path = value.slice(at + 1);
  if (!existsSync(path)) throw new CliError(`--eval-data: ${path} does not exist`);
  return [...previous, { task, path }];
}

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('run a simulated inference server (Ollama + OpenAI protocols) for load tests and development without a GPU')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', `port to listen on (0 = any free port)`, String(SIM_DEFAULT_PORT))
    .option('--profile <name|file>', `built-in profile (${Object.keys(BUILTIN_PROFILES).join(', ')}) or a .json/.yaml file`, 'paper-server-b')
    .option('--speed <x>', 'time scale: every simulated delay is divided by x (durations reported stay simulated)', '1')
    .option('--seed <n>', 'seed for generated text, lengths and injected faults', '0')
    .option('--error-rate <p>', 'share of requests answered 500 (0–1)')
    .option('--hang-rate <p>', 'share of requests never answered (0–1)')
    .option('--drop-rate <p>', 'share of requests whose connection drops mid-stream (0–1)')
    .option('--parallel <n>', "requests per model running at once, the rest wait FIFO inside the sim like OLLAMA_NUM_PARALLEL (default: the profile's slots per model)")
    .option('--calibration', "print the profile's fit to the paper's Appendix A (1/10/30 CQ) and exit")
    .option('--json', 'print JSON (the start-up line, or the calibration rows)')
    .option('--eval-data <task=file>', 'a benchmark file (flexi eval format) whose items the models answer with their accuracy; repeatable', parseAnswerKey, [])
    .action(async (options: SimOptions) => {
      const parallel = options.parallel === undefined ? undefined : parseNumber(options.parallel, '--parallel', { integer: true, min: 1, max: 4096 });
      const profile = withParallel(await resolveProfile(options.profile), parallel);
      if (options.calibration) {
        printCalibration(profile, options.json === true);
        return;
      }
      const sim = await startSimServer({
        host: options.host,
        port: parseNumber(options.port, '--port', { integer: true, min: 0, max: 65535 }),
        profile,
        speed: parseSpeed(options.speed),
        seed: parseNumber(options.seed, '--seed', { integer: true, min: 0 }),
        faults: {
          errorRate: parseRate(options.errorRate, '--error-rate'),
          hangRate: parseRate(options.hangRate, '--hang-rate'),
          dropRate: parseRate(options.dropRate, '--drop-rate'),
        },
        answerKeys: options.evalData,
      }).catch((error: NodeJS.ErrnoException) => {
        if (error instanceof EvalDataError) throw new CliError(`--eval-data: ${error.message}`);
        if (error.code === 'EADDRINUSE') throw new CliError(`port ${options.port} is in use; pick another with --port`);
        throw error;
      });
      const summary = { url: sim.url, openai_base_url: `${sim.url}/v1`, profile: profile.name, speed: sim.state.speed, seed: sim.state.seed, models: profile.models.map((m) => m.name), parallel: Object.fromEntries(profile.models.map((m) => [m.name, m.slots])) };
      process.stdout.write(
        options.json
          ? `${JSON.stringify(summary)}\n`
          : `flexi sim listening on ${sim.url} (OpenAI: ${sim.url}/v1)\n` +
            `profile ${profile.name}: ${profile.models.length} models, ${profile.memoryGb} GB, ${describeSlots(profile)}; speed ×${sim.state.speed}; seed ${sim.state.seed}\n` +
            `state: ${sim.url}/sim/info — stop with Ctrl-C\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void sim.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}

function printCalibration(profile: SimProfile, json: boolean): void {
  const rows = calibrationRows(profile);
  if (rows.length === 0) throw new CliError(`profile ${profile.name} has none of the paper's models; nothing to compare`);
  if (json) {
    const out = rows.map((row) => ({
      model: row.model, prompt: row.prompt, concurrent_queries: row.concurrency,
      paper_mean_s: row.paperSeconds, sim_mean_s: Math.round(row.simSeconds * 10) / 10,
    }));
    process.stdout.write(`${JSON.stringify({ profile: profile.name, rows: out }, null, 2)}\n`);
    return;
  }
  const lines = [`${profile.name}: mean end-to-end seconds per request, paper / sim (mean over the five prompts; 300 = client time-out)`];
  lines.push(`${'model'.padEnd(16)}${['1 CQ', '10 CQ', '30 CQ'].map((h) => h.padStart(16)).join('')}`);
  for (const summary of summarizeCalibration(rows)) {
    const cells = [1, 10, 30].map((cq) => `${fmt(summary.paper[cq])} / ${fmt(summary.sim[cq])}`.padStart(16));
    lines.push(`${summary.model.padEnd(16)}${cells.join('')}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `parallel 4` when every model has the same slots, else the range. */
function describeSlots(profile: SimProfile): string {
  const slots = profile.models.map((m) => m.slots);
  const min = Math.min(...slots);
  const max = Math.max(...slots);
  return min === max ? `parallel ${min}` : `parallel ${min}–${max}`;
}

function fmt(value: number | undefined): string {
  return value === undefined ? '–' : value.toFixed(1);
}

async function resolveProfile(nameOrPath: string): Promise<SimProfile> {
  const builtin = BUILTIN_PROFILES[nameOrPath];
  if (builtin) return builtin;
  if (!existsSync(nameOrPath)) {
    throw new CliError(`unknown profile "${nameOrPath}": use one of ${Object.keys(BUILTIN_PROFILES).join(', ')} or a path to a .json/.yaml file`);
  }
  try {
    return await loadSimProfileFile(nameOrPath);
  } catch (error) {
    throw new CliError(`cannot load profile: ${(error as Error).message}`);
  }
}

function parseNumber(value: string, flag: string, limits: { integer?: boolean; min?: number; max?: number }): number {
  const n = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(n) && (!limits.integer || Number.isInteger(n))
    && (limits.min === undefined || n >= limits.min) && (limits.max === undefined || n <= limits.max);
  if (!ok) {
    const range = `${limits.min ?? '-∞'}…${limits.max ?? '∞'}`;
    throw new CliError(`${flag} must be ${limits.integer ? 'an integer' : 'a number'} in ${range}, got "${value}"`);
  }
  return n;
}

function parseSpeed(value: string): number {
  const speed = Number(value);
  if (!(Number.isFinite(speed) && speed > 0)) throw new CliError(`--speed must be a number above 0 (e.g. 10), got "${value}"`);
  return speed;
}

function parseRate(value: string | undefined, flag: string): number | undefined {
  return value === undefined ? undefined : parseNumber(value, flag, { min: 0, max: 1 });
}
