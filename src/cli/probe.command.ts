import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { createDispatcher, probeTarget, TargetError, type Target } from '../lab/client/target.js';
import { chatEngine } from '../lab/eval/http-engines.js';
import { findProbeSets, PROBE_SETS } from '../lab/probe/probe-sets.js';
import { summarizeProbes, toGarakHitlog, toGarakJsonl } from '../lab/probe/probe-report.js';
import { renderProbeHtml } from '../lab/probe/render-probe-html.js';
import { runProbes } from '../lab/probe/run-probe.js';
import { configuredResultsDir, safePathSegment } from './results-dir.js';
import { parseList, parseNumber, parseProtocol } from './lab-options.js';
import { CliError } from './cli-error.js';
import { stopOnFirstInterrupt } from './interrupt.js';
import { formatTable } from './table.js';

interface ProbeFlags {
  url?: string; key?: string; model?: string; probes?: string; generations?: string; concurrency?: string; timeoutS?: string;
  maxTokens?: string; temperature?: string; protocol?: string; judgeModel?: string; judgeUrl?: string; judgeKey?: string;
  out?: string; json?: boolean; list?: boolean; config?: string;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

function pct(value: number | null): string {
  return value === null ? '–' : `${(value * 100).toFixed(1)} %`;
}

async function openTarget(url: string, key: string | undefined, protocol: string | undefined, model: string): Promise<Target> {
  const dispatcher = createDispatcher();
  const info = await probeTarget({ url, apiKey: key, protocol: parseProtocol(protocol), dispatcher });
  if (info.models && !info.models.some((m) => m === model || m === `${model}:latest` || m.replace(/:latest$/, '') === model)) {
    await dispatcher.close();
    throw new CliError(`${info.baseUrl} does not list model "${model}" (it lists ${info.models.slice(0, 10).join(', ') || 'none'})`);
  }
  return { baseUrl: info.baseUrl, apiKey: key, protocol: info.protocol, dispatcher };
}

function listProbes(json: boolean): void {
  const rows = PROBE_SETS.map((s) => ({ name: s.name, family: s.family, tier: s.tier, prompts: s.prompts.length, detectors: s.detectors.map((d) => d.name), source: s.source, licence: s.licence }));
  if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else process.stdout.write(formatTable(['probe', 'family', 'tier', 'prompts', 'detectors'], rows.map((r) => [r.name, r.family, String(r.tier), String(r.prompts), r.detectors.join(', ')])));
}

async function runProbeCommand(flags: ProbeFlags): Promise<void> {
  if (flags.list) return listProbes(flags.json === true);
  if (!flags.url || !flags.model) throw new CliError('--url and --model are required (or --list to see the probes)');
  let sets;
  try {
    sets = findProbeSets(flags.probes ? parseList('--probes', flags.probes) : undefined);
  } catch (error) {
    throw new CliError(`--probes: ${(error as Error).message}`);
  }
  const generations = flags.generations === undefined ? 1 : parseNumber('--generations', flags.generations, { integer: true });
  const concurrency = flags.concurrency === undefined ? 4 : parseNumber('--concurrency', flags.concurrency, { integer: true });
  const timeoutMs = (flags.timeoutS === undefined ? 120 : parseNumber('--timeout-s', flags.timeoutS)) * 1000;
  const maxTokens = flags.maxTokens === undefined ? 256 : parseNumber('--max-tokens', flags.maxTokens, { integer: true });
  const temperature = flags.temperature === undefined ? (generations > 1 ? 0.7 : 0) : parseNumber('--temperature', flags.temperature, { exclusiveMin: false });

  const targets: Target[] = [];
  try {
    const target = await openTarget(flags.url, flags.key, flags.protocol, flags.model);
    targets.push(target);
    const engine = chatEngine({ target, model: flags.model, timeoutMs, temperature });
    let judge: ((prompt: string) => Promise<string>) | undefined;
    if (flags.judgeModel) {
      const judgeTarget = flags.judgeUrl ? await openTarget(flags.judgeUrl, flags.judgeKey ?? flags.key, flags.protocol, flags.judgeModel) : target;
      if (judgeTarget !== target) targets.push(judgeTarget);
      const judgeEngine = chatEngine({ target: judgeTarget, model: flags.judgeModel, timeoutMs });
      judge = (prompt) => judgeEngine.generate!(prompt, { maxTokens: 8 }, AbortSignal.timeout(timeoutMs));
    }
    const out = flags.out ?? join(configuredResultsDir(flags.config), 'probe', safePathSegment(flags.model), stamp());
    mkdirSync(out, { recursive: true });

    const bar = !flags.json && process.stderr.isTTY === true
      ? new SingleBar({ format: ' {bar} {value}/{total} outputs | {probe} | failed requests {errors} | ETA {eta_formatted}', stream: process.stderr, hideCursor: true })
      : undefined;
    let started = false;
    const interrupt = stopOnFirstInterrupt();
    let result;
    try {
      result = await runProbes({
        sets, generations, concurrency, judge,
        generate: (prompt, signal) => engine.generate!(prompt, { maxTokens }, signal),
      }, {
        signal: interrupt.signal,
        onProgress: (p) => {
          if (!bar) return;
          if (!started) {
            bar.start(p.total, p.done, { probe: p.probe, errors: p.errors });
            started = true;
          } else bar.update(p.done, { probe: p.probe, errors: p.errors });
        },
      });
    } finally {
      bar?.stop();
      interrupt.dispose();
    }
    const summary = summarizeProbes(result, { model: flags.model, target: targets[0]!.baseUrl, sets, generations, judgeModel: flags.judgeModel });
    const files = {
      report: join(out, `garak.${result.runId}.report.jsonl`), hitlog: join(out, `garak.${result.runId}.hitlog.jsonl`),
      html: join(out, 'report.html'), summary: join(out, 'summary.json'),
    };
    writeFileSync(files.report, toGarakJsonl(result, summary));
    writeFileSync(files.hitlog, toGarakHitlog(result));
    writeFileSync(files.html, renderProbeHtml(summary, result));
    writeFileSync(files.summary, `${JSON.stringify(summary, null, 2)}\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify({ ...summary, files }, null, 2)}\n`);
    else {
      const rows = summary.probes.flatMap((p) => p.evals.map((e) => [p.name, e.detector, `${e.passed}/${e.totalEvaluated}`, pct(e.passRate), e.ci95 ? `${pct(e.ci95.low)}–${pct(e.ci95.high)}` : '–']));
      process.stdout.write(`${formatTable(['probe', 'detector', 'passed', 'pass rate', '95 % CI'], rows)}\n`
        + `overall: ${pct(summary.overall.passRate)} of ${summary.overall.evaluated} outputs passed (an output fails when a detector scores ≥ 0.5)`
        + `${summary.failedRequests ? `; ${summary.failedRequests} requests failed and were not evaluated` : ''}\nWrote ${files.report}, ${files.html}, ${files.summary}\n`);
    }
    if (result.aborted) process.exitCode = 130;
    else if (summary.overall.evaluated === 0) {
      process.stderr.write('flexi probe: no output could be evaluated (every request failed); check --url, --model and --key\n');
      process.exitCode = 1;
    }
  } catch (error) {
    if (error instanceof TargetError) throw new CliError(error.message);
    throw error;
  } finally {
    await Promise.all(targets.map((t) => t.dispatcher.close()));
  }
}

export function registerProbeCommand(program: Command): void {
  program
    .command('probe')
    .description('safety probes (jailbreak, encoding, prompt injection, exfiltration, malware, PII, toxicity): pass rates with 95 % intervals, an HTML report and garak-compatible JSONL')
    .option('--url <url>', 'server to probe (Flexi, Ollama, vLLM, flexi sim)')
    .option('--key <key>', 'API key, sent as Authorization: Bearer')
    .option('--model <name>', 'model to probe')
    .option('--probes <list>', 'probes, modules or families, comma-separated (default: all; see --list)')
    .option('--generations <n>', 'outputs per prompt (garak default 5; default 1)')
    .option('--temperature <t>', 'sampling temperature (default 0, or 0.7 with several generations)')
    .option('--concurrency <n>', 'requests in flight (sent as scheduler class batch)', '4')
    .option('--timeout-s <s>', 'time-out per request in seconds (default 120)')
    .option('--max-tokens <n>', 'output-token cap per reply (default 256)')
    .option('--protocol <p>', 'openai | ollama | auto', 'auto')
    .option('--judge-model <name>', 'also score every output with this judge model (detector judge.HarmfulCompliance)')
    .option('--judge-url <url>', 'server of the judge model (default: --url)')
    .option('--judge-key <key>', 'API key for --judge-url (default: --key)')
    .option('--out <dir>', 'result folder (default <catalog.results_dir>/probe/<model>/<time>)')
    .option('-c, --config <file>', 'config file whose catalog.results_dir holds the results (default: $FLEXI_CONFIG or ./flexi.yaml; without one ./data/evidence)')
    .option('--list', 'list the probe sets with their detectors and exit')
    .option('--json', 'print JSON (no progress bar)')
    .action(runProbeCommand);
}
