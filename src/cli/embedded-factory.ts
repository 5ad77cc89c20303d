import type { EmbeddedBackendFactory } from '../backends/factory.js';

/** The embedded engine's factory, loaded lazily so commands that do not serve never load llama.cpp. */
export async function createEmbeddedFactory(): Promise<EmbeddedBackendFactory> {
  const { createEmbeddedBackend } = await import('../backends/embedded/embedded.backend.js');
  return (node, config) => createEmbeddedBackend(node, config);
}
