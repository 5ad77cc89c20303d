#!/usr/bin/env node
// tsc copies only what it compiles; data files the CLI reads at run time (the paper's CSVs for
// `flexi sim --calibration`, `flexi models`) are copied beside the compiled modules here, so
// dist/ works without the sources next to it.
import { cpSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ASSETS = [['src/lab/data/paper', 'dist/lab/data/paper']];

for (const [from, to] of ASSETS) {
  cpSync(`${root}${from}`, `${root}${to}`, { recursive: true, filter: (path) => !path.endsWith('.md') });
}
