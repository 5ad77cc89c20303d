import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../../test/helpers/db.js';
import { chunkDocument } from '../../rag/chunk.js';
import { extractDocument } from '../../rag/extract.js';
import { RagIndexService, type Embedder } from './rag-index.service.js';

const LIMITS = { maxBytes: 1_000_000, maxPages: 100 };

const GERMAN = `# Prüfungsordnung

## Prüfungsanmeldung

Die Prüfungsanmeldung erfolgt online bis zum 15. Mai. Nach § 12 ist eine Abmeldung bis eine Woche vor dem Termin möglich.

## Datenformate

Zeitangaben folgen ISO 8601. Der Fehlercode E_ACCESSDENIED bedeutet, dass der Zugang gesperrt ist.
`;

const ENGLISH = `# Lab rules

## Safety

Students must wear goggles in the chemistry lab at all times.

## Grading

The final grade is the weighted mean of the three exercise sheets and the written exam.
`;

async function index(service: RagIndexService, collection: string, document: string, name: string, text: string): Promise<void> {
  const doc = await extractDocument(new TextEncoder().encode(text), name, LIMITS);
  await service.indexDocument(collection, document, chunkDocument(doc, { targetTokens: 60, overlapTokens: 10 }));
}

describeEachDatabase('RagIndexService', (getStore) => {
  it('finds a German passage by a compound\'s parts, a code, and a paragraph sign, and keeps collections apart', async () => {
    const service = new RagIndexService(getStore());
    await index(service, 'c1', 'd1', 'ordnung.md', GERMAN);
    await index(service, 'c2', 'd2', 'lab.md', ENGLISH);

    const byParts = await service.search('c1', 'Anmeldung zur Prüfung', { topK: 3 });
    expect(byParts.hits[0]).toMatchObject({ documentId: 'd1', section: 'Prüfungsordnung > Prüfungsanmeldung' });
    expect(byParts.relevant).toBe(true);
    expect((await service.search('c1', 'Was bedeutet E_ACCESSDENIED?', { topK: 3 })).hits[0]?.text).toContain('E_ACCESSDENIED');
    expect((await service.search('c1', 'Welches Format nach ISO-8601?', { topK: 3 })).hits[0]?.text).toContain('ISO 8601');
    expect((await service.search('c1', 'Was steht in §12?', { topK: 3 })).hits[0]?.text).toContain('§ 12');
    expect((await service.search('c1', 'goggles', { topK: 3 })).hits).toEqual([]);
    expect((await service.search('c2', 'goggles in the lab', { topK: 3 })).hits[0]?.documentId).toBe('d2');
  });

  it('refuses in strict mode when the material does not cover the question', async () => {
    const service = new RagIndexService(getStore());
    await index(service, 'c1', 'd1', 'ordnung.md', GERMAN);
    const unanswerable = await service.search('c1', 'Wann öffnet die Mensa am Samstag?', { topK: 3 });
    expect(unanswerable.relevant).toBe(false);
    expect((await service.search('c1', 'Bis wann ist die Prüfungsanmeldung möglich?', { topK: 3 })).relevant).toBe(true);
  });

  it('replaces a re-indexed document and forgets removed ones', async () => {
    const store = getStore();
    const service = new RagIndexService(store);
    await index(service, 'c1', 'd1', 'ordnung.md', GERMAN);
    await index(service, 'c1', 'd1', 'ordnung.md', ENGLISH);
    expect((await service.search('c1', 'E_ACCESSDENIED', { topK: 3 })).hits).toEqual([]);
    expect((await service.search('c1', 'goggles', { topK: 3 })).hits).toHaveLength(1);
    await service.removeDocument('c1', 'd1');
    expect(await store.ragIndex.countChunks('c1')).toBe(0);
    expect(await store.ragIndex.knownTerms('c1', ['goggl'])).toEqual(new Set());
    await index(service, 'c1', 'd1', 'ordnung.md', GERMAN);
    expect((await service.search('c1', 'E_ACCESSDENIED', { topK: 3 })).hits).toHaveLength(1);
    await service.removeCollection('c1');
    expect((await service.search('c1', 'E_ACCESSDENIED', { topK: 3 })).hits).toEqual([]);
  });

  it('fuses dense vectors with full text when an embedder is configured', async () => {
    // A test embedder: one dimension per concept, so a question with no shared word still lands.
    const concepts = [/goggles|eye protection|schutzbrille/i, /grade|note|bewertung/i];
    const embedder: Embedder = {
      model: 'concepts',
      embed: async (texts) => texts.map((t) => [...concepts.map((re) => (re.test(t) ? 1 : 0)), 0.01]),
    };
    const service = new RagIndexService(getStore(), { embedder });
    await index(service, 'c2', 'd2', 'lab.md', ENGLISH);
    const result = await service.search('c2', 'Schutzbrille?', { topK: 2 });
    expect(result.hits[0]?.text).toContain('goggles');
  });

  it('rejects a top_k out of range and an overlong query, naming the field; an empty query finds nothing', async () => {
    const service = new RagIndexService(getStore());
    await expect(service.search('c1', 'x', { topK: 0 })).rejects.toMatchObject({ code: 'invalid_request', param: 'top_k' });
    await expect(service.search('c1', 'x', { topK: 1.5 })).rejects.toMatchObject({ param: 'top_k' });
    await expect(service.search('c1', 'x'.repeat(5000), { topK: 3 })).rejects.toMatchObject({ param: 'query' });
    expect(await service.search('c1', '  ', { topK: 3 })).toEqual({ hits: [], relevant: false, relevance: 0 });
    expect(await service.search('unknown', 'Prüfung', { topK: 3 })).toEqual({ hits: [], relevant: false, relevance: 0 });
  });

  it('ranks by BM25: more occurrences in a shorter passage first; reports progress; keeps pages and sections', async () => {
    const service = new RagIndexService(getStore());
    const progress: number[] = [];
    await service.indexDocument('c1', 'd1', [
      { ord: 0, text: 'Klausur. Die Klausur ist schriftlich, die Klausur dauert lang.', pageStart: 3, pageEnd: 4, section: 'Prüfung' },
      { ord: 1, text: 'Die Klausur findet statt, wenn sich genug Studierende angemeldet haben und ein Raum frei ist.', pageStart: 5, pageEnd: 5 },
      { ord: 2, text: 'Nichts davon.' },
    ], (done, total) => progress.push(done / total));
    const { hits } = await service.search('c1', 'Klausur', { topK: 5 });
    expect(hits.map((h) => h.ord)).toEqual([0, 1]);
    expect(hits[0]).toMatchObject({ documentId: 'd1', pageStart: 3, pageEnd: 4, section: 'Prüfung', score: 1 });
    expect(hits[1]!.score).toBeLessThan(1);
    expect(progress[progress.length - 1]).toBe(1);
  });
});
