import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import { analyzePlain, analyzePlainQuery, analyzeQuery, analyzeText, compoundCandidates, detectLanguage, vocabularyOf, type QueryWord } from '../../rag/analyze.js';
import type { Chunk } from '../../rag/chunk.js';
import { isBuiltInMorpheme } from '../../rag/compound.js';
import { reciprocalRankFusion, RRF_K } from '../../rag/fusion.js';
import { coverage, smoothIdf } from '../../rag/relevance.js';
import type { RagChunkInput, RagChunkRecord, RagTermStats } from '../../store/rag-index.repository.js';
import type { Store } from '../../store/store.js';

/** Dense vectors from a node (rag.embedding_model); absent = full text only (the default). */
export interface Embedder { readonly model: string; embed(texts: string[], signal?: AbortSignal): Promise<number[][]> }

export interface SearchHit {
  chunkId: string;
  documentId: string;
  ord: number;
  text: string;
  pageStart?: number;
  pageEnd?: number;
  section?: string;
  /** Fused rank score scaled to 0–1 (1: first in every list). Orders hits; `relevant` decides refusal. */
  score: number;
}

export interface SearchResult {
  hits: SearchHit[];
  /** Strict-mode decision: whether the best passages answer enough of the question. */
  relevant: boolean;
  /** The signal behind `relevant`: the share (0–1) of the question's weight the best passage covers. */
  relevance: number;
}

export interface SearchOptions {
  topK: number;
  /** `strict` (default): relevant only when a passage covers `minRelevance` of the question; `lenient`: half of that. */
  strictness?: 'strict' | 'lenient';
  /** Rewrites or translations of the question (multi-query); fused with it. */
  queries?: string[];
}

export interface RagIndexOptions {
  embedder?: Embedder;
  /** rag.min_relevance. */
  minRelevance?: number;
  /**
   * `language` (default): stemming, folding, compounds, codes. `plain`: lower-cased tokens only — the
   * baseline bench/rag compares against; an index must be searched with the analysis it was built with.
   */
  analysis?: 'language' | 'plain';
  clock?: Clock;
}

/** Passages each query asks full text (and vectors) for before fusion. */
const CANDIDATES_PER_LIST = 50;
/** The best passages whose coverage decides `relevant`. */
const RELEVANCE_DEPTH = 5;
const EMBED_BATCH = 16;
const PROGRESS_EVERY = 50;
/** Terms in more than this share of a collection's chunks are left out of the full-text lookup (see `discriminating`). */
const MAX_TERM_SHARE = 0.25;
/** …unless the collection is this small: small courses keep every term. */
const MIN_COMMON_CHUNKS = 50;
const KEEP_RAREST = 3;
const MAX_TOP_K = 100;
const MAX_QUERY_CHARS = 4000;
export const DEFAULT_MIN_RELEVANCE = 0.4;

interface Ranked { id: string; record?: RagChunkRecord }

/**
 * The retrieval index of course collections: analyses and stores passages, searches them by full
 * text (and vectors when an embedding model is configured), fuses, and decides whether the best
 * passages are relevant enough to answer from.
 */
export class RagIndexService {
  private readonly embedder: Embedder | undefined;
  private readonly minRelevance: number;
  private readonly clock: Clock;
  private readonly plain: boolean;

  constructor(private readonly store: Store, options: RagIndexOptions = {}) {
    this.embedder = options.embedder;
    this.minRelevance = options.minRelevance ?? DEFAULT_MIN_RELEVANCE;
    this.clock = options.clock ?? systemClock;
    this.plain = options.analysis === 'plain';
  }

  /** Analyses and stores a document's chunks, replacing what the document had. */
  async indexDocument(collectionId: string, documentId: string, chunks: Chunk[], onProgress?: (done: number, total: number) => void): Promise<void> {
    const vocabulary = new Set<string>();
    for (const chunk of chunks) for (const stem of vocabularyOf(chunk.text)) vocabulary.add(stem);
    const known = (stem: string) => vocabulary.has(stem) || isBuiltInMorpheme(stem);
    const inputs: RagChunkInput[] = [];
    const total = chunks.length;
    for (const [index, chunk] of chunks.entries()) {
      // Without an embedder, analysis is the long part; with one, embedding reports below.
      if (!this.embedder && index > 0 && index % PROGRESS_EVERY === 0) onProgress?.(index, total);
      const indexed = chunk.section ? `${chunk.section}\n${chunk.text}` : chunk.text;
      const language = detectLanguage(indexed);
      inputs.push({
        id: randomId(20), ord: chunk.ord, text: chunk.text, language,
        terms: this.plain ? analyzePlain(indexed) : analyzeText(indexed, { language, known }),
        ...(chunk.section !== undefined ? { section: chunk.section } : {}),
        ...(chunk.pageStart !== undefined ? { pageStart: chunk.pageStart } : {}),
        ...(chunk.pageEnd !== undefined ? { pageEnd: chunk.pageEnd } : {}),
      });
    }
    if (this.embedder) {
      for (let i = 0; i < inputs.length; i += EMBED_BATCH) {
        const batch = inputs.slice(i, i + EMBED_BATCH);
        const vectors = await this.embedder.embed(batch.map((c) => (c.section ? `${c.section}\n${c.text}` : c.text)));
        batch.forEach((chunk, j) => {
          chunk.embedding = normalize(vectors[j] ?? []);
          chunk.embeddingModel = this.embedder!.model;
        });
        onProgress?.(Math.min(i + EMBED_BATCH, total), total);
      }
    }
    await this.store.ragIndex.replaceDocument(collectionId, documentId, inputs, new Date(this.clock.now()).toISOString());
    onProgress?.(total, total);
  }

  async removeDocument(collectionId: string, documentId: string): Promise<void> {
    await this.store.ragIndex.removeDocument(collectionId, documentId);
  }

  async removeCollection(collectionId: string): Promise<void> {
    await this.store.ragIndex.removeCollection(collectionId);
  }

  /** The passages that best answer `query` (and its rewrites), fused, with the strict-mode decision. */
  async search(collectionId: string, query: string, options: SearchOptions): Promise<SearchResult> {
    if (!Number.isInteger(options.topK) || options.topK < 1 || options.topK > MAX_TOP_K) {
      throw new FlexiError('invalid_request', `top_k must be an integer from 1 to ${MAX_TOP_K}.`, { param: 'top_k' });
    }
    const queries = [...new Set([query, ...(options.queries ?? [])].map((q) => q.trim()).filter((q) => q.length > 0))];
    if (queries.some((q) => q.length > MAX_QUERY_CHARS)) {
      throw new FlexiError('invalid_request', `query must be at most ${MAX_QUERY_CHARS} characters.`, { param: 'query' });
    }
    if (queries.length === 0) return { hits: [], relevant: false, relevance: 0 };

    const known = this.plain ? new Set<string>() : await this.store.ragIndex.knownTerms(collectionId, queries.flatMap(compoundCandidates));
    const analysed = queries.map((q) => (this.plain ? analyzePlainQuery(q) : analyzeQuery(q, (stem) => known.has(stem))));
    const stats = await this.store.ragIndex.termStats(collectionId, analysed.flatMap(termsOf));
    if (stats.chunkCount === 0) return { hits: [], relevant: false, relevance: 0 };

    const records = new Map<string, RagChunkRecord>();
    const lists: Ranked[][] = [];
    for (const words of analysed) {
      const hits = await this.store.ragIndex.searchTerms(collectionId, discriminating(termsOf(words), stats), CANDIDATES_PER_LIST, stats);
      for (const hit of hits) records.set(hit.id, hit);
      lists.push(hits.map((hit) => ({ id: hit.id, record: hit })));
    }
    if (this.embedder) lists.push(...(await this.denseLists(collectionId, queries)));

    const fused = reciprocalRankFusion(lists.map((list) => list.map((r) => r.id))).slice(0, options.topK);
    const missing = fused.map((f) => f.id).filter((id) => !records.has(id));
    for (const record of await this.store.ragIndex.chunks(missing)) records.set(record.id, record);
    const maxScore = lists.length / (RRF_K + 1);
    const hits: SearchHit[] = fused.flatMap(({ id, score }) => {
      const record = records.get(id);
      if (!record) return [];
      const { terms: _terms, ...rest } = record;
      return [{ chunkId: record.id, ...rest, score: score / maxScore }];
    });

    const best = this.bestCoverage(analysed, hits.slice(0, RELEVANCE_DEPTH).map((h) => records.get(h.chunkId)!), stats);
    const threshold = options.strictness === 'lenient' ? this.minRelevance / 2 : this.minRelevance;
    return { hits, relevant: hits.length > 0 && best >= threshold, relevance: best };
  }

  /** The highest coverage of any query by any of the passages. */
  private bestCoverage(analysed: readonly QueryWord[][], passages: readonly RagChunkRecord[], stats: RagTermStats): number {
    const idf = (term: string) => smoothIdf(stats.chunkCount, stats.chunkFrequency.get(term) ?? 0);
    let best = 0;
    for (const passage of passages) {
      const terms = new Set(passage.terms);
      for (const words of analysed) best = Math.max(best, coverage(words, terms, idf));
    }
    return best;
  }

  private async denseLists(collectionId: string, queries: string[]): Promise<Ranked[][]> {
    const embedder = this.embedder!;
    const rows = await this.store.ragIndex.embeddings(collectionId, embedder.model);
    if (rows.length === 0) return [];
    const vectors = await embedder.embed(queries);
    return vectors.map((raw) => {
      const query = normalize(raw);
      return rows
        .map((row) => ({ id: row.id, similarity: dot(query, row.vector) }))
        .sort((a, b) => b.similarity - a.similarity)
        .slice(0, CANDIDATES_PER_LIST)
        .map(({ id }) => ({ id }));
    });
  }
}

/**
 * The terms worth a full-text lookup: those in at most a quarter of the collection's chunks. Commoner
 * terms add almost nothing to BM25 (their IDF is near zero) but make the engine score most of the
 * collection; they still count for `relevance`. The three rarest are kept whatever their frequency.
 */
function discriminating(terms: readonly string[], stats: RagTermStats): string[] {
  const limit = Math.max(MIN_COMMON_CHUNKS, stats.chunkCount * MAX_TERM_SHARE);
  const df = (term: string) => stats.chunkFrequency.get(term) ?? 0;
  const present = terms.filter((t) => df(t) > 0);
  const rare = present.filter((t) => df(t) <= limit);
  return rare.length >= KEEP_RAREST ? rare : [...present].sort((a, b) => df(a) - df(b)).slice(0, KEEP_RAREST);
}

function termsOf(words: readonly QueryWord[]): string[] {
  return [...new Set(words.flatMap((w) => [...w.terms, ...w.parts.flat()]))];
}

function normalize(vector: readonly number[]): Float32Array {
  const out = Float32Array.from(vector);
  let norm = 0;
  for (const v of out) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i]! /= norm;
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  const n = Math.min(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i]! * b[i]!;
  return sum;
}
