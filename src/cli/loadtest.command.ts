import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { TargetError } from '../lab/client/target.js';
import type { LoadTestOptions, LoadTestRecord } from '../lab/loadtest/load-test.types.js';
import { renderTable } from '../lab/loadtest/render-text.js';
import { ResultWriter } from '../lab/loadtest/result-writer.js';
import { runLoadTest } from '../lab/loadtest/run-load-test.js';
import { summarize } from '../lab/loadtest/summarize.js';
import { parseList, parseNumber, parseNumberList, parseProtocol, readPromptsFile } from './lab-options.js';
import { CliError, VERSION } from './cli-error.js';
import { stopOnFirstInterrupt } from './interrupt.js';

interface LoadtestFlags {
  url: string; key?: string; models: string; prompts?: string; concurrency?: string; requests?: string; timeoutS?: string;
  out?: string; compare?: string; json?: boolean; protocol?: string; mode?: string; rate?: string; ramp?: string; warmup?: string;
  sloTtftMs?: string; sloE2eMs?: string; maxTokens?: string; timeScale?: string; seed?: string;
}

function toOptions(flags: LoadtestFlags): LoadTestOptions {
  const mode = flags.mode ?? 'closed';
  if (mode !== 'closed' && mode !== 'open') throw new CliError(`--mode must be closed or open, got "${mode}"`);
  if (mode === 'open' && !flags.rate) throw new CliError('--mode open needs --rate, e.g. --rate 0.5,1,2 (requests per second)');
  if (flags.compare !== undefined && flags.compare !== 'paper') throw new CliError(`--compare only knows "paper", got "${flags.compare}"`);
  const slo = {
    ttftMs: flags.sloTtftMs ? parseNumber('--slo-ttft-ms', flags.sloTtftMs) : undefined,
    e2eMs: flags.sloE2eMs ? parseNumber('--slo-e2e-ms', flags.sloE2eMs) : undefined,
  };
  return {
    url: flags.url, apiKey: flags.key, protocol: parseProtocol(flags.protocol), models: parseList('--models', flags.models),
    prompts: flags.prompts ? readPromptsFile(flags.prompts) : undefined, mode,
    concurrency: flags.concurrency ? parseNumberList('--concurrency', flags.concurrency, { integer: true }) : undefined,
    rates: flags.rate ? parseNumberList('--rate', flags.rate) : undefined,
    rampS: flags.ramp ? parseNumber('--ramp', flags.ramp, { exclusiveMin: false }) : undefined,
    requestsPerCell: flags.requests ? parseNumber('--requests', flags.requests, { integer: true }) : undefined,
    timeoutS: flags.timeoutS ? parseNumber('--timeout-s', flags.timeoutS) : undefined,
    warmup: flags.warmup ? parseNumber('--warmup', flags.warmup, { integer: true, exclusiveMin: false }) : undefined,
    maxTokens: flags.maxTokens ? parseNumber('--max-tokens', flags.maxTokens, { integer: true }) : undefined,
    timeScale: flags.timeScale ? parseNumber('--time-scale', flags.timeScale) : undefined,
    seed: flags.seed ? parseNumber('--seed', flags.seed, { integer: true, exclusiveMin: false }) : undefined,
    slo: slo.ttftMs !== undefined || slo.e2eMs !== undefined ? slo : undefined,
    flexiVersion: VERSION,
  };
}

function defaultOutDir(): string {
  return `flexi-loadtest-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
}

async function runLoadtestCommand(flags: LoadtestFlags): Promise<void> {
  const options = toOptions(flags);
  const writer = new ResultWriter(flags.out ?? defaultOutDir());
  const compare = flags.compare === 'paper' ? 'paper' as const : undefined;
  const showBar = !flags.json && process.stderr.isTTY === true;
  const bar = showBar ? new SingleBar({
    format: ' {bar} {value}/{total} requests | {model} @ {level} | errors {errors} | ETA {eta_formatted}',
    stream: process.stderr, hideCursor: true,
  }) : undefined;
  let barStarted = false;
  const records: LoadTestRecord[] = [];
  const interrupt = stopOnFirstInterrupt('stopping; writing partial results (Ctrl-C again to quit at once)');
  try {
    const result = await runLoadTest(options, {
      signal: interrupt.signal,
      onRecord: (r) => {
        records.push(r);
        writer.appendRecord(r);
      },
      onProgress: (p) => {
        if (!bar) return;
        const payload = { model: p.model, level: p.warmup ? 'warm-up' : p.level, errors: p.errors };
        if (!barStarted) {
          bar.start(p.total, p.done, payload);
          barStarted = true;
        } else bar.update(p.done, payload);
      },
    });
    bar?.stop();
    const summary = summarize(result.records, { setup: result.setup, aborted: result.aborted, fatalError: result.fatalError, warnings: result.warnings, compare });
    writer.writeSummary(summary, result.records);
    if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(`${renderTable(summary)}\nWrote ${writer.files.records}, ${writer.files.summaryJson}, ${writer.files.summaryCsv}, ${writer.files.report}\n`);
    if (result.fatalError) process.exitCode = 1;
    else if (result.aborted) process.exitCode = 130;
  } catch (error) {
    bar?.stop();
    if (error instanceof TargetError || error instanceof RangeError) {
      const summary = summarize(records, { fatalError: error.message, compare });
      writer.writeSummary(summary, records);
      throw new CliError(`${error.message}\n(wrote what there was to ${writer.dir})`);
    }
    throw error;
  } finally {
    interrupt.dispose();
  }
}

export function registerLoadtestCommand(program: Command): void {
  program
    .command('loadtest')
    .description('load-test an OpenAI- or Ollama-compatible endpoint: models × prompts × concurrency, as in the paper\'s Appendix A')
    .requiredOption('--url <url>', 'target base URL, e.g. http://127.0.0.1:11434 (Ollama) or http://host:8000 (Flexi, vLLM)')
    .option('--key <key>', 'API key, sent as Authorization: Bearer')
    .requiredOption('--models <list>', 'comma-separated model names')
    .option('--prompts <file>', 'prompts: JSON array, JSONL with "prompt", or one per line (default: the paper\'s five)')
    .option('--concurrency <list>', 'closed loop: requests in flight per level (default 1,10,30)')
    .option('--requests <n>', 'measured requests per model × prompt × level (default 10; at least the concurrency)')
    .option('--timeout-s <s>', 'client time-out per request in (reported) seconds (default 300, the paper\'s)')
    .option('--out <dir>', 'folder for requests.jsonl, summary.json, summary.csv and report.html (default ./flexi-loadtest-<time>)')
    .option('--compare <what>', '"paper": put the paper\'s Appendix A numbers beside the measured ones')
    .option('--json', 'print the summary as JSON instead of the table (no progress bar)')
    .option('--protocol <p>', 'openai | ollama | auto (GET /api/version, then /v1/models)', 'auto')
    .option('--mode <m>', 'closed (fixed concurrency) | open (Poisson arrivals at --rate)', 'closed')
    .option('--rate <list>', 'open loop: arrival rates in requests per (reported) second, one level each')
    .option('--ramp <s>', 'open loop: raise the arrival rate linearly from 0 over this many seconds')
    .option('--warmup <n>', 'unmeasured requests per model before its cells (default 1)')
    .option('--slo-ttft-ms <ms>', 'goodput: a good request has its first token within this many ms')
    .option('--slo-e2e-ms <ms>', 'goodput: a good request finishes within this many ms')
    .option('--max-tokens <n>', 'cap on output tokens per request (default: the server\'s)')
    .option('--time-scale <x>', 'multiply measured times by X (a `flexi sim --speed X` target; default: its x-sim-speed header)')
    .option('--seed <n>', 'seed for open-loop arrival times (default 1)')
    .action(runLoadtestCommand);
}
