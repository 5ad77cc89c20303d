#!/usr/bin/env node
// `npm test`: the unit and integration tests, then the browser tests — the browser tests run
// even when the first part failed (with `a && b` one flaky failure hid them), and the command
// exits non-zero when either part failed. Extra arguments (`npm test -- <filter>`) go to both.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const extra = process.argv.slice(2);
// A filter may match files of one part only; the other part then has nothing to run.
const tolerant = extra.length > 0 ? ['--passWithNoTests'] : [];

const parts = [
  { name: 'unit and integration tests', args: ['run', '--exclude', 'test/e2e/**', ...tolerant, ...extra] },
  // With a filter, `--dir` keeps the filter from widening to every browser test.
  { name: 'browser tests', args: extra.length > 0 ? ['run', '--dir', 'test/e2e', ...tolerant, ...extra] : ['run', 'test/e2e'] },
];

const failed = [];
for (const part of parts) {
  const { status, signal } = spawnSync(process.execPath, [vitest, ...part.args], { cwd: root, stdio: 'inherit' });
  if (status !== 0) failed.push(`${part.name} (${signal ?? `exit ${status}`})`);
}
if (failed.length > 0) {
  process.stderr.write(`\nnpm test: failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
