import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { Backend } from '../backends/backend.js';
import { createEmbeddedBackend } from '../backends/embedded/embedded.backend.js';
import { loadConfigFromDisk } from '../config/load.js';
import type { Config, NodeConfig } from '../config/schema.js';
import { FlexiError } from '../core/errors.js';
import { toDisplayModelName } from '../core/model-name.js';
import { ModelManagerService, type PullProgress } from '../services/model-manager.service.js';
import { CliError } from './program.js';

interface CommonOptions { config?: string; json?: boolean }

/** The embedded nodes of the config, or one over ./models when no nodes are configured. */
function embeddedNodes(config: Config): NodeConfig[] {
  if (!config.nodes) return [{ name: 'embedded', type: 'embedded', models_dir: './models' }];
  return config.nodes.filter((node) => node.type === 'embedded');
}

function openManager(options: CommonOptions, pullNode?: string): { manager: ModelManagerService; backends: Backend[]; config: Config } {
  const config = loadConfigFromDisk({ path: options.config });
  let nodes = embeddedNodes(config);
  if (pullNode) {
    const chosen = nodes.find((node) => node.name === pullNode);
    if (chosen) nodes = [chosen, ...nodes.filter((node) => node !== chosen)];
  }
  const backends = nodes.map((node) => createEmbeddedBackend(node, config));
  const manager = new ModelManagerService({ backends, modelsDirs: nodes.map((node) => node.models_dir ?? './models') });
  return { manager, backends, config };
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

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n';
}

export function registerModelsCommand(program: Command): void {
  const models = program.command('models').description('list, inspect, download and delete models (GGUF files of embedded nodes)');

  models.command('list').description('models of the embedded nodes (./models when no nodes are configured)')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON')
    .action((options: CommonOptions) => run(async () => {
      const { manager } = openManager(options);
      const result = await manager.list();
      print(options.json, result, () => {
        const rows = [['NAME', 'NODE', 'SIZE', 'PARAMS', 'QUANT', 'CONTEXT', 'FAMILY']];
        for (const m of result.models) {
          rows.push([toDisplayModelName(m.name), m.node, formatBytes(m.sizeBytes), m.parameterSize ?? '-', m.quantization ?? '-', String(m.contextLength ?? '-'), m.family ?? '-']);
        }
        const errors = result.errors.map((e) => `warning: node ${e.node}: ${e.message}\n`).join('');
        return result.models.length ? table(rows) + errors : `No models. Download one with \`flexi models pull hf:owner/repo/file.gguf\`.\n${errors}`;
      });
    }));

  models.command('show').argument('<name>', 'model name, e.g. qwen2.5-0.5b or qwen2.5-0.5b:latest')
    .description('GGUF metadata of a model: architecture, parameters, context, quantization, licence, chat template')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON')
    .action((name: string, options: CommonOptions) => run(async () => {
      const { manager } = openManager(options);
      const details = await manager.show(name);
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
    }));

  models.command('rm').argument('<name>', 'model name').description('delete a model file from the model folder')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON')
    .action((name: string, options: CommonOptions) => run(async () => {
      const { manager } = openManager(options);
      const removed = await manager.remove(name);
      print(options.json, removed, () => `deleted ${removed.path}\n`);
    }));

  models.command('pull').argument('<source>', 'hf:owner/repo/file.gguf or an http(s) URL of a GGUF file; a model name with --node <ollama node>')
    .description('download a GGUF file into the model folder (resumable, verified, atomic)')
    .option('--sha256 <hex>', 'expected SHA-256 of the file')
    .option('--file-name <name.gguf>', 'store under this file name instead of the URL\'s')
    .option('--node <name>', 'node to pull to: an embedded node (its folder) or an Ollama node (POST /api/pull)')
    .option('-c, --config <file>', 'config file').option('--json', 'print JSON (no progress bar)')
    .action((source: string, options: CommonOptions & { sha256?: string; fileName?: string; node?: string }) => run(async () => {
      const { manager, config } = openManager(options, options.node);
      const node = options.node ? config.nodes?.find((candidate) => candidate.name === options.node) : undefined;
      if (options.node && !node && config.nodes) throw new CliError(`No node named ${options.node} in the config; \`flexi config\` lists the nodes.`);
      const progress = options.json ? undefined : createProgressBar();
      try {
        if (node?.type === 'ollama') {
          await manager.pullOllama(node.url ?? 'http://127.0.0.1:11434', source, { onProgress: progress?.update });
          print(options.json, { node: node.name, model: source, status: 'success' }, () => `pulled ${source} on ${node.name}\n`);
          return;
        }
        if (node && node.type !== 'embedded') throw new CliError(`Node ${node.name} is of type ${node.type}; pull works for embedded and ollama nodes.`);
        const result = await manager.pull(source, { sha256: options.sha256, fileName: options.fileName, onProgress: progress?.update });
        progress?.stop();
        print(options.json, result, () => `pulled ${toDisplayModelName(result.name)} → ${result.path} (${formatBytes(result.sizeBytes)}, sha256 ${result.sha256})\n`);
      } finally {
        progress?.stop();
      }
    }));
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
