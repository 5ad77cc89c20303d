import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createIdentity } from '../../src/services/identity/identity.js';
import { openDatabase } from '../../src/store/store.js';

/**
 * `flexi users set-password` as an operator runs it: the built CLI (dist/), the password on
 * stdin. A reset ends the user's browser sessions.
 */
const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/main.js');

let dir: string;
let configPath: string;
let dbPath: string;

beforeAll(() => {
  // A fresh checkout has no dist/ until `npm run build`: build it once.
  if (!existsSync(cli)) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'ignore' });
  dir = mkdtempSync(join(tmpdir(), 'flexi-password-cli-'));
  dbPath = join(dir, 'flexi.db');
  configPath = join(dir, 'flexi.yaml');
  writeFileSync(configPath, `database:\n  url: ${dbPath}\n`);
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function flexi(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.FLEXI_CONFIG;
    delete env.FLEXI_DATABASE_URL;
    const child = execFile(process.execPath, [cli, ...args, '-c', configPath], { cwd: dir, env }, (error, stdout, stderr) => {
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end(stdin ?? '');
  });
}

async function withIdentity<T>(run: (identity: ReturnType<typeof createIdentity>) => Promise<T>): Promise<T> {
  const store = await openDatabase(dbPath);
  const identity = createIdentity({ config: loadConfig({}), store });
  try {
    return await run(identity);
  } finally {
    await identity.close();
    await store.close();
  }
}

describe('flexi users set-password (built CLI)', () => {
  it('sets a new password from stdin, ends the user\'s sessions, and refuses bad input with one line', async () => {
    expect((await flexi(['users', 'add', '--email', 'kim@uni.example', '--role', 'student', '--password-stdin'], 'first-password\n')).code).toBe(0);
    const sessionToken = await withIdentity(async (identity) => (await identity.sessions.create((await identity.users.get('kim@uni.example')).id)).token);

    const set = await flexi(['users', 'set-password', '--email', 'kim@uni.example', '--password-stdin'], 'second-password\n');
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('Password set for kim@uni.example');
    await withIdentity(async (identity) => {
      expect(await identity.users.verifyPassword('kim@uni.example', 'second-password')).toBeDefined();
      expect(await identity.users.verifyPassword('kim@uni.example', 'first-password')).toBeUndefined();
      expect(await identity.sessions.resolve(sessionToken)).toBeUndefined();
      expect((await identity.audit.list({})).some((a) => a.action === 'user.set_password')).toBe(true);
    });

    const short = await flexi(['users', 'set-password', 'kim@uni.example', '--password-stdin'], 'short\n');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toMatch(/password must be 8 to 1024 characters/);
    expect(short.stderr.trim().split('\n')).toHaveLength(1);
    const noStdin = await flexi(['users', 'set-password', '--email', 'kim@uni.example']);
    expect(noStdin.code).not.toBe(0);
    expect(noStdin.stderr).toMatch(/--password-stdin/);
    const unknown = await flexi(['users', 'set-password', '--email', 'nobody@uni.example', '--password-stdin'], 'some-password\n');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/No user nobody@uni.example/);
  }, 120_000);
});
