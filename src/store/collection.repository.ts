import type { Kysely } from 'kysely';
import { randomId } from '../lib/ids.js';
import type { CollectionDocumentsTable, CollectionsTable, Database } from './database.js';

export type Strictness = 'strict' | 'lenient';
export type DocumentStatus = 'queued' | 'processing' | 'ready' | 'failed';

export interface CollectionRecord {
  id: string;
  name: string;
  groupId: string;
  /** The group's name (joined). */
  groupName: string;
  description: string | null;
  instructions: string | null;
  chatModel: string | null;
  strictness: Strictness;
  refusalText: string | null;
  topK: number;
  createdAt: string;
  updatedAt: string;
}

/** A document without its bytes. */
export interface CollectionDocumentRecord {
  id: string;
  collectionId: string;
  name: string;
  contentHash: string;
  contentType: string;
  bytes: number;
  status: DocumentStatus;
  error: string | null;
  format: string | null;
  pages: number | null;
  chunks: number | null;
  progressDone: number;
  progressTotal: number;
  uploadedBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface CollectionSettings {
  description?: string | null;
  instructions?: string | null;
  chatModel?: string | null;
  strictness?: Strictness;
  refusalText?: string | null;
  topK?: number;
}

const DOCUMENT_COLUMNS = [
  'id', 'collection_id', 'name', 'content_hash', 'content_type', 'bytes', 'status', 'error', 'format', 'pages', 'chunks',
  'progress_done', 'progress_total', 'uploaded_by', 'created_at', 'updated_at',
] as const;

type DocumentRow = Pick<CollectionDocumentsTable, (typeof DOCUMENT_COLUMNS)[number]>;

function toDocument(row: DocumentRow): CollectionDocumentRecord {
  return {
    id: row.id, collectionId: row.collection_id, name: row.name, contentHash: row.content_hash, contentType: row.content_type,
    bytes: Number(row.bytes), status: row.status as DocumentStatus, error: row.error, format: row.format,
    pages: row.pages === null ? null : Number(row.pages), chunks: row.chunks === null ? null : Number(row.chunks),
    progressDone: Number(row.progress_done), progressTotal: Number(row.progress_total), uploadedBy: row.uploaded_by,
    createdAt: row.created_at, updatedAt: row.updated_at,
  };
}

function toCollection(row: CollectionsTable & { group_name: string }): CollectionRecord {
  return {
    id: row.id, name: row.name, groupId: row.group_id, groupName: row.group_name, description: row.description,
    instructions: row.instructions, chatModel: row.chat_model, strictness: row.strictness as Strictness,
    refusalText: row.refusal_text, topK: Number(row.top_k), createdAt: row.created_at, updatedAt: row.updated_at,
  };
}

function settingsRow(settings: CollectionSettings): Partial<CollectionsTable> {
  const row: Partial<CollectionsTable> = {};
  if (settings.description !== undefined) row.description = settings.description;
  if (settings.instructions !== undefined) row.instructions = settings.instructions;
  if (settings.chatModel !== undefined) row.chat_model = settings.chatModel;
  if (settings.strictness !== undefined) row.strictness = settings.strictness;
  if (settings.refusalText !== undefined) row.refusal_text = settings.refusalText;
  if (settings.topK !== undefined) row.top_k = settings.topK;
  return row;
}

/** Course collections (the material of a course bot) and their documents, with the original files. */
export class CollectionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  private collections() {
    return this.db.selectFrom('collections').innerJoin('groups', 'groups.id', 'collections.group_id')
      .selectAll('collections').select('groups.name as group_name');
  }

  async create(input: { name: string; groupId: string; settings: CollectionSettings & { strictness: Strictness; topK: number }; now: string }): Promise<CollectionRecord> {
    const id = randomId(16);
    await this.db.insertInto('collections').values({
      id, name: input.name, group_id: input.groupId, description: null, instructions: null, chat_model: null, refusal_text: null,
      ...settingsRow(input.settings), strictness: input.settings.strictness, top_k: input.settings.topK,
      created_at: input.now, updated_at: input.now,
    }).execute();
    return (await this.findById(id))!;
  }

  async findByName(name: string): Promise<CollectionRecord | undefined> {
    const row = await this.collections().where('collections.name', '=', name).executeTakeFirst();
    return row && toCollection(row);
  }

  async findById(id: string): Promise<CollectionRecord | undefined> {
    const row = await this.collections().where('collections.id', '=', id).executeTakeFirst();
    return row && toCollection(row);
  }

  /** Every collection, or those of the given groups. */
  async list(groupIds?: readonly string[]): Promise<CollectionRecord[]> {
    if (groupIds && groupIds.length === 0) return [];
    let query = this.collections().orderBy('collections.name');
    if (groupIds) query = query.where('collections.group_id', 'in', [...groupIds]);
    return (await query.execute()).map(toCollection);
  }

  async update(id: string, settings: CollectionSettings, now: string): Promise<void> {
    await this.db.updateTable('collections').set({ ...settingsRow(settings), updated_at: now }).where('id', '=', id).execute();
  }

  /** Deletes the collection and its documents. */
  async delete(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('collection_documents').where('collection_id', '=', id).execute();
      await trx.deleteFrom('collections').where('id', '=', id).execute();
    });
  }

  /** Documents and their chunk counts per collection (for lists). */
  async documentCounts(): Promise<Map<string, { documents: number; chunks: number }>> {
    const rows = await this.db.selectFrom('collection_documents')
      .select((eb) => ['collection_id', eb.fn.countAll<number>().as('documents'), eb.fn.sum<number>('chunks').as('chunks')])
      .groupBy('collection_id').execute();
    return new Map(rows.map((r) => [r.collection_id, { documents: Number(r.documents), chunks: Number(r.chunks ?? 0) }]));
  }

  async listDocuments(collectionId: string): Promise<CollectionDocumentRecord[]> {
    const rows = await this.db.selectFrom('collection_documents').select(DOCUMENT_COLUMNS)
      .where('collection_id', '=', collectionId).orderBy('name').execute();
    return rows.map(toDocument);
  }

  /** By id, else by name, within the collection. */
  async findDocument(collectionId: string, ref: string): Promise<CollectionDocumentRecord | undefined> {
    const row = await this.db.selectFrom('collection_documents').select(DOCUMENT_COLUMNS)
      .where('collection_id', '=', collectionId)
      .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)]))
      .orderBy('created_at').executeTakeFirst();
    return row && toDocument(row);
  }

  async getDocumentsById(ids: readonly string[]): Promise<CollectionDocumentRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.selectFrom('collection_documents').select(DOCUMENT_COLUMNS).where('id', 'in', [...ids]).execute();
    return rows.map(toDocument);
  }

  /**
   * Documents that have passages in the retrieval index but no row any more: removed by
   * retention, or with their collection's group. The index has no foreign key to them (it is
   * keyed by the ids its caller gives it), so the ingestion worker sweeps these.
   */
  async orphanedIndexDocuments(limit = 100): Promise<{ collectionId: string; documentId: string }[]> {
    const rows = await this.db.selectFrom('rag_chunks').select(['rag_chunks.collection_id', 'rag_chunks.document_id']).distinct()
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('collection_documents').select('collection_documents.id')
        .whereRef('collection_documents.id', '=', 'rag_chunks.document_id'))))
      .limit(limit).execute();
    return rows.map((r) => ({ collectionId: r.collection_id, documentId: r.document_id }));
  }

  /** The original file. */
  async readContent(documentId: string): Promise<Uint8Array | undefined> {
    const row = await this.db.selectFrom('collection_documents').select('content').where('id', '=', documentId).executeTakeFirst();
    return row ? new Uint8Array(row.content) : undefined;
  }

  /**
   * Stores a file under its name, queued for ingestion. A document of the same name is replaced
   * (same id, new content, queued again); with the same content hash nothing changes.
   */
  async putDocument(input: {
    collectionId: string; name: string; contentHash: string; contentType: string; content: Uint8Array; uploadedBy: string | null; now: string;
  }): Promise<{ document: CollectionDocumentRecord; change: 'created' | 'replaced' | 'unchanged' }> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('collection_documents').select(['id', 'content_hash', 'status'])
        .where('collection_id', '=', input.collectionId).where('name', '=', input.name).executeTakeFirst();
      const values = {
        content_hash: input.contentHash, content_type: input.contentType, bytes: input.content.byteLength, content: input.content,
        status: 'queued', error: null, format: null, pages: null, chunks: null, progress_done: 0, progress_total: 0,
        uploaded_by: input.uploadedBy, claim_token: null, claimed_at: null, updated_at: input.now,
      };
      let id: string;
      let change: 'created' | 'replaced' | 'unchanged';
      // A failed document is retried even with the same bytes (the cause may have been fixed on our side).
      if (existing && existing.content_hash === input.contentHash && existing.status !== 'failed') {
        id = existing.id;
        change = 'unchanged';
      } else if (existing) {
        id = existing.id;
        change = 'replaced';
        await trx.updateTable('collection_documents').set(values).where('id', '=', id).execute();
      } else {
        id = randomId(16);
        change = 'created';
        await trx.insertInto('collection_documents').values({
          id, collection_id: input.collectionId, name: input.name, created_at: input.now, ...values,
        }).execute();
      }
      const row = await trx.selectFrom('collection_documents').select(DOCUMENT_COLUMNS).where('id', '=', id).executeTakeFirstOrThrow();
      return { document: toDocument(row), change };
    });
  }

  async deleteDocument(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('collection_documents').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Claims the oldest document waiting for ingestion: a queued one, or one whose claim showed no
   * life since `staleBefore` (its worker died). The conditional update makes the claim exclusive
   * between workers of several processes; the token identifies it in every later write.
   */
  async claimNext(options: { now: string; staleBefore: string; ids?: readonly string[] }): Promise<{ document: CollectionDocumentRecord; token: string } | undefined> {
    if (options.ids && options.ids.length === 0) return undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      let query = this.db.selectFrom('collection_documents').select(['id', 'claim_token', 'status'])
        .where((eb) => eb.or([
          eb('status', '=', 'queued'),
          eb.and([eb('status', '=', 'processing'), eb('claimed_at', '<', options.staleBefore)]),
        ]))
        .orderBy('updated_at').orderBy('id').limit(1);
      if (options.ids) query = query.where('id', 'in', [...options.ids]);
      const candidate = await query.executeTakeFirst();
      if (!candidate) return undefined;
      const token = randomId(16);
      let update = this.db.updateTable('collection_documents')
        .set({ status: 'processing', claim_token: token, claimed_at: options.now, progress_done: 0, progress_total: 0, error: null })
        .where('id', '=', candidate.id).where('status', '=', candidate.status);
      update = candidate.claim_token === null ? update.where('claim_token', 'is', null) : update.where('claim_token', '=', candidate.claim_token);
      const result = await update.executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) {
        const row = await this.db.selectFrom('collection_documents').select(DOCUMENT_COLUMNS).where('id', '=', candidate.id).executeTakeFirst();
        if (row) return { document: toDocument(row), token };
      }
    }
    return undefined;
  }

  /** Progress of a claimed document; false once the claim is lost (replaced, removed or taken over). */
  async setProgress(id: string, token: string, done: number, total: number, now: string): Promise<boolean> {
    const result = await this.db.updateTable('collection_documents')
      .set({ progress_done: done, progress_total: total, claimed_at: now })
      .where('id', '=', id).where('claim_token', '=', token).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Ends a claimed document's ingestion; false when the claim was lost. */
  async finish(id: string, token: string, outcome:
    | { status: 'ready'; format: string; pages: number | null; chunks: number }
    | { status: 'failed'; error: string }, now: string): Promise<boolean> {
    const values = outcome.status === 'ready'
      ? { status: 'ready', format: outcome.format, pages: outcome.pages, chunks: outcome.chunks, error: null }
      : { status: 'failed', error: outcome.error };
    const result = await this.db.updateTable('collection_documents')
      .set({ ...values, claim_token: null, claimed_at: null, updated_at: now })
      .where('id', '=', id).where('claim_token', '=', token).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
