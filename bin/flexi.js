#!/usr/bin/env node
// The `flexi` binary. `npm ci` builds dist/ (the `prepare` script); a checkout that has not
// been built yet gets a clear message instead of a stack trace.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('flexi: dist/ is missing. Run `npm ci` (or `npm run build`) in the Flexi folder first.\n');
  process.exit(1);
}
await import(entry.href);
