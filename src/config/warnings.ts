import type { Config, NodeConfig } from './schema.js';

/**
 * Settings that are valid but probably not what the operator meant. Printed by `flexi config`
 * and logged by `flexi serve` at start-up; they never stop start-up.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  (config.nodes ?? []).forEach((node, index) => {
    const hint = nodeUrlHint(node);
    if (hint) warnings.push(`nodes.${index}.url = ${JSON.stringify(node.url)}: ${hint}`);
  });
  return warnings;
}

/**
 * The most common first-day mistake with a node URL: OpenAI-compatible servers (vLLM,
 * llama.cpp, LM Studio) answer under `/v1`, Ollama's native API does not. Also used when a
 * node's model listing fails with 404.
 */
export function nodeUrlHint(node: Pick<NodeConfig, 'type' | 'url'>): string | undefined {
  if (!node.url) return undefined;
  const url = new URL(node.url);
  const path = url.pathname.replace(/\/+$/, '');
  if (node.type === 'openai' && !path.endsWith('/v1')) {
    return `OpenAI-compatible servers usually answer under /v1; did you mean ${url.origin}${path}/v1?`;
  }
  if (node.type === 'ollama' && path.endsWith('/v1')) {
    return `an ollama node takes Ollama's base URL without /v1 (${url.origin}${path.slice(0, -3)}); use type openai for its /v1 API.`;
  }
  return undefined;
}
