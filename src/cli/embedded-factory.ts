import type { EmbeddedBackendFactory } from '../backends/factory.js';
import type { Config } from '../config/schema.js';

/**
 * The embedded engine's factory when the nodes `flexi serve` would run include an embedded one
 * (a configured `type: embedded`, or the default `./models` node when no nodes are configured);
 * undefined otherwise. Loaded lazily: a gateway in front of Ollama or vLLM never loads llama.cpp.
 */
export async function embeddedFactoryFor(config: Pick<Config, 'nodes'>): Promise<EmbeddedBackendFactory | undefined> {
  const nodes = config.nodes ?? [];
  if (nodes.length > 0 && !nodes.some((node) => node.type === 'embedded')) return undefined;
  const { createEmbeddedBackend } = await import('../backends/embedded/embedded.backend.js');
  return (node, nodeConfig) => createEmbeddedBackend(node, nodeConfig);
}
