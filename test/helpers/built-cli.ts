import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist', 'main.js');
// tsc re-emits only files that changed; its build info is written on every build that did work.
const BUILD_INFO = join(ROOT, 'dist', '.tsbuildinfo');

function newestSourceMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMs(path));
    else if (!entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * dist/main.js, compiled first when missing or older than a source file: tests of the built
 * CLI exist because dist/ resolves paths differently from src/, and stale JavaScript would test
 * the wrong code.
 */
let checked = false;
export function builtCli(): string {
  if (checked) return MAIN;
  if (!existsSync(MAIN) || !existsSync(BUILD_INFO) || statSync(BUILD_INFO).mtimeMs < newestSourceMs(join(ROOT, 'src'))) {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    // A build that found nothing to emit (sources touched, not changed) leaves the info's time.
    const now = new Date();
    utimesSync(BUILD_INFO, now, now);
  }
  checked = true;
  return MAIN;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/main.js …args` and collects its exit code and output (never throws on exit ≠ 0). */
export function runBuiltCli(args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env.FLEXI_CONFIG;
  return new Promise((done) => {
    execFile(process.execPath, [builtCli(), ...args], { cwd: options.cwd, env }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
