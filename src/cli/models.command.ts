import cliProgress from 'cli-progress';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createBackend } from '../backends/factory.js';
import { loadConfigFromDisk } from '../config/load.js';
import type { Config, NodeConfig } from '../config/schema.js';
import { FlexiError } from '../core/errors.js';
import { toDisplayModelName } from '../core/model-name.js';
import { resolveNodes } from '../runtime.js';
import { buildModelManager } from '../services/build-services.js';
import type { PullProgress } from '../services/models/model-file-download.js';
import type { ModelManagerService } from '../services/models/model-manager.service.js';
import { CliError } from './cli-error.js';
import { buildCatalog, type DeployedModel } from '../lab/catalog/build-catalog.js';
import { renderCatalog, renderPaperComparison } from '../lab/catalog/render-catalog.js';
import { readStoredResults } from '../lab/catalog/stored-results.js';
import { formatTable } from './table.js';

/** A node that does not answer within this is reported as a warning, not waited for. */
const LIST_TIMEOUT_MS = 10_000;

interface CommonOptions { config?: string; json?: boolean }

interface OpenedManager {
  manager: ModelManagerService;
  config: Config;
  nodes: NodeConfig[];
  close(): Promise<void>;
}

/**
 * Every node `flexi serve` would serve (the config's, or ./models plus a local Ollama when none
 * are configured), as Backends: list and show ask each node through the Backend interface.
 */
async function openManager(options: CommonOptions): Promise<OpenedManager> {
  const config = loadConfigFromDisk({ path: options.config });
  const { embeddedFactoryFor } = await import('./embedded-factory.js');
  const createEmbedded = await embeddedFactoryFor(config);
  const nodes = await resolveNodes(config, { createEmbedded });
  const backends = nodes.map((node) => createBackend(node, config, { createEmbedded }));
  return {
    manager: buildModelManager(config, backends),
    config,
    nodes,
    close: async () => {
      await Promise.all(backends.map((backend) => backend.close().catch(() => undefined)));
    },
  };
}

/** Opens the manager for one action and closes its nodes afterwards (HTTP pools, loaded models). */
async function withManager<T>(options: CommonOptions, action: (opened: OpenedManager) => Promise<T>): Promise<T> {
  const opened = await openManager(options);
  try {
    return await action(opened);
  } finally {
    await opened.close();
  }
}

async function run<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof FlexiError) throw new CliError(error.message);
    throw error;
  }
}

function print(json: boolean | undefined, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text());
}

function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}


export function registerModelsCommand(program: Command): void {
  const models = program.command('models').description('list, inspect, download and delete models on every node');

  models.command('list').description('models of every node (the config\'s, or ./models and a local Ollama when none are configured)')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON')
    .action((options: CommonOptions) => run(() => withManager(options, async ({ manager }) => {
      const result = await manager.list(AbortSignal.timeout(LIST_TIMEOUT_MS));
      print(options.json, result, () => {
        const rows: string[][] = [];
        for (const m of result.models) {
          rows.push([
            toDisplayModelName(m.name), m.node, formatBytes(m.sizeBytes), m.parameterSize ?? '-', m.quantization ?? '-',
            String(m.contextLength ?? '-'), m.family ?? '-', m.loaded ? 'yes' : '',
          ]);
        }
        const errors = result.errors.map((e) => `warning: node ${e.node}: ${e.message}\n`).join('');
        return result.models.length ? formatTable(['NAME', 'NODE', 'SIZE', 'PARAMS', 'QUANT', 'CONTEXT', 'FAMILY', 'LOADED'], rows) + errors : `No models. Download one with \`flexi models pull hf:owner/repo/file.gguf\`.\n${errors}`;
      });
    })));

  models.command('catalog')
    .description('per model: size, quantization, context, licence and openness, languages, quality, throughput, latency, safety, memory — and a recommendation per use case (config catalog.use_cases)')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON')
    .option('--results <dir>', 'folder of stored flexi eval/probe/bench/loadtest results (default: catalog.results_dir)')
    .option('--compare <what>', '"paper": print the paper\'s Table 4 beside this deployment\'s throughput and quality')
    .option('--offline', 'do not ask the nodes for their models (stored results and the paper only)')
    .action((options: CommonOptions & { results?: string; compare?: string; offline?: boolean }) => run(() => runCatalog(options)));

  models.command('show').argument('<name>', 'model name, e.g. qwen2.5-0.5b or qwen2.5-0.5b:latest')
    .description('details of a model from the first node that has it: architecture, parameters, context, quantization, licence, chat template')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON')
    .action((name: string, options: CommonOptions) => run(() => withManager(options, async ({ manager }) => {
      const details = await manager.show(name, AbortSignal.timeout(LIST_TIMEOUT_MS));
      print(options.json, details, () => [
        `name           ${details.name} (node ${details.node})`,
        `architecture   ${details.family ?? '-'}`,
        `parameters     ${details.parameterSize ?? '-'}`,
        `context length ${details.contextLength ?? '-'}`,
        `quantization   ${details.quantization ?? '-'}`,
        `size           ${formatBytes(details.sizeBytes)}`,
        `licence        ${details.license ?? '-'}`,
        `chat template  ${details.template ? `\n${details.template}` : '(none: a built-in format is used)'}`,
      ].join('\n') + '\n');
    })));

  models.command('rm').argument('<name>', 'model name').description('delete a model file from the model folder of an embedded node')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON')
    .action((name: string, options: CommonOptions) => run(() => withManager(options, async ({ manager }) => {
      const removed = await manager.remove(name);
      print(options.json, removed, () => `deleted ${removed.path}\n`);
    })));

  models.command('pull').argument('<source>', 'hf:owner/repo/file.gguf or an http(s) URL of a GGUF file; a model name with --node <ollama node>')
    .description('download a GGUF file into the model folder (resumable, verified, atomic)')
    .option('--sha256 <hex>', 'expected SHA-256 of the file')
    .option('--file-name <name.gguf>', 'store under this file name instead of the URL\'s')
    .option('--node <name>', 'node to pull to: an embedded node (its folder) or an Ollama node (POST /api/pull)')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON (no progress bar)')
    .action((source: string, options: CommonOptions & { sha256?: string; fileName?: string; node?: string }) => run(() => withManager(options, async ({ manager, nodes }) => {
      const node = options.node === undefined ? undefined : nodes.find((candidate) => candidate.name === options.node);
      if (options.node !== undefined && !node) throw new CliError(`No node named ${options.node}; \`flexi config\` lists the nodes.`);
      const progress = options.json ? undefined : createProgressBar();
      try {
        if (node?.type === 'ollama') {
          await manager.pullOllama(node.url ?? 'http://127.0.0.1:11434', source, { onProgress: progress?.update });
          progress?.stop();
          print(options.json, { node: node.name, model: source, status: 'success' }, () => `pulled ${source} on ${node.name}\n`);
          return;
        }
        if (node && node.type !== 'embedded') throw new CliError(`Node ${node.name} is of type ${node.type}; pull works for embedded and ollama nodes.`);
        const modelsDir = node ? resolve(node.models_dir ?? './models') : undefined;
        const result = await manager.pull(source, { sha256: options.sha256, fileName: options.fileName, modelsDir, onProgress: progress?.update });
        progress?.stop();
        print(options.json, result, () => `pulled ${toDisplayModelName(result.name)} → ${result.path} (${formatBytes(result.sizeBytes)}, sha256 ${result.sha256})\n`);
      } finally {
        progress?.stop();
      }
    })));
}

async function runCatalog(options: CommonOptions & { results?: string; compare?: string; offline?: boolean }): Promise<void> {
  if (options.compare !== undefined && options.compare !== 'paper') throw new CliError(`--compare only knows "paper", got "${options.compare}"`);
  const config = loadConfigFromDisk({ path: options.config });
  const resultsDir = options.results ?? config.catalog.results_dir;
  let deployed: DeployedModel[] = [];
  let warnings: string[] = [];
  if (!options.offline) {
    const listed = await withManager(options, ({ manager }) => manager.list(AbortSignal.timeout(LIST_TIMEOUT_MS)));
    deployed = listed.models.filter((m) => !m.capabilities?.includes('embedding') || m.capabilities.includes('completion')).map((m) => ({
      name: toDisplayModelName(m.name), node: m.node, parameterSize: m.parameterSize, quantization: m.quantization, contextLength: m.contextLength, sizeBytes: m.sizeBytes,
    }));
    warnings = listed.errors.map((e) => `warning: node ${e.node}: ${e.message}\n`);
  }
  const useCases = Object.fromEntries(Object.entries(config.catalog.use_cases).map(([name, w]) => [name, {
    quality: w.quality, speed: w.speed, safety: w.safety, german: w.german, openness: w.openness, minTokensPerS: w.min_tokens_per_s,
  }]));
  const catalog = buildCatalog({ deployed, results: readStoredResults(resultsDir), useCases, includePaperModels: options.compare === 'paper' });
  // The admin UI shows the last catalog an operator built.
  try {
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'catalog.json'), `${JSON.stringify(catalog, null, 2)}\n`);
  } catch (error) {
    warnings.push(`warning: could not write ${join(resultsDir, 'catalog.json')}: ${(error as Error).message}\n`);
  }
  print(options.json, catalog, () => `${options.compare === 'paper' ? `${renderPaperComparison(catalog)}\n` : ''}${renderCatalog(catalog)}${warnings.join('')}`);
}

function createProgressBar(): { update: (progress: PullProgress) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar({
    format: '{status} [{bar}] {percentage}% | {done} / {size}',
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  let stopped = false;
  return {
    update: (progress) => {
      const total = progress.totalBytes ?? Math.max(progress.completedBytes, 1);
      const payload = { status: progress.status.padEnd(11), done: formatBytes(progress.completedBytes), size: formatBytes(progress.totalBytes) };
      if (!started) {
        bar.start(total, progress.completedBytes, payload);
        started = true;
      }
      bar.setTotal(total);
      bar.update(progress.completedBytes, payload);
    },
    stop: () => {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
