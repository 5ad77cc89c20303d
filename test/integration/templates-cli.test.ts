/** `flexi templates create|list|show|edit|rm`, run as the built CLI (dist/main.js) against a SQLite file. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/store.js';
import { runBuiltCli } from '../helpers/built-cli.js';
import { startIdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

let dir: string;
let configPath: string;

function flexi(...args: string[]) {
  return runBuiltCli([...args, '-c', configPath], { cwd: dir });
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const TEMPLATE = `name: essay-feedback
group: stats-ws26
description: Feedback on a short essay
model: tiny
system: |
  You grade {{subject}} essays for {{level}} students.
user: "Essay: {{input}}"
parameters:
  - { name: subject, type: string, required: true, max_length: 40 }
  - { name: level, type: enum, values: [beginner, advanced], default: beginner }
sampling: { temperature: 0.2, max_tokens: 400 }
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flexi-templates-cli-'));
  configPath = join(dir, 'flexi.yaml');
  writeFileSync(configPath, `database:\n  url: ${join(dir, 'flexi.db')}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flexi templates (built CLI)', { timeout: 240_000 }, () => {
  it('creates, lists, edits, shows with its history and removes a group template', async () => {
    expect((await flexi('groups', 'create', 'stats-ws26', '--json')).code).toBe(0);
    const created = await flexi('templates', 'create', file('t.yaml', TEMPLATE), '--json');
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      name: 'essay-feedback', virtual_model: 'template:essay-feedback', group: 'stats-ws26', version: 1, model: 'tiny',
      parameters: [{ name: 'subject', type: 'string', required: true, max_length: 40 }, { name: 'level', type: 'enum', values: ['beginner', 'advanced'], default: 'beginner', required: false }],
      sampling: { temperature: 0.2, max_tokens: 400 },
    });

    const listed = await flexi('templates', 'list', '--json');
    expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).toEqual(['essay-feedback']);
    const table = await flexi('templates', 'list');
    expect(table.stdout).toMatch(/template:essay-feedback\s+stats-ws26\s+1\s+tiny/);

    const edited = await flexi('templates', 'edit', 'template:essay-feedback', file('t2.yaml', TEMPLATE.replace('Feedback on a short essay', 'Version two')), '--json');
    expect(edited.code, edited.stderr).toBe(0);
    expect(JSON.parse(edited.stdout)).toMatchObject({ version: 2, description: 'Version two', group: 'stats-ws26' });

    const shown = await flexi('templates', 'show', 'essay-feedback', '--json');
    expect(JSON.parse(shown.stdout).versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const plain = await flexi('templates', 'show', 'essay-feedback');
    expect(plain.stdout).toContain('template:essay-feedback (version 2, group stats-ws26)');
    expect(plain.stdout).toMatch(/level\s+enum\s+no\s+beginner\s+beginner\|advanced/);

    const removed = await flexi('templates', 'rm', 'essay-feedback', '--json');
    expect(JSON.parse(removed.stdout)).toEqual({ name: 'essay-feedback', deleted: true });
    const gone = await flexi('templates', 'show', 'essay-feedback');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("No template 'essay-feedback'");
  });

  it('counts a request a course key made for a course under that group in `flexi usage --by group`', async () => {
    expect((await flexi('groups', 'create', 'bio-ws26', '--json')).code).toBe(0);
    const keyResult = await flexi('keys', 'create', '--name', 'lms', '--role', 'student', '--scope', 'course:bio-*', '--json');
    expect(keyResult.code, keyResult.stderr).toBe(0);
    const key = (JSON.parse(keyResult.stdout) as { key: string }).key;
    // The gateway on the same database file the CLI reads.
    const store = await openDatabase(join(dir, 'flexi.db'));
    const gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest'] })], { store, listen: false });
    try {
      for (let i = 0; i < 2; i += 1) {
        const response = await gateway.app.server.inject({
          method: 'POST', url: '/v1/chat/completions', payload: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] }),
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-flexi-course': 'bio-ws26' },
        });
        expect(response.statusCode, response.body).toBe(200);
      }
      await gateway.usage.flush();
    } finally {
      await gateway.close();
      await store.close();
    }
    const usage = await flexi('usage', '--by', 'group', '--json');
    expect(usage.code, usage.stderr).toBe(0);
    expect(JSON.parse(usage.stdout)).toContainEqual(expect.objectContaining({ group: 'bio-ws26', requests: 2 }));
  });

  it('refuses a file with an undeclared placeholder, a bad field or bad YAML, naming the problem', async () => {
    const undeclared = await flexi('templates', 'create', file('u.yaml', 'name: u\nmodel: tiny\nuser: "{{input}} in {{language}}"\n'));
    expect(undeclared.code).toBe(1);
    expect(undeclared.stderr).toContain('{{language}}');
    const badField = await flexi('templates', 'create', file('b.yaml', 'name: b\nmodel: tiny\nparameters: [{ name: n, type: float }]\n'));
    expect(badField.code).toBe(1);
    expect(badField.stderr).toContain('parameters[0].type');
    const badYaml = await flexi('templates', 'create', file('y.yaml', 'name: [unclosed\n'));
    expect(badYaml.code).toBe(1);
    expect(badYaml.stderr).toContain('not valid YAML');
    const renamed = await flexi('templates', 'edit', 'other', file('r.yaml', 'name: b\nmodel: tiny\n'));
    expect(renamed.code).toBe(1);
    expect(renamed.stderr).toContain('renaming is not supported');
    expect(JSON.parse((await flexi('templates', 'list', '--json')).stdout)).toEqual([]);
  });
});
