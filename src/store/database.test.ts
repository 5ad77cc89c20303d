import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { dialectOfUrl } from './database.js';
import { openDatabase, type Store } from './store.js';

describe('openDatabase (SQLite)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'flexi-store-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };
  const open = async (url: string): Promise<Store> => {
    const store = await openDatabase(url);
    cleanups.push(() => store.close());
    return store;
  };

  it('creates the parent folder and opens the file in WAL mode with foreign keys on', async () => {
    const path = join(tempDir(), 'nested', 'deeper', 'flexi.db');
    const store = await open(path);
    await store.migrate();
    expect(existsSync(path)).toBe(true);
    const pragma = async (name: string) =>
      Object.values((await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(store.db)).rows[0]!)[0];
    expect(await pragma('journal_mode')).toBe('wal');
    expect(await pragma('foreign_keys')).toBe(1);
    expect(await pragma('busy_timeout')).toBeGreaterThan(0);
  });

  it('keeps data across reopening the file', async () => {
    const path = join(tempDir(), 'flexi.db');
    const first = await openDatabase(path);
    await first.migrate();
    await first.apiKeys.create({ name: 'kept', prefix: 'flx-12345678', keyHash: 'a'.repeat(64), createdAt: new Date().toISOString() });
    await first.close();
    const second = await open(path);
    expect(await second.migrate()).toEqual([]);
    expect((await second.apiKeys.list()).map((k) => k.name)).toEqual(['kept']);
  });

  it('accepts :memory:', async () => {
    const store = await open(':memory:');
    expect(store.dialect).toBe('sqlite');
    expect(await store.migrate()).toContain('0001-initial');
  });
});

describe('dialectOfUrl', () => {
  it('recognises PostgreSQL URLs and treats everything else as a SQLite path', () => {
    expect(dialectOfUrl('postgres://u@h/db')).toBe('postgres');
    expect(dialectOfUrl('postgresql://u@h/db')).toBe('postgres');
    expect(dialectOfUrl('./data/flexi.db')).toBe('sqlite');
    expect(dialectOfUrl(':memory:')).toBe('sqlite');
  });
});
