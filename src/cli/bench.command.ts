import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { renderBenchTable, runBench } from '../lab/bench/run-bench.js';
import { TargetError } from '../lab/client/target.js';
import { parseList, parseNumber, parseProtocol, readPromptsFile } from './lab-options.js';
import { CliError, VERSION } from './cli-error.js';
import { stopOnFirstInterrupt } from './interrupt.js';

interface BenchFlags {
  url: string; key?: string; models: string; prompts?: string; runs?: string; maxTokens?: string; timeoutS?: string;
  protocol?: string; timeScale?: string; save?: string; compare?: string; json?: boolean;
}

async function runBenchCommand(flags: BenchFlags): Promise<void> {
  if (flags.compare !== undefined && flags.compare !== 'paper') throw new CliError(`--compare only knows "paper", got "${flags.compare}"`);
  const options = {
    url: flags.url, apiKey: flags.key, protocol: parseProtocol(flags.protocol), models: parseList('--models', flags.models),
    prompts: flags.prompts ? readPromptsFile(flags.prompts) : undefined,
    runs: flags.runs ? parseNumber('--runs', flags.runs, { integer: true }) : undefined,
    maxTokens: flags.maxTokens ? parseNumber('--max-tokens', flags.maxTokens, { integer: true }) : undefined,
    timeoutS: flags.timeoutS ? parseNumber('--timeout-s', flags.timeoutS) : undefined,
    timeScale: flags.timeScale ? parseNumber('--time-scale', flags.timeScale) : undefined,
    compare: flags.compare === 'paper' ? 'paper' as const : undefined,
    flexiVersion: VERSION,
  };
  const bar = !flags.json && process.stderr.isTTY === true
    ? new SingleBar({ format: ' {bar} {value}/{total} requests | {model}', stream: process.stderr, hideCursor: true }) : undefined;
  let started = false;
  const interrupt = stopOnFirstInterrupt();
  try {
    const result = await runBench(options, {
      signal: interrupt.signal,
      onProgress: (p) => {
        if (!bar) return;
        if (!started) {
          bar.start(p.total, p.done, { model: p.model });
          started = true;
        } else bar.update(p.done, { model: p.model });
      },
    });
    bar?.stop();
    if (flags.save) {
      mkdirSync(dirname(flags.save), { recursive: true });
      writeFileSync(flags.save, `${JSON.stringify(result, null, 2)}\n`);
    }
    if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`${renderBenchTable(result)}${flags.save ? `Saved ${flags.save}\n` : ''}`);
    if (result.models.every((m) => m.errors === m.runs.length)) process.exitCode = 1;
  } catch (error) {
    bar?.stop();
    if (error instanceof TargetError || error instanceof RangeError) throw new CliError(error.message);
    throw error;
  } finally {
    interrupt.dispose();
  }
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('decode tokens/s, prompt-processing rate and load time per model, one request at a time (the paper\'s Table 4 throughput)')
    .requiredOption('--url <url>', 'target base URL (Ollama, Flexi, vLLM, flexi sim, …)')
    .option('--key <key>', 'API key, sent as Authorization: Bearer')
    .requiredOption('--models <list>', 'comma-separated model names')
    .option('--prompts <file>', 'prompts: JSON array, JSONL with "prompt", or one per line (default: the paper\'s five)')
    .option('--runs <n>', 'runs per prompt (default 1)')
    .option('--max-tokens <n>', 'cap on output tokens per request')
    .option('--timeout-s <s>', 'client time-out per request in seconds (default 300)')
    .option('--protocol <p>', 'openai | ollama | auto', 'auto')
    .option('--time-scale <x>', 'multiply stream-measured times by X (default: the target\'s x-sim-speed header)')
    .option('--save <file>', 'write the results as JSON (schema flexi.bench/1) for the model catalog')
    .option('--compare <what>', '"paper": show the paper\'s Table 4 tokens/s beside the measured rate')
    .option('--json', 'print JSON instead of the table')
    .action(runBenchCommand);
}
