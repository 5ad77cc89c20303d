import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/db.js';
import type { Store } from './store.js';

const T0 = '2026-01-01T10:00:00.000Z';
const T1 = '2026-01-01T10:05:00.000Z';
const T2 = '2026-01-01T10:30:00.000Z';
const bytes = (text: string) => new TextEncoder().encode(text);

async function collection(store: Store, name = 'stats-1') {
  const group = await store.groups.create({ name: `Course ${name}`, kind: 'course', createdAt: T0 });
  return store.collections.create({ name, groupId: group.id, settings: { strictness: 'strict', topK: 5 }, now: T0 });
}

async function put(store: Store, collectionId: string, name: string, text: string, now = T0) {
  return store.collections.putDocument({ collectionId, name, contentHash: `hash-${text}`, contentType: 'text/markdown', content: bytes(text), uploadedBy: null, now });
}

describeEachDatabase('collection repository', (getStore) => {
  it('keeps a collection with its group\'s name and settings, and finds it by name only', async () => {
    const store = getStore();
    const created = await collection(store);
    expect(created).toMatchObject({ name: 'stats-1', groupName: 'Course stats-1', strictness: 'strict', topK: 5, chatModel: null });
    await store.collections.update(created.id, { chatModel: 'tiny', instructions: 'Be brief.', topK: 3 }, T1);
    expect(await store.collections.findByName('stats-1')).toMatchObject({ chatModel: 'tiny', instructions: 'Be brief.', topK: 3, updatedAt: T1 });
    expect(await store.collections.findByName('Stats-1')).toBeUndefined();
    expect((await store.collections.list([])).length).toBe(0);
    expect((await store.collections.list([created.groupId])).map((c) => c.name)).toEqual(['stats-1']);
  });

  it('replaces a document of the same name, and changes nothing for the same content', async () => {
    const store = getStore();
    const { id } = await collection(store);
    const first = await put(store, id, 'script.md', '# One');
    expect(first.change).toBe('created');
    expect(first.document).toMatchObject({ status: 'queued', bytes: 5, name: 'script.md' });
    expect((await put(store, id, 'script.md', '# One', T1)).change).toBe('unchanged');
    const replaced = await put(store, id, 'script.md', '# Two!', T1);
    expect(replaced).toMatchObject({ change: 'replaced', document: { id: first.document.id, bytes: 6, status: 'queued' } });
    expect(new TextDecoder().decode(await store.collections.readContent(first.document.id))).toBe('# Two!');
    expect((await store.collections.listDocuments(id)).length).toBe(1);
  });

  it('hands a queued document to one worker only, and a stale claim to the next', async () => {
    const store = getStore();
    const { id } = await collection(store);
    const { document } = await put(store, id, 'a.md', 'a');
    const claims = await Promise.all([1, 2, 3].map(() => store.collections.claimNext({ now: T1, staleBefore: T0 })));
    const won = claims.filter((c) => c !== undefined);
    expect(won).toHaveLength(1);
    expect(won[0]!.document).toMatchObject({ id: document.id, status: 'processing' });
    // Not stale yet: nobody else gets it.
    expect(await store.collections.claimNext({ now: T1, staleBefore: T0 })).toBeUndefined();
    // Its worker died: after the stale limit another one takes it over, and the dead one's writes no longer land.
    const taken = await store.collections.claimNext({ now: T2, staleBefore: T2 });
    expect(taken?.document.id).toBe(document.id);
    expect(await store.collections.setProgress(document.id, won[0]!.token, 1, 2, T2)).toBe(false);
    expect(await store.collections.finish(document.id, won[0]!.token, { status: 'failed', error: 'x' }, T2)).toBe(false);
    expect(await store.collections.finish(document.id, taken!.token, { status: 'ready', format: 'markdown', pages: null, chunks: 4 }, T2)).toBe(true);
    expect(await store.collections.findDocument(id, 'a.md')).toMatchObject({ status: 'ready', chunks: 4, format: 'markdown', error: null });
    expect((await store.collections.documentCounts()).get(id)).toEqual({ documents: 1, chunks: 4 });
  });

  it('drops a running ingestion\'s result when the document is replaced meanwhile', async () => {
    const store = getStore();
    const { id } = await collection(store);
    const { document } = await put(store, id, 'a.md', 'old');
    const claim = (await store.collections.claimNext({ now: T1, staleBefore: T0 }))!;
    await put(store, id, 'a.md', 'new', T1);
    expect(await store.collections.finish(document.id, claim.token, { status: 'ready', format: 'markdown', pages: null, chunks: 1 }, T1)).toBe(false);
    expect(await store.collections.findDocument(id, document.id)).toMatchObject({ status: 'queued' });
    // Only documents asked for are claimed (the CLI drains its own uploads).
    expect(await store.collections.claimNext({ now: T1, staleBefore: T0, ids: ['other'] })).toBeUndefined();
    expect((await store.collections.claimNext({ now: T1, staleBefore: T0, ids: [document.id] }))?.document.id).toBe(document.id);
  });

  it('deletes documents with their collection, and collections with their group', async () => {
    const store = getStore();
    const first = await collection(store, 'one');
    const second = await collection(store, 'two');
    await put(store, first.id, 'a.md', 'a');
    await put(store, second.id, 'b.md', 'b');
    await store.collections.delete(first.id);
    expect(await store.collections.findById(first.id)).toBeUndefined();
    expect(await store.collections.listDocuments(first.id)).toEqual([]);
    await store.groups.delete(second.groupId);
    expect(await store.collections.findById(second.id)).toBeUndefined();
    expect(await store.personalData.dumpTable('collection_documents')).toEqual([]);
  });
});
