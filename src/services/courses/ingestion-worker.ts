import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { chunkDocument } from '../../rag/chunk.js';
import { extractDocument } from '../../rag/extract.js';
import type { CollectionDocumentRecord, CollectionRepository } from '../../store/collection.repository.js';
import { toTimestamp } from '../../store/database.js';
import type { RagIndexService } from '../rag/rag-index.service.js';

export interface IngestionWorkerOptions {
  repository: CollectionRepository;
  rag: RagIndexService;
  limits: { maxBytes: number; maxPages: number };
  /** How often to look for documents queued by other processes (the CLI, other replicas). */
  pollIntervalMs: number;
  /** A claim without progress for this long belongs to a dead worker and is taken over. */
  staleAfterMs: number;
  clock?: Clock;
  logError?: (message: string, fields: Record<string, unknown>) => void;
}

/** How one document's ingestion ended. */
export type IngestionOutcome =
  | { id: string; name: string; status: 'ready'; pages: number | null; chunks: number }
  | { id: string; name: string; status: 'failed'; error: string }
  /** Replaced, removed or taken over while it ran: its result was dropped. */
  | { id: string; name: string; status: 'superseded' };

/** How often the worker removes index passages of documents that are gone (retention, deleted courses). */
const SWEEP_EVERY_MS = 10 * 60_000;

/** Progress writes per document are at most this frequent (the database is not a progress bar). */
const PROGRESS_EVERY_MS = 250;

/**
 * Ingests queued documents off the request path: claim (an exclusive conditional update, so
 * several processes can share the queue), extract → chunk → index, record the result. The queue
 * is the `collection_documents` table itself, so it survives restarts: at start and every
 * poll the worker takes queued documents and `processing` ones whose claim went stale (the
 * process that held it died). One document at a time: extraction is CPU-bound and the request
 * path must keep its share of the machine.
 */
export class IngestionWorker {
  private readonly clock: Clock;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private abort = new AbortController();
  private lastSweepMs = -Infinity;

  constructor(private readonly options: IngestionWorkerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Starts polling (the serving process); the first run picks up what was left by a restart. */
  start(): void {
    this.stopped = false;
    this.wake();
    this.timer = setInterval(() => this.wake(), Math.max(100, this.options.pollIntervalMs));
    this.timer.unref();
  }

  /** Looks for work now (after an upload); a run already going looks again when it ends. */
  wake(): void {
    if (this.stopped || !this.timer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sweepIfDue().then(() => this.drain()).then(() => undefined, (error: unknown) => {
      this.options.logError?.('document ingestion failed', { error: (error as Error).stack ?? String(error) });
    }).finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /**
   * Removes the passages of documents whose rows are gone. Retention deletes document rows and
   * deleting a course deletes its collections by foreign key; neither can reach into the index.
   */
  async sweepOrphans(): Promise<number> {
    let removed = 0;
    // Bounded: a batch the index failed to remove must not spin forever.
    for (let round = 0; round < 100; round++) {
      const orphans = await this.options.repository.orphanedIndexDocuments();
      for (const { collectionId, documentId } of orphans) await this.options.rag.removeDocument(collectionId, documentId);
      removed += orphans.length;
      if (orphans.length === 0 || this.abort.signal.aborted) return removed;
    }
    return removed;
  }

  private async sweepIfDue(): Promise<void> {
    const now = this.clock.monotonicMs();
    if (now - this.lastSweepMs < SWEEP_EVERY_MS) return;
    this.lastSweepMs = now;
    await this.sweepOrphans();
  }

  /** Resolves once no ingestion runs in this process (tests; shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops polling and waits for the document in progress (its claim is kept; it goes stale and is retried). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.running;
    this.abort = new AbortController();
  }

  /** Ingests every waiting document (or only `ids`) in this process; the CLI's `add` waits on this. */
  async drain(ids?: readonly string[], onProgress?: (document: CollectionDocumentRecord, done: number, total: number) => void): Promise<IngestionOutcome[]> {
    const outcomes: IngestionOutcome[] = [];
    for (;;) {
      if (this.abort.signal.aborted) return outcomes;
      const now = this.clock.now();
      const claimed = await this.options.repository.claimNext({
        now: toTimestamp(now), staleBefore: toTimestamp(now - this.options.staleAfterMs), ids,
      });
      if (!claimed) return outcomes;
      outcomes.push(await this.ingest(claimed.document, claimed.token, onProgress));
    }
  }

  private async ingest(
    document: CollectionDocumentRecord, token: string, onProgress?: (document: CollectionDocumentRecord, done: number, total: number) => void,
  ): Promise<IngestionOutcome> {
    const { repository, rag, limits } = this.options;
    let lastWrite = -Infinity;
    // Extraction reports pages (or one step), indexing reports passages: one bar, two halves.
    const report = (phase: 0 | 1) => (done: number, total: number) => {
      const overall = { done: phase * total + done, total: total * 2 };
      onProgress?.(document, overall.done, overall.total);
      const at = this.clock.monotonicMs();
      if (at - lastWrite < PROGRESS_EVERY_MS && done < total) return;
      lastWrite = at;
      // Also the claim's sign of life; a lost claim shows in finish().
      void repository.setProgress(document.id, token, overall.done, overall.total, toTimestamp(this.clock.now())).catch(() => undefined);
    };
    const superseded: IngestionOutcome = { id: document.id, name: document.name, status: 'superseded' };
    try {
      const content = await repository.readContent(document.id);
      if (!content) return superseded;
      const extracted = await extractDocument(content, document.name, limits, report(0));
      const chunks = chunkDocument(extracted);
      if (chunks.length === 0) {
        throw new FlexiError('invalid_request', 'The document has no text to answer from (empty, or only images: no text layer; OCR is not supported).');
      }
      await rag.indexDocument(document.collectionId, document.id, chunks, report(1));
      const pages = extracted.pageCount ?? null;
      const now = toTimestamp(this.clock.now());
      if (!(await repository.finish(document.id, token, { status: 'ready', format: extracted.format, pages, chunks: chunks.length }, now))) {
        // Replaced (its new content is indexed by a run of its own) or removed (it must leave nothing behind).
        if (!(await repository.findDocument(document.collectionId, document.id))) await rag.removeDocument(document.collectionId, document.id);
        return superseded;
      }
      return { id: document.id, name: document.name, status: 'ready', pages, chunks: chunks.length };
    } catch (error) {
      // A FlexiError is the document's fault and says why (encrypted, no text layer, too many pages…).
      const reason = error instanceof FlexiError ? error.message : `Ingestion failed: ${(error as Error).message ?? String(error)}`;
      if (!(error instanceof FlexiError)) this.options.logError?.('document ingestion failed', { document: document.id, error: (error as Error).stack ?? String(error) });
      await rag.removeDocument(document.collectionId, document.id).catch(() => undefined);
      const finished = await repository.finish(document.id, token, { status: 'failed', error: reason }, toTimestamp(this.clock.now()));
      return finished ? { id: document.id, name: document.name, status: 'failed', error: reason } : superseded;
    }
  }
}
