import type { Kysely, Migration } from 'kysely';
import { dialectOf } from '../database.js';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const initialMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('prefix', 'text', (c) => c.notNull())
      .addColumn('key_hash', 'text', (c) => c.notNull().unique())
      // users arrive in a later migration, which adds the foreign key.
      .addColumn('user_id', 'text')
      .addColumn('role', 'text')
      .addColumn('scopes', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('api_keys_name_idx').on('api_keys').column('name').execute();
    await db.schema.createIndex('api_keys_prefix_idx').on('api_keys').column('prefix').execute();
    await db.schema.createIndex('api_keys_user_id_idx').on('api_keys').column('user_id').execute();

    const postgres = dialectOf(db) === 'postgres';
    await db.schema
      .createTable('usage_records')
      // SQLite: an INTEGER PRIMARY KEY is the rowid, the cheapest auto-increment there is.
      .addColumn('id', postgres ? 'bigint' : 'integer', (c) =>
        postgres ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('api_key_id', 'text')
      .addColumn('subject', 'text')
      .addColumn('endpoint', 'text', (c) => c.notNull())
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('node', 'text')
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('error_code', 'text')
      .addColumn('prompt_tokens', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('completion_tokens', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('ttft_ms', 'integer')
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('queue_ms', 'integer')
      .execute();
    await db.schema.createIndex('usage_records_created_at_idx').on('usage_records').column('created_at').execute();
    await db.schema.createIndex('usage_records_model_idx').on('usage_records').column('model').execute();
    await db.schema.createIndex('usage_records_api_key_id_idx').on('usage_records').column('api_key_id').execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('usage_records').execute();
    await db.schema.dropTable('api_keys').execute();
  },
};
