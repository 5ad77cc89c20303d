import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { embeddedFactoryFor } from './embedded-factory.js';

describe('embeddedFactoryFor', () => {
  it('loads the embedded engine only when an embedded node may be served', async () => {
    const ollamaOnly = loadConfig({ fileText: 'nodes:\n  - { name: gpu1, type: ollama, url: "http://gpu1:11434" }\n' });
    expect(await embeddedFactoryFor(ollamaOnly)).toBeUndefined();
    const mixed = loadConfig({ fileText: 'nodes:\n  - { name: gpu1, type: ollama, url: "http://gpu1:11434" }\n  - { name: local, type: embedded }\n' });
    expect(typeof await embeddedFactoryFor(mixed)).toBe('function');
    // No nodes configured: `flexi serve` adds the ./models node, so the engine is needed.
    expect(typeof await embeddedFactoryFor(loadConfig({}))).toBe('function');
  });
});
