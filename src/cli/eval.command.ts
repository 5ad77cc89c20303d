import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { createDispatcher, probeTarget, TargetError, type Target } from '../lab/client/target.js';
import { EVAL_TASKS, EvalDataError, isEvalTask, readEvalFile, type EvalItem, type EvalTask } from '../lab/eval/eval-data.js';
import { EvalResultFolder, renderEvalSummary, summarizeEval } from '../lab/eval/eval-results.js';
import { loglikRequests } from '../lab/eval/eval-prompts.js';
import { chatEngine, completionsLoglikEngine, EvalRequestError, type EvalEngine } from '../lab/eval/http-engines.js';
import { runEval } from '../lab/eval/run-eval.js';
import { parseNumber, parseProtocol } from './lab-options.js';
import { CliError } from './cli-error.js';
import { stopOnFirstInterrupt } from './interrupt.js';
import { configuredResultsDir, safePathSegment } from './results-dir.js';

interface EvalFlags {
  url?: string; key?: string; model?: string; task: string; data: string; shots?: string; limit?: string; method?: string;
  shotsFrom?: string; gguf?: string; concurrency?: string; timeoutS?: string; maxTokens?: string; protocol?: string; compare?: string; json?: boolean; out?: string; config?: string;
}

/** The Open LLM Leaderboard's shots per task (reference §4.3). */
const DEFAULT_SHOTS: Record<EvalTask, number> = {
  arc_easy: 25, arc_challenge: 25, hellaswag: 10, mmlu: 5, truthfulqa_mc1: 0, truthfulqa_mc2: 0, winogrande: 5, gsm8k: 5,
};


async function httpEngine(flags: EvalFlags, method: string, task: EvalTask, firstItem: EvalItem, timeoutMs: number): Promise<{ engine: EvalEngine; close(): Promise<void> }> {
  if (!flags.url) throw new CliError('give --url (a server) or --gguf (a model file for the embedded engine)');
  if (!flags.model) throw new CliError('--model is required with --url');
  const dispatcher = createDispatcher();
  let info = await probeTarget({ url: flags.url, apiKey: flags.key, protocol: parseProtocol(flags.protocol), dispatcher });
  // A server that speaks both (Flexi, flexi sim) is asked through /v1: only it can return prompt logprobs.
  if (info.protocol === 'ollama' && parseProtocol(flags.protocol) === 'auto') {
    const openai = await probeTarget({ url: flags.url, apiKey: flags.key, protocol: 'openai', dispatcher }).catch(() => undefined);
    if (openai?.models) info = openai;
  }
  if (info.models && !info.models.some((m) => m === flags.model || m === `${flags.model}:latest` || m.replace(/:latest$/, '') === flags.model)) {
    throw new CliError(`${info.baseUrl} does not list model "${flags.model}" (it lists ${info.models.slice(0, 10).join(', ') || 'none'})`);
  }
  const target: Target = { baseUrl: info.baseUrl, apiKey: flags.key, protocol: info.protocol, dispatcher };
  const options = { target, model: flags.model, timeoutMs };
  const close = () => dispatcher.close();
  if (method === 'generate' || task === 'gsm8k') return { engine: chatEngine(options), close };
  if (info.protocol === 'ollama') {
    if (method === 'loglik') throw new CliError('an Ollama server returns no prompt logprobs; use --method generate (or --gguf FILE for log-likelihood on the embedded engine)');
    return { engine: chatEngine(options), close };
  }
  const loglik = completionsLoglikEngine(options);
  if (method === 'loglik') return { engine: loglik, close };
  // auto: log-likelihood when the node returns prompt logprobs (vLLM, flexi sim), else generation.
  try {
    await loglik.loglik!(loglikRequests(firstItem, []).slice(0, 1), AbortSignal.timeout(timeoutMs));
    return { engine: loglik, close };
  } catch (error) {
    if (error instanceof EvalRequestError && (error.kind === 'unsupported' || error.kind === 'http' || error.kind === 'malformed')) {
      return { engine: chatEngine(options), close };
    }
    throw error;
  }
}

async function openEngine(flags: EvalFlags, method: string, task: EvalTask, items: EvalItem[], timeoutMs: number) {
  if (flags.gguf) {
    if (flags.url) throw new CliError('give either --url or --gguf, not both');
    if (method === 'generate' || task === 'gsm8k') throw new CliError('--gguf scores by log-likelihood; for generation serve the model and use --url');
    const { openEmbeddedEngine } = await import('../lab/eval/embedded-engine.js');
    const engine = await openEmbeddedEngine({ modelPath: flags.gguf }).catch((error: Error) => {
      throw new CliError(`cannot load ${flags.gguf}: ${error.message}`);
    });
    return { engine, close: () => engine.close() };
  }
  return httpEngine(flags, method, task, items[0]!, timeoutMs);
}

async function runEvalCommand(flags: EvalFlags): Promise<void> {
  if (!isEvalTask(flags.task)) throw new CliError(`--task must be one of ${EVAL_TASKS.join(', ')}, got "${flags.task}"`);
  const task = flags.task;
  const method = flags.method ?? 'auto';
  if (!['auto', 'loglik', 'generate'].includes(method)) throw new CliError(`--method must be auto, loglik or generate, got "${method}"`);
  if (flags.compare !== undefined && flags.compare !== 'paper') throw new CliError(`--compare only knows "paper", got "${flags.compare}"`);
  const shots = flags.shots === undefined ? DEFAULT_SHOTS[task] : parseNumber('--shots', flags.shots, { integer: true, exclusiveMin: false });
  const limit = flags.limit === undefined ? undefined : parseNumber('--limit', flags.limit, { integer: true });
  const concurrency = flags.concurrency === undefined ? 4 : parseNumber('--concurrency', flags.concurrency, { integer: true });
  const timeoutMs = (flags.timeoutS === undefined ? 120 : parseNumber('--timeout-s', flags.timeoutS)) * 1000;
  const maxTokens = flags.maxTokens === undefined ? undefined : parseNumber('--max-tokens', flags.maxTokens, { integer: true });

  let items: EvalItem[];
  try {
    items = readEvalFile(flags.data, task);
  } catch (error) {
    if (error instanceof EvalDataError) throw new CliError(`--data: ${error.message}`);
    throw error;
  }
  if (limit !== undefined) items = items.slice(0, limit);
  let shotPool: EvalItem[] | undefined;
  if (flags.shotsFrom) {
    try {
      shotPool = readEvalFile(flags.shotsFrom, task);
    } catch (error) {
      if (error instanceof EvalDataError) throw new CliError(`--shots-from: ${error.message}`);
      throw error;
    }
  }

  let opened: { engine: EvalEngine; close(): Promise<void> };
  try {
    opened = await openEngine(flags, method, task, items, timeoutMs);
  } catch (error) {
    if (error instanceof TargetError || error instanceof EvalRequestError) throw new CliError(error.message);
    throw error;
  }
  const { engine } = opened;
  const model = flags.model ?? basename(flags.gguf!).replace(/\.gguf$/i, '');
  const out = flags.out ?? join(configuredResultsDir(flags.config), 'eval', safePathSegment(model), `${task}-${engine.method}`);
  let folder: EvalResultFolder;
  try {
    folder = new EvalResultFolder(out, { model, task, method: engine.method });
  } catch (error) {
    await opened.close();
    throw new CliError((error as Error).message);
  }

  const bar = !flags.json && process.stderr.isTTY === true
    ? new SingleBar({ format: ' {bar} {value}/{total} items | {task} | unparsed {unparsed} | failed {errors} | ETA {eta_formatted}', stream: process.stderr, hideCursor: true })
    : undefined;
  let started = false;
  const interrupt = stopOnFirstInterrupt('stopping; what was scored is kept (run again to continue)');
  try {
    const result = await runEval({ model, task, items, shots, shotPool, engine, concurrency, done: folder.doneIds(), maxTokens }, {
      signal: interrupt.signal,
      onRecord: (record) => folder.append(record),
      onProgress: (p) => {
        if (!bar) return;
        const payload = { task, unparsed: p.unparsed, errors: p.errors };
        if (!started) {
          bar.start(p.total, p.done, payload);
          started = true;
        } else bar.update(p.done, payload);
      },
    });
    bar?.stop();
    const summary = summarizeEval(folder.records(items.map((i) => i.id)), {
      model, task, method: engine.method, methodDescription: engine.description, items: items.length, shots, data: flags.data, comparePaper: flags.compare === 'paper',
    });
    folder.writeSummary(summary);
    if (flags.json) process.stdout.write(`${JSON.stringify({ ...summary, resumed: result.resumed, out }, null, 2)}\n`);
    else {
      if (result.resumed) process.stdout.write(`Resumed: ${result.resumed} items were already scored in ${out}\n`);
      process.stdout.write(`${renderEvalSummary(summary)}Wrote ${folder.itemsFile} and ${folder.summaryFile}\n`);
    }
    if (result.stoppedEarly) {
      process.stderr.write(`flexi eval: stopped early: ${result.stoppedEarly}\n`);
      process.exitCode = 1;
    } else if (result.aborted) process.exitCode = 130;
  } finally {
    bar?.stop();
    interrupt.dispose();
    await opened.close();
  }
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('score a model on a benchmark file (ARC, HellaSwag, MMLU, TruthfulQA, WinoGrande, GSM8K): accuracy with a 95 % interval, per-item JSONL, resumable')
    .option('--url <url>', 'server to evaluate (Flexi, Ollama, vLLM, flexi sim)')
    .option('--key <key>', 'API key, sent as Authorization: Bearer')
    .option('--model <name>', 'model name (required with --url; default with --gguf: the file name)')
    .option('--gguf <file>', 'evaluate a GGUF file on the embedded engine in this process (log-likelihood)')
    .requiredOption('--task <task>', `one of ${EVAL_TASKS.join(', ')}`)
    .requiredOption('--data <file>', 'the benchmark as JSONL in its Hugging Face format (see docs/evals.md)')
    .option('--shots <k>', 'few-shot examples per prompt (default: the Leaderboard\'s)')
    .option('--shots-from <file>', 'take few-shot examples from this file (the dataset\'s dev or train split; default: the start of --data)')
    .option('--limit <n>', 'evaluate only the first n items')
    .option('--method <m>', 'auto | loglik (choice log-likelihood, the Leaderboard\'s method) | generate (letter/number parsing)', 'auto')
    .option('--concurrency <n>', 'requests in flight (sent as scheduler class batch)', '4')
    .option('--timeout-s <s>', 'time-out per request in seconds (default 120)')
    .option('--max-tokens <n>', 'output-token cap for generation (default 8; GSM8K 256)')
    .option('--protocol <p>', 'openai | ollama | auto', 'auto')
    .option('--compare <what>', '"paper": put the paper\'s Table 4 score beside the measured one')
    .option('--out <dir>', 'result folder (items.jsonl, summary.json); rerunning into it resumes (default <catalog.results_dir>/eval/<model>/<task>-<method>)')
    .option('-c, --config <file>', 'config file whose catalog.results_dir holds the results (default: $FLEXI_CONFIG or ./flexi.yaml; without one ./data/evidence)')
    .option('--json', 'print the summary as JSON (no progress bar)')
    .action(runEvalCommand);
}
