import type { NodeConfig } from '../config/schema.js';
import type { ModelRegistry } from '../services/inference/model-registry.service.js';

/**
 * What `flexi serve` prints once it listens: every node's state, and a hint only where one
 * applies (GGUF files and a local Ollama are mentioned only when no node is configured).
 */
export function formatStartupReport(nodes: readonly NodeConfig[], registry: ModelRegistry, configured: boolean): string {
  const lines = nodes.map((node) => formatNode(node, registry));
  if (nodes.length > 0) lines.unshift('Nodes:');
  if (registry.list().length > 0) return `${lines.join('\n')}\n`;
  if (!configured) {
    lines.push(
      '',
      'No models yet. Add one of these:',
      '  • put a .gguf file into ./models (e.g. `npx flexi models pull hf:<owner>/<repo>/<file>.gguf`), or',
      '  • run Ollama on 127.0.0.1:11434 and `ollama pull llama3`, or',
      '  • declare your inference servers under `nodes:` in flexi.yaml (see docs/configuration.md).',
      'Flexi picks new models up within `models.refresh_interval_ms` (30 s).',
    );
  } else {
    lines.push('', 'No configured node lists a model yet: start the nodes marked unreachable or fix their url in the config;',
      'Flexi picks them up within `models.refresh_interval_ms` (30 s), and `flexi nodes status` shows their state.');
  }
  return `${lines.join('\n')}\n`;
}

function formatNode(node: NodeConfig, registry: ModelRegistry): string {
  const where = node.url ?? node.models_dir ?? './models';
  const error = registry.nodeError(node.name);
  if (error !== undefined) {
    const remembered = registry.rememberedModelsOf(node.name);
    const known = remembered.length > 0 ? `; its models (${list(remembered)}) get 503 node_unreachable until it answers` : '';
    return `  ${node.name} (${node.type}, ${where}): UNREACHABLE — ${error}${known}`;
  }
  const models = registry.modelsOf(node.name);
  return `  ${node.name} (${node.type}, ${where}): reachable, ${models.length === 0 ? 'no models' : `models: ${list(models)}`}`;
}

function list(models: readonly string[]): string {
  const MAX = 8;
  return models.length <= MAX ? models.join(', ') : `${models.slice(0, MAX).join(', ')} and ${models.length - MAX} more`;
}
