import type { Config, NodeConfig } from '../config/schema.js';
import { FlexiError } from '../core/errors.js';
import type { Backend } from './backend.js';
import { HttpClient } from './http-client.js';
import { OllamaBackend } from './ollama.backend.js';
import { OpenAiBackend } from './openai.backend.js';

/** Builds the in-process engine for `type: embedded` nodes; registered by the embedded adapter's owner. */
export type EmbeddedBackendFactory = (node: NodeConfig, config: Config) => Backend;

export interface CreateBackendOptions {
  /** Needed only for `embedded` nodes; without it such a node fails to start with a clear message. */
  createEmbedded?: EmbeddedBackendFactory;
}

/** The HTTP client a node's adapter uses: pool size and timeouts from the config. */
export function createHttpClient(node: NodeConfig, config: Config): HttpClient {
  if (node.url === undefined) {
    throw new FlexiError('invalid_request', `node "${node.name}" of type ${node.type} needs a url`, { param: 'nodes.url' });
  }
  const headers: Record<string, string> = {};
  if (node.api_key !== undefined) headers.authorization = `Bearer ${node.api_key}`;
  return new HttpClient({
    nodeName: node.name,
    baseUrl: node.url,
    connections: config.upstream.connections_per_node,
    firstByteTimeoutMs: node.timeout_ms ?? config.upstream.first_byte_timeout_ms,
    idleTimeoutMs: config.upstream.idle_timeout_ms,
    headers,
  });
}

export function createBackend(node: NodeConfig, config: Config, options: CreateBackendOptions = {}): Backend {
  switch (node.type) {
    case 'ollama':
      return new OllamaBackend(node.name, createHttpClient(node, config), 'ollama');
    case 'sim':
      // A `flexi sim` server speaks Ollama's native API at its base URL.
      return new OllamaBackend(node.name, createHttpClient(node, config), 'sim');
    case 'openai':
      return new OpenAiBackend(node.name, createHttpClient(node, config));
    case 'embedded':
      if (options.createEmbedded === undefined) {
        throw new FlexiError('internal_error', `node "${node.name}": the embedded engine is not available in this build`);
      }
      return options.createEmbedded(node, config);
  }
}
