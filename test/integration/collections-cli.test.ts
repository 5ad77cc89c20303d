import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, CollectionDocument, CollectionSearchResponse } from '../../src/api/collections.js';
import { builtCli, runBuiltCli } from '../helpers/built-cli.js';
import { createPostgresTestSchema, testDialects } from '../helpers/db.js';

const NOTES = `# Organisation

## Prüfungsanmeldung

Die Anmeldung zur Klausur erfolgt bis zum 15. Januar über das Prüfungsportal.

## Sprechstunde

Die Sprechstunde ist dienstags von 14 bis 15 Uhr in Raum B 204.
`;

const GLOSSARY = '<html><head><title>Glossar</title><script>alert(1)</script></head><body><nav>Menü</nav><main><h1>Glossar</h1><p>Der Median ist der mittlere Wert einer geordneten Stichprobe.</p></main></body></html>';

// Every step starts a Node process running dist/main.js; on a loaded machine each takes seconds.
for (const dialect of testDialects()) {
  describe(`flexi collections on the built CLI [${dialect}]`, { timeout: 180_000 }, () => {
    let dir: string;
    let databaseUrl: string;
    const flexi = (...args: string[]) => runBuiltCli(args, { cwd: dir, env: { FLEXI_DATABASE_URL: databaseUrl, FLEXI_LOG_LEVEL: 'warn' } });
    const json = async <T>(...args: string[]): Promise<T> => {
      const result = await flexi(...args, '--json');
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as T;
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'flexi-collections-cli-'));
      databaseUrl = dialect === 'postgres' ? (await createPostgresTestSchema()).url : join(dir, 'flexi.db');
      writeFileSync(join(dir, 'Organisation.md'), NOTES);
      writeFileSync(join(dir, 'glossar.html'), GLOSSARY);
      writeFileSync(join(dir, 'leer.txt'), '');
      writeFileSync(join(dir, 'bild.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
      builtCli();
    }, 180_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('creates a collection for a course, adds documents and waits for them, lists and searches', async () => {
      expect((await flexi('groups', 'create', 'Statistik 1')).code).toBe(0);
      const created = await json<Collection>('collections', 'create', 'statistik', '--group', 'Statistik 1', '--description', 'Fragen zu Statistik 1', '--model', 'tiny');
      expect(created).toMatchObject({ name: 'statistik', model: 'course:statistik', group: { name: 'Statistik 1' }, chat_model: 'tiny', strictness: 'strict' });

      const added = await json<(CollectionDocument & { file: string; change: string })[]>('collections', 'add', 'statistik', join(dir, 'Organisation.md'), join(dir, 'glossar.html'));
      expect(added.map((d) => [d.name, d.change, d.status])).toEqual([['Organisation.md', 'created', 'ready'], ['glossar.html', 'created', 'ready']]);
      for (const d of added) expect(d.chunks).toBeGreaterThan(0);

      const again = await json<{ change: string }[]>('collections', 'add', 'statistik', join(dir, 'Organisation.md'));
      expect(again.map((d) => d.change)).toEqual(['unchanged']);

      const docs = await json<CollectionDocument[]>('collections', 'docs', 'statistik');
      expect(docs.map((d) => d.name).sort()).toEqual(['Organisation.md', 'glossar.html']);
      const list = await json<Collection[]>('collections', 'list');
      expect(list).toEqual([expect.objectContaining({ name: 'statistik', documents: 2 })]);

      const found = await json<CollectionSearchResponse>('collections', 'search', 'statistik', 'Wann ist die Sprechstunde?');
      expect(found.relevant).toBe(true);
      expect(found.data[0]).toMatchObject({ document: 'Organisation.md', text: expect.stringContaining('dienstags') });
      // The script in the HTML was dropped, never run, never indexed.
      const script = await json<CollectionSearchResponse>('collections', 'search', 'statistik', 'alert');
      expect(script.data.map((h) => h.text).join(' ')).not.toContain('alert(1)');

      const text = await flexi('collections', 'search', 'statistik', 'Sprechstunde dienstags');
      expect(text.stdout).toContain('Organisation.md');
      expect(text.stdout).toMatch(/a strict bot answers/);
      const shown = await flexi('collections', 'show', 'statistik');
      expect(shown.stdout).toContain('Statistik 1');
      expect(shown.stdout).toContain('Organisation.md');
    });

    it('says which file failed and why, with exit code 1', async () => {
      const result = await flexi('collections', 'add', 'statistik', join(dir, 'bild.png'), '--json');
      expect(result.code).toBe(1);
      const [doc] = JSON.parse(result.stdout) as CollectionDocument[];
      expect(doc).toMatchObject({ name: 'bild.png', status: 'failed' });
      expect(doc!.error).toMatch(/\S/);
      const plain = await flexi('collections', 'add', 'statistik', join(dir, 'bild.png'));
      expect(plain.stdout).toContain('bild.png: failed');
    });

    it('refuses bad input with one clear line: empty files, unknown collections and documents, bad names', async () => {
      const empty = await flexi('collections', 'add', 'statistik', join(dir, 'leer.txt'));
      expect(empty.code).toBe(1);
      expect(empty.stderr).toMatch(/^flexi: .*empty/);
      const missing = await flexi('collections', 'add', 'statistik', join(dir, 'nope.pdf'));
      expect(missing.stderr).toMatch(/^flexi: Cannot read .*nope\.pdf/);
      expect((await flexi('collections', 'show', 'unbekannt')).stderr).toMatch(/^flexi: No collection named "unbekannt"/);
      expect((await flexi('collections', 'create', 'Mit Leerzeichen', '--group', 'Statistik 1')).stderr).toMatch(/^flexi: name must be/);
      expect((await flexi('collections', 'create', 'x', '--group', 'gibtsnicht')).stderr).toMatch(/^flexi: No group named "gibtsnicht"/);
      expect((await flexi('collections', 'remove-doc', 'statistik', 'nope.md')).stderr).toMatch(/^flexi: No document "nope.md"/);
    });

    it('removes a document and the whole collection', async () => {
      const removed = await json<{ name: string; deleted: boolean }>('collections', 'remove-doc', 'statistik', 'glossar.html');
      expect(removed).toMatchObject({ name: 'glossar.html', deleted: true });
      const search = await json<CollectionSearchResponse>('collections', 'search', 'statistik', 'Median');
      expect(search.data.map((h) => h.document)).not.toContain('glossar.html');
      expect(await json('collections', 'rm', 'statistik')).toMatchObject({ name: 'statistik', deleted: true });
      expect(await json('collections', 'list')).toEqual([]);
    });
  });
}
