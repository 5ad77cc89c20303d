import { createHash } from 'node:crypto';
import type { Collection, CollectionDocument, CollectionSearchResponse, CreateCollectionRequest, UpdateCollectionRequest } from '../../api/collections.js';
import type { Config } from '../../config/schema.js';
import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { CollectionDocumentRecord, CollectionRecord, CollectionSettings } from '../../store/collection.repository.js';
import { toTimestamp } from '../../store/database.js';
import type { Store } from '../../store/store.js';
import type { AuditService } from '../identity/audit.service.js';
import type { RagIndexService } from '../rag/rag-index.service.js';
import { COLLECTION_NAME, CourseAccess, type CollectionAccess, type CourseActor } from './course-access.js';
import { sanitizeFileName } from './file-name.js';
import type { IngestionWorker } from './ingestion-worker.js';

export interface CollectionServiceDeps {
  store: Store;
  rag: RagIndexService;
  worker: IngestionWorker;
  audit: AuditService;
  courses: Config['courses'];
  /** `rag.max_upload_bytes`. */
  maxUploadBytes: number;
  clock?: Clock;
}

/** Passages of a search with the names of their documents. */
export interface NamedHits {
  hits: (CollectionSearchResponse['data'][number] & { documentId: string })[];
  relevant: boolean;
}

/**
 * Course collections as their owners and members use them: create, configure, upload and remove
 * documents (ingested by the IngestionWorker off the request path), search. Access is decided by
 * CourseAccess; every change is audited.
 */
export class CollectionService {
  readonly access: CourseAccess;
  private readonly clock: Clock;

  constructor(private readonly deps: CollectionServiceDeps) {
    this.access = new CourseAccess(deps.store);
    this.clock = deps.clock ?? systemClock;
  }

  /** The largest upload (`rag.max_upload_bytes`); the http layer refuses more while it streams. */
  get maxUploadBytes(): number {
    return this.deps.maxUploadBytes;
  }

  private now(): string {
    return toTimestamp(this.clock.now());
  }

  async create(actor: CourseActor, input: CreateCollectionRequest): Promise<Collection> {
    if (!COLLECTION_NAME.test(input.name)) {
      throw new FlexiError('invalid_request', 'name must be 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit.', { param: 'name' });
    }
    const group = await this.deps.store.groups.find(input.group);
    // A group the actor does not belong to looks like one that does not exist.
    if (!group || !(await this.access.roleIn(actor, group.id))) throw new FlexiError('not_found', `No group named "${input.group}".`, { param: 'group' });
    if (!(await this.access.canCreateIn(actor, group.id))) {
      throw new FlexiError('permission_denied', `Only the owners of "${group.name}" (flexi groups add --owner) and admins may create its course bot.`, { param: 'group' });
    }
    if (await this.deps.store.collections.findByName(input.name)) {
      throw new FlexiError('conflict', `A collection named "${input.name}" already exists.`, { param: 'name' });
    }
    const settings = toSettings(input);
    const collection = await this.deps.store.collections.create({
      name: input.name, groupId: group.id, now: this.now(),
      settings: { ...settings, strictness: settings.strictness ?? 'strict', topK: settings.topK ?? this.deps.courses.top_k },
    });
    await this.deps.audit.record(actor.label, 'collection.create', { type: 'collection', id: collection.id }, { name: collection.name, group: group.name });
    return this.toWire({ collection, role: (await this.access.roleIn(actor, group.id))!, canManage: true });
  }

  async list(actor: CourseActor): Promise<Collection[]> {
    const visible = await this.access.visible(actor);
    const counts = await this.deps.store.collections.documentCounts();
    return visible.map((access) => this.toWire(access, counts.get(access.collection.id)));
  }

  async get(actor: CourseActor, name: string): Promise<Collection> {
    const access = await this.access.forMember(actor, name);
    const counts = await this.deps.store.collections.documentCounts();
    return this.toWire(access, counts.get(access.collection.id));
  }

  async update(actor: CourseActor, name: string, patch: UpdateCollectionRequest): Promise<Collection> {
    const { collection } = await this.access.forOwner(actor, name);
    await this.deps.store.collections.update(collection.id, toSettings(patch), this.now());
    await this.deps.audit.record(actor.label, 'collection.update', { type: 'collection', id: collection.id }, { name: collection.name, fields: Object.keys(patch) });
    return this.get(actor, collection.name);
  }

  /** Deletes the collection, its documents and its index. */
  async delete(actor: CourseActor, name: string): Promise<CollectionRecord> {
    const { collection } = await this.access.forOwner(actor, name);
    await this.deps.store.collections.delete(collection.id);
    await this.deps.rag.removeCollection(collection.id);
    await this.deps.audit.record(actor.label, 'collection.delete', { type: 'collection', id: collection.id }, { name: collection.name });
    return collection;
  }

  async listDocuments(actor: CourseActor, name: string): Promise<CollectionDocument[]> {
    const { collection } = await this.access.forMember(actor, name);
    return (await this.deps.store.collections.listDocuments(collection.id)).map(toWireDocument);
  }

  async getDocument(actor: CourseActor, name: string, ref: string): Promise<CollectionDocument> {
    const { collection } = await this.access.forMember(actor, name);
    return toWireDocument(await this.findDocument(collection.id, ref));
  }

  /**
   * Stores an uploaded file under its (sanitised) name and queues it for ingestion. The same
   * name replaces the document; the same name and content change nothing. The bytes were
   * already bounded while they streamed in (`rag.max_upload_bytes`).
   */
  async upload(actor: CourseActor, name: string, input: { fileName: string; contentType?: string; content: Uint8Array }): Promise<{ document: CollectionDocument; change: 'created' | 'replaced' | 'unchanged' }> {
    const { collection } = await this.access.forOwner(actor, name);
    const fileName = sanitizeFileName(input.fileName);
    if (input.content.byteLength === 0) throw new FlexiError('invalid_request', `The file "${fileName}" is empty.`, { param: 'file' });
    if (input.content.byteLength > this.deps.maxUploadBytes) throw tooLarge(this.deps.maxUploadBytes);
    const contentHash = createHash('sha256').update(input.content).digest('hex');
    const { document, change } = await this.deps.store.collections.putDocument({
      collectionId: collection.id, name: fileName, contentHash, contentType: normaliseContentType(input.contentType),
      content: input.content, uploadedBy: actor.userId ?? null, now: this.now(),
    });
    if (change !== 'unchanged') {
      await this.deps.audit.record(actor.label, 'collection.document.upload', { type: 'collection', id: collection.id }, { document: document.id, name: fileName, bytes: document.bytes, change });
      this.deps.worker.wake();
    }
    return { document: toWireDocument(document), change };
  }

  async removeDocument(actor: CourseActor, name: string, ref: string): Promise<CollectionDocument> {
    const { collection } = await this.access.forOwner(actor, name);
    const document = await this.findDocument(collection.id, ref);
    await this.deps.store.collections.deleteDocument(document.id);
    await this.deps.rag.removeDocument(collection.id, document.id);
    await this.deps.audit.record(actor.label, 'collection.document.remove', { type: 'collection', id: collection.id }, { document: document.id, name: document.name });
    return toWireDocument(document);
  }

  /** The original file, for the course's members (sources open it at the cited page). */
  async readFile(actor: CourseActor, name: string, ref: string): Promise<{ document: CollectionDocument; content: Uint8Array }> {
    const { collection } = await this.access.forMember(actor, name);
    const document = await this.findDocument(collection.id, ref);
    const content = await this.deps.store.collections.readContent(document.id);
    if (!content) throw new FlexiError('not_found', `No document "${ref}" in "${collection.name}".`);
    return { document: toWireDocument(document), content };
  }

  async search(actor: CourseActor, name: string, query: string, topK?: number): Promise<CollectionSearchResponse> {
    const { collection } = await this.access.forMember(actor, name);
    const { hits, relevant } = await this.searchCollection(collection, query, topK ?? collection.topK);
    return { object: 'list', data: hits.map(({ documentId: _, ...hit }) => hit), relevant };
  }

  /** Retrieval over a collection the caller may read, with document names (the course bot uses it too). */
  async searchCollection(collection: CollectionRecord, query: string, topK: number, signal?: AbortSignal): Promise<NamedHits> {
    const result = await this.deps.rag.search(collection.id, query, { topK, strictness: collection.strictness });
    signal?.throwIfAborted();
    const documents = await this.deps.store.collections.getDocumentsById([...new Set(result.hits.map((h) => h.documentId))]);
    const names = new Map(documents.map((d) => [d.id, d.name]));
    const hits: NamedHits['hits'] = [];
    for (const hit of result.hits) {
      const document = names.get(hit.documentId);
      // A document removed after its passages were found is gone for the caller too.
      if (document === undefined) continue;
      hits.push({
        documentId: hit.documentId, document, text: hit.text, score: hit.score,
        ...(hit.pageStart !== undefined ? { page: hit.pageStart } : {}),
        ...(hit.pageEnd !== undefined && hit.pageEnd !== hit.pageStart ? { page_end: hit.pageEnd } : {}),
        ...(hit.section ? { section: hit.section } : {}),
      });
    }
    return { hits, relevant: result.relevant && hits.length > 0 };
  }

  private async findDocument(collectionId: string, ref: string): Promise<CollectionDocumentRecord> {
    const document = await this.deps.store.collections.findDocument(collectionId, ref);
    if (!document) throw new FlexiError('not_found', `No document "${ref}" in this collection.`);
    return document;
  }

  private toWire(access: CollectionAccess, counts?: { documents: number; chunks: number }): Collection {
    const c = access.collection;
    return {
      id: c.id, name: c.name, model: `course:${c.name}`, group: { id: c.groupId, name: c.groupName }, description: c.description,
      instructions: c.instructions, chat_model: c.chatModel, strictness: c.strictness, refusal_text: c.refusalText, top_k: c.topK,
      role: access.role, documents: counts?.documents ?? 0, chunks: counts?.chunks ?? 0, created_at: c.createdAt, updated_at: c.updatedAt,
    };
  }
}

export function tooLarge(limit: number): FlexiError {
  return new FlexiError('payload_too_large', `The document is larger than ${formatBytes(limit)} (rag.max_upload_bytes); split it or ask an operator to raise the limit.`, { param: 'file' });
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 102.4) / 10} KiB`;
  return `${bytes} bytes`;
}

function toSettings(input: UpdateCollectionRequest): CollectionSettings {
  return {
    description: input.description, instructions: input.instructions, chatModel: input.chat_model,
    strictness: input.strictness, refusalText: input.refusal_text, topK: input.top_k,
  };
}

/** A content type as a hint for the extractor and for serving the file back; never trusted for more. */
function normaliseContentType(value: string | undefined): string {
  const type = (value ?? '').split(';')[0]!.trim().toLowerCase();
  return /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(type) && type.length <= 100 ? type : 'application/octet-stream';
}

export function toWireDocument(d: CollectionDocumentRecord): CollectionDocument {
  return {
    id: d.id, name: d.name, status: d.status, error: d.error, format: d.format, pages: d.pages, chunks: d.chunks, bytes: d.bytes,
    content_type: d.contentType, content_hash: d.contentHash, progress: { done: d.progressDone, total: d.progressTotal },
    created_at: d.createdAt, updated_at: d.updatedAt,
  };
}
