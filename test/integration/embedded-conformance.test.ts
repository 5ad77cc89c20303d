import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeBackendConformance } from '../../src/backends/conformance.js';
import { EmbeddedBackend } from '../../src/backends/embedded/embedded.backend.js';
import { LLAMA2_CHAT_TEMPLATE, writeTinyLlamaGguf } from '../helpers/gguf-writer.js';

/** The embedded engine (llama.cpp in-process) against the shared Backend suite, on a generated tiny model. */

describeBackendConformance('embedded → generated tiny GGUF', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flexi-embedded-conformance-'));
  writeTinyLlamaGguf(join(dir, 'tiny-chat.gguf'), { chatTemplate: LLAMA2_CHAT_TEMPLATE, seed: 11 });
  writeTinyLlamaGguf(join(dir, 'tiny-embed.gguf'), { seed: 12 });
  const backend = new EmbeddedBackend({
    name: 'embedded', modelsDir: dir, slots: 2, contextSize: 256, gpu: 'cpu', threads: 1,
    keepAliveSeconds: -1, memoryBudgetBytes: 1 << 30,
    // A random model emits end-of-sequence at random; the suite needs replies of a known length.
    ignoreEos: true,
  });
  return {
    backend,
    chatModel: 'tiny-chat',
    embedModel: 'tiny-embed:latest',
    upstreamRequestCount: () => backend.stats().requests,
    upstreamInFlight: () => backend.stats().models.reduce((sum, m) => sum + m.busySlots + m.waiting, 0),
    close: async () => {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
