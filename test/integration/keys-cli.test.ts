import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/services/identity/api-key.service.js';
import { openDatabase } from '../../src/store/store.js';
import { MemoryCounterStore } from '../../src/store/counter-store.js';
import { builtCli, ROOT, runBuiltCli, type CliResult } from '../helpers/built-cli.js';

describe('flexi keys (CLI against a SQLite file)', () => {
  let dir: string;
  let dbPath: string;
  let configPath: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flexi-keys-cli-'));
    dbPath = join(dir, 'nested', 'flexi.db');
    configPath = join(dir, 'flexi.yaml');
    writeFileSync(configPath, '# empty: the database comes from FLEXI_DATABASE_URL\n');
    builtCli();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // The built CLI, as `npx flexi` runs it (and without compiling TypeScript in every process).
  function flexi(...args: string[]): Promise<CliResult> {
    return runBuiltCli([...args, '-c', configPath], { cwd: ROOT, env: { FLEXI_DATABASE_URL: dbPath } });
  }

  async function verify(key: string) {
    const store = await openDatabase(dbPath);
    try {
      return await new ApiKeyService(store.apiKeys, { revocations: new MemoryCounterStore() }).verify(key);
    } finally {
      await store.close();
    }
  }

  it('creates a key that verifies, lists it without the key, and revokes it', async () => {
    const created = await flexi('keys', 'create', '--name', 'x', '--role', 'researcher', '--json');
    expect(created.code).toBe(0);
    const createdJson = JSON.parse(created.stdout) as { key: string; id: string; name: string; prefix: string; role: string };
    expect(createdJson).toMatchObject({ name: 'x', role: 'researcher' });
    expect(createdJson.key).toMatch(/^flx-[A-Za-z0-9]{40}$/);
    expect(createdJson.prefix).toBe(createdJson.key.slice(0, 12));
    expect((await verify(createdJson.key))?.id).toBe(createdJson.id);

    const listed = await flexi('keys', 'list', '--json');
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(createdJson.key);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id: createdJson.id, name: 'x', prefix: createdJson.prefix, revoked_at: null })]);

    const revoked = await flexi('keys', 'revoke', createdJson.prefix, '--json');
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id: createdJson.id, already_revoked: false, revoked_at: expect.any(String) });
    expect(await verify(createdJson.key)).toBeUndefined();

    const human = await flexi('keys', 'list');
    expect(human.stdout).toMatch(/PREFIX\s+NAME/);
    expect(human.stdout).toContain(createdJson.prefix);
  }, 240_000); // four CLI processes, each seconds long on a busy machine

  it('prints the key once with a warning in human output', async () => {
    const created = await flexi('keys', 'create', '--name', 'human', '--role', 'student');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/flx-[A-Za-z0-9]{40}/);
    expect(created.stdout).toContain('role student');
    expect(created.stdout).toMatch(/only this once/);
  });

  it('fails with a hint when nothing matches the key to revoke', async () => {
    const result = await flexi('keys', 'revoke', 'no-such-key');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('flexi keys list');
  });
});
