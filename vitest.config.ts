import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    exclude: ['node_modules', 'dist', 'web/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Time-outs catch hangs, not slowness: a loaded two-core CI machine makes a child process or a
    // real inference take many times its quiet duration, and no test may fail for that.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: run files in parallel but keep the count small so timing-sensitive
    // integration tests (real sockets, real inference) are not starved.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
