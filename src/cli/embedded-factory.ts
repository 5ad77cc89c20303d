import type { EmbeddedBackendFactory } from '../backends/factory.js';

/** The embedded engine's factory, loaded lazily so commands that do not serve never load llama.cpp. */
export async function createEmbeddedFactory(): Promise<EmbeddedBackendFactory | undefined> {
  return undefined;
}
