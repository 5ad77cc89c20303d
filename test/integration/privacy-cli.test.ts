import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../src/cli/cli-error.js';
import { buildProgram } from '../../src/cli/program.js';
import { openDatabase } from '../../src/store/store.js';
import { PersonalDataRepository } from '../../src/store/personal-data.repository.js';

let dir: string;
let configPath: string;
let dbPath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flexi-privacy-cli-'));
  dbPath = join(dir, 'flexi.db');
  configPath = join(dir, 'flexi.yaml');
  writeFileSync(configPath, [
    `database:\n  url: ${dbPath}`,
    'privacy:\n  controller: Example University, Data Street 1\n  internal_domains: [uni.example]',
    'nodes:',
    '  - { name: gpu1, type: ollama, url: "http://gpu1.cluster.uni.example:11434" }',
    '  - { name: cloud, type: openai, url: "http://api.cloud-llm.example/v1" }',
    '',
  ].join('\n'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function flexi(...args: string[]): Promise<string> {
  let out = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await (await buildProgram()).exitOverride().parseAsync(['node', 'flexi', ...args, '-c', configPath]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

async function tableDump(): Promise<string> {
  const store = await openDatabase(dbPath);
  try {
    const repository = new PersonalDataRepository(store.db);
    const parts: string[] = [];
    for (const table of await repository.listTables()) parts.push(JSON.stringify(await repository.dumpTable(table)));
    return parts.join('\n');
  } finally {
    await store.close();
  }
}

describe('flexi privacy', () => {
  it('exports, previews and erases a user, audited', async () => {
    const added = JSON.parse(await flexi('users', 'add', '--email', 'hanna@uni.example', '--role', 'student', '--name', 'Hanna Export', '--json'));
    await flexi('keys', 'create', '--user', 'hanna@uni.example', '--name', 'thesis', '--json');

    const out = join(dir, 'hanna.json');
    expect(await flexi('privacy', 'export', '--user', 'hanna@uni.example', '--out', out)).toBe('');
    const exported = JSON.parse(readFileSync(out, 'utf8'));
    expect(exported).toMatchObject({ format: 'flexi.personal-data-export', user: { id: added.id, display_name: 'Hanna Export' } });
    expect(exported.data.api_keys).toHaveLength(1);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await flexi('privacy', 'export', '--user', added.id)).user.email).toBe('hanna@uni.example');

    const preview = await flexi('privacy', 'erase', '--user', 'hanna@uni.example');
    expect(preview).toContain('Nothing was erased. Run again with --yes');
    expect(preview).toMatch(/api_keys\s+1/);
    expect(await tableDump()).toContain('hanna@uni.example');

    const erased = JSON.parse(await flexi('privacy', 'erase', '--user', 'hanna@uni.example', '--yes', '--json'));
    expect(erased).toMatchObject({ erased: true, rows: { users: 1, api_keys: 1 } });
    const dump = await tableDump();
    for (const needle of ['hanna@uni.example', 'Hanna Export', added.id]) expect(dump).not.toContain(needle);
    expect(dump).toContain(erased.reference);
    await expect(flexi('privacy', 'erase', '--user', 'hanna@uni.example', '--yes')).rejects.toThrow(CliError);
    await expect(flexi('privacy', 'erase', '--user', 'hanna@uni.example', '--yes')).rejects.toThrow(/No user hanna@uni.example/);
  });

  it('purges with a dry run first', async () => {
    const dry = JSON.parse(await flexi('privacy', 'purge', '--dry-run', '--json'));
    expect(dry.dryRun).toBe(true);
    expect(dry.classes.map((c: { class: string }) => c.class)).toEqual(expect.arrayContaining(['usage_records', 'audit_log', 'sessions', 'users']));
    expect(await flexi('privacy', 'purge', '--dry-run')).toContain('Dry run: nothing was deleted.');
    expect(JSON.parse(await flexi('privacy', 'purge', '--json')).dryRun).toBe(false);
  });

  it('writes the record of processing activities and flags the node outside the organisation', async () => {
    const out = join(dir, 'record.md');
    await flexi('privacy', 'record', '--out', out);
    const record = readFileSync(out, 'utf8');
    expect(record).toContain('| Controller | Example University, Data Street 1 |');
    expect(record).toMatch(/\| `gpu1` \| ollama \| gpu1\.cluster\.uni\.example:11434 \| yes \|/);
    expect(record).toMatch(/\| `cloud` \| openai \| api\.cloud-llm\.example \| \*\*NO: recipient outside the organisation\*\*, unencrypted \(http\) \|/);
    expect(record).toContain('**1 node(s) outside the organisation** (`cloud`)');
    expect(record).toContain('Possible: see the nodes outside the organisation');
    expect(record).not.toContain(dbPath);
    expect(JSON.parse(await flexi('privacy', 'record', '--json')).markdown).toContain('# Record of processing activities');
  });
});
