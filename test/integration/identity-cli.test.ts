import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../src/cli/cli-error.js';
import { buildProgram } from '../../src/cli/program.js';
import { createIdentity } from '../../src/services/identity/identity.js';
import { loadConfig, loadConfigFromDisk } from '../../src/config/load.js';
import { openDatabase } from '../../src/store/store.js';

const root = resolve(import.meta.dirname, '../..');

let dir: string;
let configPath: string;
let dbPath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flexi-identity-cli-'));
  dbPath = join(dir, 'flexi.db');
  configPath = join(dir, 'flexi.yaml');
  writeFileSync(configPath, `database:\n  url: ${dbPath}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `flexi …` in this process; returns what it printed. */
async function flexi(...args: string[]): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await (await buildProgram()).exitOverride().parseAsync(['node', 'flexi', ...args, '-c', configPath]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('flexi users / keys / groups / usage', { timeout: 180_000 }, () => {
  it('adds a user with a password from stdin (separate process)', async () => {
    const child = execFile(join(root, 'node_modules/.bin/tsx'), ['src/main.ts', 'users', 'add', '--email', 'Prof@Uni.example', '--role', 'staff', '--password-stdin', '--json', '-c', configPath], { cwd: root });
    child.stdin!.end('a-long-password\n');
    const stdout = await new Promise<string>((done, fail) => {
      let text = '';
      child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
      child.on('exit', (code) => (code === 0 ? done(text) : fail(new Error(`exit ${code}`))));
    });
    expect(JSON.parse(stdout)).toMatchObject({ email: 'prof@uni.example', roles: ['staff'], disabled: false });
    const store = await openDatabase(dbPath);
    const identity = createIdentity({ config: loadConfig({}), store });
    try {
      expect((await identity.users.verifyPassword('prof@uni.example', 'a-long-password'))?.email).toBe('prof@uni.example');
    } finally {
      await identity.close();
      await store.close();
    }
  }, 180_000);

  it('manages users, their keys and groups, and audits it all', async () => {
    const added = JSON.parse(await flexi('users', 'add', '--email', 'stud@uni.example', '--role', 'student', '--json'));
    expect(added).toMatchObject({ email: 'stud@uni.example', roles: ['student'] });
    await expect(flexi('users', 'add', '--email', 'x@uni.example', '--role', 'wizard')).rejects.toThrow(CliError);
    await expect(flexi('users', 'add', '--email', 'x@uni.example', '--role', 'wizard')).rejects.toThrow(/unknown role "wizard"; known roles/);

    const key = JSON.parse(await flexi('keys', 'create', '--user', 'stud@uni.example', '--name', 'laptop', '--json'));
    expect(key.key).toMatch(/^flx-[A-Za-z0-9]{40}$/);
    expect(key).toMatchObject({ user_id: added.id, role: null, name: 'laptop' });
    const operator = JSON.parse(await flexi('keys', 'create', '--name', 'moodle', '--role', 'student', '--json'));
    expect(operator).toMatchObject({ user_id: null, role: 'student' });
    await expect(flexi('keys', 'create', '--user', 'nobody@uni.example', '--json')).rejects.toThrow(/No user nobody@uni.example/);
    expect(JSON.parse(await flexi('keys', 'list', '--user', 'stud@uni.example', '--json')).map((k: { id: string }) => k.id)).toEqual([key.id]);

    expect(JSON.parse(await flexi('users', 'set-role', 'stud@uni.example', '--role', 'student,researcher', '--json')).roles).toEqual(['student', 'researcher']);
    expect(JSON.parse(await flexi('users', 'disable', 'stud@uni.example', '--json')).disabled).toBe(true);
    const listed = JSON.parse(await flexi('users', 'list', '--json'));
    expect(listed.map((u: { email: string }) => u.email)).toEqual(['prof@uni.example', 'stud@uni.example']);

    const group = JSON.parse(await flexi('groups', 'create', 'Stats 101', '--json'));
    expect(group).toMatchObject({ name: 'Stats 101', kind: 'course' });
    await flexi('groups', 'add', 'Stats 101', 'prof@uni.example', '--owner');
    await flexi('groups', 'add', 'Stats 101', 'stud@uni.example');
    const shown = JSON.parse(await flexi('groups', 'show', 'Stats 101', '--json'));
    expect(shown.members.map((m: { email: string; role: string }) => `${m.email}:${m.role}`)).toEqual(['prof@uni.example:owner', 'stud@uni.example:member']);
    const user = JSON.parse(await flexi('users', 'show', 'stud@uni.example', '--json'));
    expect(user.groups).toEqual([expect.objectContaining({ name: 'Stats 101', role: 'member' })]);
    expect(user.keys).toEqual([expect.objectContaining({ id: key.id, prefix: key.prefix })]);

    const store = await openDatabase(dbPath);
    try {
      const actions = (await store.audit.list({ limit: 100 })).map((e) => e.action).reverse();
      expect(actions).toEqual(['user.create', 'user.create', 'key.create', 'key.create', 'user.set_roles', 'user.disable', 'group.create', 'group.add_member', 'group.add_member']);
      expect((await store.audit.list({ limit: 1 }))[0]!.actor).toMatch(/^cli:/);
    } finally {
      await store.close();
    }
  });

  it('reports usage by user as JSON and CSV', async () => {
    const store = await openDatabase(dbPath);
    // The same configuration (and so the same per-deployment pseudonym secret) as the CLI reads.
    const identity = createIdentity({ config: loadConfigFromDisk({ path: configPath, env: {} }), store });
    try {
      const user = await identity.users.get('prof@uni.example');
      const base = { requestId: 'r', endpoint: '/v1/chat/completions', protocol: 'openai' as const, model: 'llama3:8b', status: 200, durationMs: 1 };
      await store.usage.insertMany([
        { ...base, createdAt: '2026-03-02T10:00:00.000Z', subject: identity.pseudonym(user.id), promptTokens: 10, completionTokens: 20 },
        { ...base, createdAt: '2026-03-03T10:00:00.000Z', subject: identity.pseudonym(user.id), promptTokens: 1, completionTokens: 2, status: 500 },
      ]);
    } finally {
      await identity.close();
      await store.close();
    }
    const json = JSON.parse(await flexi('usage', '--by', 'user', '--since', '2026-03-01', '--until', '2026-04-01', '--json'));
    expect(json).toEqual([{ user: 'prof@uni.example', requests: 2, errors: 1, prompt_tokens: 11, completion_tokens: 22, total_tokens: 33 }]);
    const csv = await flexi('usage', '--by', 'group', '--since', '2026-03-01', '--csv');
    expect(csv).toBe('group,requests,errors,prompt_tokens,completion_tokens,total_tokens\nStats 101,2,1,11,22,33\n');
    const days = JSON.parse(await flexi('usage', '--by', 'day', '--since', '2026-03-01', '--json'));
    expect(days.map((d: { day: string }) => d.day)).toEqual(['2026-03-02', '2026-03-03']);
  });
});
