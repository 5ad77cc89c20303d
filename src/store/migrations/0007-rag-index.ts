import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../database.js';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const ragIndexMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    const postgres = dialectOf(db) === 'postgres';
    // The passages of course documents. `terms` is the language analysis done in JS (stems, compound
    // parts, codes), so SQLite FTS5 and PostgreSQL tsvector index the same words. No foreign key to
    // collections: the index is keyed by the ids its caller (services/courses) gives it.
    await db.schema
      .createTable('rag_chunks')
      .addColumn('seq', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
      .addColumn('id', 'text', (c) => c.notNull().unique())
      .addColumn('collection_id', 'text', (c) => c.notNull())
      .addColumn('document_id', 'text', (c) => c.notNull())
      .addColumn('ord', 'integer', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('section', 'text')
      .addColumn('page_start', 'integer')
      .addColumn('page_end', 'integer')
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('terms', 'text', (c) => c.notNull())
      .addColumn('term_count', 'integer', (c) => c.notNull())
      .addColumn('embedding', postgres ? sql`bytea` : 'blob')
      .addColumn('embedding_model', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('rag_chunks_document').on('rag_chunks').columns(['collection_id', 'document_id', 'ord']).execute();
    // Per collection: in how many chunks each term occurs. Gives IDF for the relevance decision and
    // BM25 on PostgreSQL, and the vocabulary that splits a query's compounds.
    await db.schema
      .createTable('rag_terms')
      .addColumn('collection_id', 'text', (c) => c.notNull())
      .addColumn('term', 'text', (c) => c.notNull())
      .addColumn('chunk_count', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('rag_terms_pkey', ['collection_id', 'term'])
      .execute();
    if (postgres) {
      // The tsvector is written from JS as `'term':1,7 …` (positions give the term frequency), not
      // parsed by a text search configuration, which would split `e_accessdenied` at the underscore.
      await sql`alter table rag_chunks add column tsv tsvector not null default ''::tsvector`.execute(db);
      await sql`create index rag_chunks_tsv on rag_chunks using gin (tsv)`.execute(db);
    } else {
      // unicode61 with `_` as a token character keeps every analysed term whole; the `scope` column
      // holds one token per collection, so a MATCH only walks that collection's rows.
      await sql`create virtual table rag_chunks_fts using fts5(terms, scope, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'")`.execute(db);
    }
  },

  async down(db: Kysely<any>): Promise<void> {
    if (dialectOf(db) !== 'postgres') await sql`drop table if exists rag_chunks_fts`.execute(db);
    await db.schema.dropTable('rag_terms').execute();
    await db.schema.dropTable('rag_chunks').execute();
  },
};
