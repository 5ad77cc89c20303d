import { sql, type Kysely, type Transaction } from 'kysely';
import { dialectOf, type Database } from './database.js';

/** One passage to store, with the analysed terms the service made of it. */
export interface RagChunkInput {
  id: string;
  ord: number;
  text: string;
  section?: string;
  pageStart?: number;
  pageEnd?: number;
  /** `de` or `en`. */
  language: string;
  /** Analysed terms in text order (repeats are term frequency). Letters, digits and `_` only. */
  terms: readonly string[];
  embedding?: Float32Array;
  embeddingModel?: string;
}

export interface RagChunkRecord {
  id: string;
  documentId: string;
  ord: number;
  text: string;
  section?: string;
  pageStart?: number;
  pageEnd?: number;
  /** The distinct analysed terms of the chunk. */
  terms: string[];
}

export interface RagLexicalHit extends RagChunkRecord {
  /** BM25 (higher is better). */
  score: number;
}

/** What IDF and BM25 need about one collection. */
export interface RagTermStats {
  chunkCount: number;
  averageTerms: number;
  /** Chunks of the collection that contain each asked term (absent: none). */
  chunkFrequency: Map<string, number>;
}

export interface RagEmbeddingRow { id: string; vector: Float32Array }

const INSERT_BATCH = 100;
/** Reserved `rag_terms` keys (analysed terms never contain `#`): the collection's chunk and term totals, for BM25 and IDF without a scan. */
const CHUNKS_KEY = '#chunks';
const TERMS_KEY = '#terms';
const TERM_BATCH = 400;
/** BM25 parameters, as SQLite FTS5's bm25() uses them. */
const BM25_K1 = 1.2;
const BM25_B = 0.75;
/** PostgreSQL keeps at most 256 positions per lexeme and positions up to 16383. */
const TSV_MAX_POSITIONS = 256;
const TSV_MAX_POSITION = 16_383;
/** PostgreSQL: candidates (by ts_rank) that BM25 re-scores; more than any course-sized collection matches. */
const PG_CANDIDATES = 2000;

type Db = Kysely<Database> | Transaction<Database>;

/** The one token of a collection in the FTS5 `scope` column. */
function scopeToken(collectionId: string): string {
  return `c${Buffer.from(collectionId, 'utf8').toString('hex')}`;
}

function quoteTerm(term: string): string {
  return `"${term.replace(/"/g, '""')}"`;
}

/** `'term':1,7 'other':2` — a tsvector literal whose positions give each term's frequency. */
export function toTsvectorLiteral(terms: readonly string[]): string {
  const positions = new Map<string, number[]>();
  terms.forEach((term, index) => {
    const list = positions.get(term) ?? [];
    if (list.length < TSV_MAX_POSITIONS) list.push(Math.min(index + 1, TSV_MAX_POSITION));
    positions.set(term, list);
  });
  return [...positions].map(([term, list]) => `'${term.replace(/\\/g, '\\\\').replace(/'/g, "''")}':${list.join(',')}`).join(' ');
}

function toBytes(vector: Float32Array): Uint8Array {
  return new Uint8Array(vector.buffer.slice(vector.byteOffset, vector.byteOffset + vector.byteLength));
}

function toVector(bytes: Uint8Array): Float32Array {
  // Copy: a Buffer from the driver may sit at an offset that is not a multiple of 4.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

function withTotals(counts: Map<string, number>, chunks: readonly { terms: readonly string[] }[]): Map<string, number> {
  counts.set(CHUNKS_KEY, chunks.length);
  counts.set(TERMS_KEY, chunks.reduce((sum, c) => sum + c.terms.length, 0));
  return counts;
}

function countTerms(chunks: readonly { terms: readonly string[] }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const chunk of chunks) for (const term of new Set(chunk.terms)) counts.set(term, (counts.get(term) ?? 0) + 1);
  return counts;
}

interface ChunkRow {
  id: string; document_id: string; ord: number; text: string; section: string | null;
  page_start: number | null; page_end: number | null; terms: string;
}

function toRecord(row: ChunkRow): RagChunkRecord {
  return {
    id: row.id, documentId: row.document_id, ord: Number(row.ord), text: row.text,
    ...(row.section !== null ? { section: row.section } : {}),
    ...(row.page_start !== null ? { pageStart: Number(row.page_start) } : {}),
    ...(row.page_end !== null ? { pageEnd: Number(row.page_end) } : {}),
    terms: [...new Set(row.terms.split(' ').filter((t) => t.length > 0))],
  };
}

/**
 * The retrieval index of course documents: chunks with their analysed terms in SQLite FTS5 or a
 * PostgreSQL tsvector, ranked by BM25 on both, per-collection term counts, optional dense vectors.
 */
export class RagIndexRepository {
  private readonly postgres: boolean;

  constructor(private readonly db: Kysely<Database>) {
    this.postgres = dialectOf(db) === 'postgres';
  }

  /** Replaces every chunk of a document with `chunks`, in one transaction. */
  async replaceDocument(collectionId: string, documentId: string, chunks: readonly RagChunkInput[], createdAt: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.deleteChunks(trx, collectionId, documentId);
      for (let i = 0; i < chunks.length; i += INSERT_BATCH) {
        await this.insertChunks(trx, collectionId, documentId, chunks.slice(i, i + INSERT_BATCH), createdAt);
      }
      await this.addTermCounts(trx, collectionId, withTotals(countTerms(chunks), chunks), 1);
    });
  }

  /** Removes a document's chunks; returns how many. */
  async removeDocument(collectionId: string, documentId: string): Promise<number> {
    return this.db.transaction().execute((trx) => this.deleteChunks(trx, collectionId, documentId));
  }

  /** Removes every chunk and term count of a collection; returns how many chunks. */
  async removeCollection(collectionId: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      if (!this.postgres) {
        await sql`delete from rag_chunks_fts where rowid in (select seq from rag_chunks where collection_id = ${collectionId})`.execute(trx);
      }
      const result = await trx.deleteFrom('rag_chunks').where('collection_id', '=', collectionId).executeTakeFirst();
      await trx.deleteFrom('rag_terms').where('collection_id', '=', collectionId).execute();
      return Number(result.numDeletedRows);
    });
  }

  private async deleteChunks(trx: Db, collectionId: string, documentId: string): Promise<number> {
    const old = await trx.selectFrom('rag_chunks').select(['seq', 'terms'])
      .where('collection_id', '=', collectionId).where('document_id', '=', documentId).execute();
    if (old.length === 0) return 0;
    if (!this.postgres) {
      await sql`delete from rag_chunks_fts where rowid in (select seq from rag_chunks where collection_id = ${collectionId} and document_id = ${documentId})`.execute(trx);
    }
    await trx.deleteFrom('rag_chunks').where('collection_id', '=', collectionId).where('document_id', '=', documentId).execute();
    const oldChunks = old.map((row) => ({ terms: row.terms.split(' ').filter((t) => t.length > 0) }));
    await this.addTermCounts(trx, collectionId, withTotals(countTerms(oldChunks), oldChunks), -1);
    return old.length;
  }

  private async insertChunks(trx: Db, collectionId: string, documentId: string, chunks: readonly RagChunkInput[], createdAt: string): Promise<void> {
    if (chunks.length === 0) return;
    const rows = chunks.map((chunk) => ({
      id: chunk.id,
      collection_id: collectionId,
      document_id: documentId,
      ord: chunk.ord,
      text: chunk.text,
      section: chunk.section ?? null,
      page_start: chunk.pageStart ?? null,
      page_end: chunk.pageEnd ?? null,
      language: chunk.language,
      terms: chunk.terms.join(' '),
      term_count: chunk.terms.length,
      embedding: chunk.embedding ? toBytes(chunk.embedding) : null,
      embedding_model: chunk.embedding ? (chunk.embeddingModel ?? null) : null,
      created_at: createdAt,
      ...(this.postgres ? { tsv: sql<string>`${toTsvectorLiteral(chunk.terms)}::tsvector` } : {}),
    }));
    const inserted = await trx.insertInto('rag_chunks').values(rows).returning(['seq', 'terms']).execute();
    if (this.postgres) return;
    const scope = scopeToken(collectionId);
    const values = inserted.map((row) => sql`(${row.seq}, ${row.terms}, ${scope})`);
    await sql`insert into rag_chunks_fts (rowid, terms, scope) values ${sql.join(values)}`.execute(trx);
  }

  private async addTermCounts(trx: Db, collectionId: string, counts: Map<string, number>, sign: 1 | -1): Promise<void> {
    const entries = [...counts];
    for (let i = 0; i < entries.length; i += TERM_BATCH) {
      const rows = entries.slice(i, i + TERM_BATCH).map(([term, count]) => ({ collection_id: collectionId, term, chunk_count: sign * count }));
      await trx.insertInto('rag_terms').values(rows)
        .onConflict((oc) => oc.columns(['collection_id', 'term']).doUpdateSet({ chunk_count: sql<number>`rag_terms.chunk_count + excluded.chunk_count` }))
        .execute();
    }
    if (sign < 0) await trx.deleteFrom('rag_terms').where('collection_id', '=', collectionId).where('chunk_count', '<=', 0).execute();
  }

  /** Chunk count, average length and the chunk frequency of `terms` in a collection (from `rag_terms`: no scan). */
  async termStats(collectionId: string, terms: readonly string[]): Promise<RagTermStats> {
    const chunkFrequency = new Map<string, number>();
    const distinct = [...new Set([...terms, CHUNKS_KEY, TERMS_KEY])];
    for (let i = 0; i < distinct.length; i += TERM_BATCH) {
      const rows = await this.db.selectFrom('rag_terms').select(['term', 'chunk_count'])
        .where('collection_id', '=', collectionId).where('term', 'in', distinct.slice(i, i + TERM_BATCH)).execute();
      for (const row of rows) chunkFrequency.set(row.term, Number(row.chunk_count));
    }
    const chunkCount = chunkFrequency.get(CHUNKS_KEY) ?? 0;
    const totalTerms = chunkFrequency.get(TERMS_KEY) ?? 0;
    chunkFrequency.delete(CHUNKS_KEY);
    chunkFrequency.delete(TERMS_KEY);
    return { chunkCount, averageTerms: chunkCount > 0 ? totalTerms / chunkCount : 0, chunkFrequency };
  }

  /** Which of `terms` occur in the collection. */
  async knownTerms(collectionId: string, terms: readonly string[]): Promise<Set<string>> {
    return new Set((await this.termStats(collectionId, terms)).chunkFrequency.keys());
  }

  /**
   * The chunks of a collection that contain any of `terms`, best BM25 first. SQLite ranks with
   * FTS5's bm25() (its IDF counts the whole index); PostgreSQL computes the same formula from the
   * tsvector's positions with IDF from `stats` (this collection).
   */
  async searchTerms(collectionId: string, terms: readonly string[], limit: number, stats: RagTermStats): Promise<RagLexicalHit[]> {
    const distinct = [...new Set(terms)].filter((t) => /^[\p{L}\p{N}_]+$/u.test(t));
    if (distinct.length === 0 || limit <= 0) return [];
    if (this.postgres) return this.searchPostgres(collectionId, distinct, limit, stats);
    const match = `scope : ${quoteTerm(scopeToken(collectionId))} AND terms : (${distinct.map(quoteTerm).join(' OR ')})`;
    // Rank inside the FTS table first and join only the winners: joining every match to its chunk row
    // before the sort costs a row read per match.
    const { rows } = await sql<ChunkRow & { score: number }>`
      select c.id, c.document_id, c.ord, c.text, c.section, c.page_start, c.page_end, c.terms, -best.rank as score
      from (
        select rowid, bm25(rag_chunks_fts, 1.0, 0.0) as rank from rag_chunks_fts
        where rag_chunks_fts match ${match} order by rank, rowid limit ${limit}
      ) as best join rag_chunks c on c.seq = best.rowid
      order by best.rank, c.seq`.execute(this.db);
    return rows.map((row) => ({ ...toRecord(row), score: Number(row.score) }));
  }

  private async searchPostgres(collectionId: string, terms: readonly string[], limit: number, stats: RagTermStats): Promise<RagLexicalHit[]> {
    const n = stats.chunkCount;
    const idfs = terms.map((term) => {
      const df = stats.chunkFrequency.get(term) ?? 0;
      return Math.max(1e-6, Math.log((n - df + 0.5) / (df + 0.5)));
    });
    const query = terms.map((t) => `'${t}'`).join(' | ');
    const averageTerms = Math.max(1, stats.averageTerms);
    const { rows } = await sql<ChunkRow & { score: number }>`
      with q as (select * from unnest(${terms}::text[], ${idfs}::float8[]) as q(term, idf)),
      cand as (
        select seq, id, document_id, ord, text, section, page_start, page_end, terms, term_count, tsv
        from rag_chunks where collection_id = ${collectionId} and tsv @@ ${query}::tsquery
        -- BM25 below reads each candidate's tsvector; in a large collection first keep the best
        -- candidates by ts_rank (no positions read twice), so a common term cannot make it read all.
        order by ts_rank(tsv, ${query}::tsquery) desc, seq
        limit ${PG_CANDIDATES}
      )
      select cand.id, cand.document_id, cand.ord, cand.text, cand.section, cand.page_start, cand.page_end, cand.terms,
             sum(q.idf * (u.tf * ${BM25_K1 + 1}::float8) / (u.tf + ${BM25_K1}::float8 * (${1 - BM25_B}::float8 + ${BM25_B}::float8 * cand.term_count / ${averageTerms}::float8))) as score
      from cand
      cross join lateral (select t.lexeme, coalesce(array_length(t.positions, 1), 1) as tf from unnest(cand.tsv) as t) as u
      join q on q.term = u.lexeme
      group by cand.seq, cand.id, cand.document_id, cand.ord, cand.text, cand.section, cand.page_start, cand.page_end, cand.terms
      order by score desc, cand.seq
      limit ${limit}`.execute(this.db);
    return rows.map((row) => ({ ...toRecord(row), score: Number(row.score) }));
  }

  /** The dense vectors of a collection made by `model` (exact search happens in the service). */
  async embeddings(collectionId: string, model: string): Promise<RagEmbeddingRow[]> {
    const rows = await this.db.selectFrom('rag_chunks').select(['id', 'embedding'])
      .where('collection_id', '=', collectionId).where('embedding_model', '=', model).where('embedding', 'is not', null).execute();
    return rows.map((row) => ({ id: row.id, vector: toVector(row.embedding!) }));
  }

  /** Chunks by id (any order). */
  async chunks(ids: readonly string[]): Promise<RagChunkRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.selectFrom('rag_chunks')
      .select(['id', 'document_id', 'ord', 'text', 'section', 'page_start', 'page_end', 'terms'])
      .where('id', 'in', [...ids]).execute();
    return rows.map(toRecord);
  }

  /** Chunks in a collection (all documents). */
  async countChunks(collectionId: string): Promise<number> {
    const row = await this.db.selectFrom('rag_chunks').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('collection_id', '=', collectionId).executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}
