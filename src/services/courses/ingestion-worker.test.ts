import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../../test/helpers/db.js';
import { ManualClock } from '../../lib/clock.js';
import { toTimestamp } from '../../store/database.js';
import type { Store } from '../../store/store.js';
import { RagIndexService } from '../rag/rag-index.service.js';
import { IngestionWorker } from './ingestion-worker.js';

const STALE_MS = 10 * 60_000;
const NOTES = '# Klausur\n\nDie Klausur findet am 3. Februar im Audimax statt. Erlaubt ist ein handbeschriebenes DIN-A4-Blatt.\n';

async function setUp(store: Store, clock: ManualClock) {
  const group = await store.groups.create({ name: 'Statistik', kind: 'course', createdAt: toTimestamp(clock.now()) });
  const collection = await store.collections.create({ name: 'statistik', groupId: group.id, settings: { strictness: 'strict', topK: 5 }, now: toTimestamp(clock.now()) });
  const rag = new RagIndexService(store, { clock });
  const worker = () => new IngestionWorker({
    repository: store.collections, rag, limits: { maxBytes: 1 << 20, maxPages: 100 }, pollIntervalMs: 1000, staleAfterMs: STALE_MS, clock,
  });
  const put = (name: string, text: string) => store.collections.putDocument({
    collectionId: collection.id, name, contentHash: `h:${text}`, contentType: 'text/markdown', content: new TextEncoder().encode(text), uploadedBy: null, now: toTimestamp(clock.now()),
  });
  return { collection, rag, worker, put };
}

describeEachDatabase('ingestion worker', (getStore) => {
  it('takes over a document whose worker died mid-way once its claim is stale, and indexes it', async () => {
    const store = getStore();
    const clock = new ManualClock();
    const { collection, rag, worker, put } = await setUp(store, clock);
    const { document } = await put('klausur.md', NOTES);
    // A process claimed it and died (a restart): nobody may take it while the claim is fresh…
    expect(await store.collections.claimNext({ now: toTimestamp(clock.now()), staleBefore: toTimestamp(clock.now() - STALE_MS) })).toBeDefined();
    expect(await worker().drain()).toEqual([]);
    // …and the next worker takes it once it has shown no life for the stale limit.
    clock.advance(STALE_MS + 1);
    const progress: number[] = [];
    const outcomes = await worker().drain(undefined, (_doc, done, total) => progress.push(done / total));
    expect(outcomes).toEqual([{ id: document.id, name: 'klausur.md', status: 'ready', pages: null, chunks: expect.any(Number) }]);
    expect(progress.at(-1)).toBe(1);
    expect(await store.collections.findDocument(collection.id, document.id)).toMatchObject({ status: 'ready', format: 'markdown', error: null });
    const found = await rag.search(collection.id, 'Wo findet die Klausur statt?', { topK: 3 });
    expect(found.hits[0]?.documentId).toBe(document.id);
  });

  it('marks a document it cannot read as failed, with the reason, and leaves nothing in the index', async () => {
    const store = getStore();
    const clock = new ManualClock();
    const { collection, rag, worker } = await setUp(store, clock);
    const { document } = await store.collections.putDocument({
      collectionId: collection.id, name: 'program.exe', contentHash: 'h:bin', contentType: 'application/octet-stream',
      content: new Uint8Array([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0xff, 0xff]), uploadedBy: null, now: toTimestamp(clock.now()),
    });
    const [outcome] = await worker().drain();
    expect(outcome).toMatchObject({ id: document.id, status: 'failed' });
    const stored = await store.collections.findDocument(collection.id, document.id);
    expect(stored?.status).toBe('failed');
    expect(stored?.error).toMatch(/\S/);
    expect((await rag.search(collection.id, 'program', { topK: 3 })).hits).toEqual([]);
  });

  it('removes the passages of documents deleted behind its back (retention, a deleted course)', async () => {
    const store = getStore();
    const clock = new ManualClock();
    const { collection, rag, worker, put } = await setUp(store, clock);
    const { document } = await put('klausur.md', NOTES);
    const ingest = worker();
    await ingest.drain();
    expect((await rag.search(collection.id, 'Audimax', { topK: 3 })).hits.length).toBeGreaterThan(0);
    // What retention does: the row goes, the index cannot know.
    await store.personalData.deleteBefore('collection_documents', 'updated_at', toTimestamp(clock.now() + 1), false);
    expect(await store.collections.orphanedIndexDocuments()).toEqual([{ collectionId: collection.id, documentId: document.id }]);
    expect(await ingest.sweepOrphans()).toBe(1);
    expect(await store.collections.orphanedIndexDocuments()).toEqual([]);
    expect((await rag.search(collection.id, 'Audimax', { topK: 3 })).hits).toEqual([]);
  });
});
