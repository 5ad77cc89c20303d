import type { Kysely, Migration } from 'kysely';
import { dialectOf } from '../database.js';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const collectionsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    const bytes = dialectOf(db) === 'postgres' ? 'bytea' : 'blob';
    // A course bot: the material of one group (course), its instructions and model. Deleting the
    // group deletes its collections (and through them their documents).
    await db.schema
      .createTable('collections')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
      .addColumn('description', 'text')
      .addColumn('instructions', 'text')
      .addColumn('chat_model', 'text')
      // `strict` (refuse when nothing relevant was found) or `lenient`.
      .addColumn('strictness', 'text', (c) => c.notNull())
      .addColumn('refusal_text', 'text')
      .addColumn('top_k', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('collections_group_id_idx').on('collections').column('group_id').execute();

    // The documents of a collection, with the original file (in the database, not on a disk: every
    // gateway replica and the ingestion worker see it, erasure and retention are one DELETE, and no
    // file name ever becomes a path). They belong to the course: the uploader is only noted, and
    // erasing that user clears `uploaded_by` instead of deleting the course's material.
    await db.schema
      .createTable('collection_documents')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('collection_id', 'text', (c) => c.notNull().references('collections.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('content_hash', 'text', (c) => c.notNull())
      .addColumn('content_type', 'text', (c) => c.notNull())
      .addColumn('bytes', 'integer', (c) => c.notNull())
      .addColumn('content', bytes, (c) => c.notNull())
      // queued → processing → ready | failed
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('format', 'text')
      .addColumn('pages', 'integer')
      .addColumn('chunks', 'integer')
      .addColumn('progress_done', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('progress_total', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('uploaded_by', 'text', (c) => c.references('users.id').onDelete('set null'))
      // The worker run that holds it (random per claim) and its last sign of life: a claim whose
      // `claimed_at` is older than `courses.stale_after_ms` belongs to a dead process and is taken over.
      .addColumn('claim_token', 'text')
      .addColumn('claimed_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('collection_documents_collection_id_name_key', ['collection_id', 'name'])
      .execute();
    await db.schema.createIndex('collection_documents_status_idx').on('collection_documents').column('status').execute();
    await db.schema.createIndex('collection_documents_uploaded_by_idx').on('collection_documents').column('uploaded_by').execute();
    await db.schema.createIndex('collection_documents_updated_at_idx').on('collection_documents').column('updated_at').execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    for (const table of ['collection_documents', 'collections']) await db.schema.dropTable(table).execute();
  },
};
