import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import rules of docs/architecture.md: each folder of src/ may import only the folders in
 * its row (lib is allowed everywhere). A change that needs a new arrow changes the design first.
 */
const ALLOWED: Record<string, string[]> = {
  lib: [],
  core: ['lib'],
  config: ['lib', 'core'],
  api: ['lib', 'core'],
  store: ['lib', 'core'],
  scheduler: ['lib', 'core'],
  telemetry: ['lib', 'core'],
  backends: ['lib', 'core', 'api', 'config'],
  lab: ['lib', 'core', 'api', 'backends'],
  services: ['lib', 'core', 'api', 'config', 'scheduler', 'backends', 'store', 'telemetry'],
  http: ['lib', 'core', 'api', 'config', 'services', 'telemetry'],
  cli: ['*'],
};

const SRC = new URL('../../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('architecture', () => {
  it('every src/ folder imports only what docs/architecture.md allows', () => {
    const violations: string[] = [];
    for (const file of files(SRC)) {
      const rel = relative(SRC, file);
      const folder = rel.includes('/') ? rel.split('/')[0]! : '';
      const allowed = ALLOWED[folder];
      if (!allowed || allowed.includes('*')) continue;
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
        const target = relative(SRC, join(file, '..', match[1]!));
        const targetFolder = target.includes('/') ? target.split('/')[0]! : target.replace(/\.js$/, '');
        if (targetFolder === folder || targetFolder.startsWith('..')) continue;
        if (!allowed.includes(targetFolder)) violations.push(`${rel} imports ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('only src/config reads process.env', () => {
    const offenders = files(SRC).filter((file) => !relative(SRC, file).startsWith('config/') && !relative(SRC, file).startsWith('cli/') && /process\.env/.test(readFileSync(file, 'utf8')));
    expect(offenders.map((f) => relative(SRC, f))).toEqual([]);
  });
});
