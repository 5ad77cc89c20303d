import type { Kysely, Migration } from 'kysely';
import { dialectOf } from '../database.js';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const chatsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // PostgreSQL `real` is 4 bytes (0.7 would read back as 0.699999988); SQLite REAL is 8.
    const float = dialectOf(db) === 'postgres' ? 'double precision' : 'real';
    // Web chats, kept apart from everything else so export, erase and retention can treat them
    // as one data class (user_id + created_at/updated_at on every row).
    await db.schema
      .createTable('chats')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('model', 'text')
      .addColumn('system_prompt', 'text')
      .addColumn('temperature', float)
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('chats_user_id_updated_at_idx').on('chats').columns(['user_id', 'updated_at']).execute();
    await db.schema.createIndex('chats_updated_at_idx').on('chats').column('updated_at').execute();

    await db.schema
      .createTable('chat_messages')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('chat_id', 'text', (c) => c.notNull().references('chats.id').onDelete('cascade'))
      // Denormalised owner: erase and export by user need no join, and every query can check it.
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('content', 'text', (c) => c.notNull())
      .addColumn('model', 'text')
      // Assistant turns: `stop`, `length`, `stopped` (the user pressed stop) or `error`.
      .addColumn('finish', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('chat_messages_chat_id_position_key', ['chat_id', 'position'])
      .execute();
    await db.schema.createIndex('chat_messages_user_id_idx').on('chat_messages').column('user_id').execute();
    await db.schema.createIndex('chat_messages_created_at_idx').on('chat_messages').column('created_at').execute();

    await db.schema
      .createTable('agreement_acceptances')
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('version', 'text', (c) => c.notNull())
      .addColumn('accepted_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('agreement_acceptances_pkey', ['user_id', 'version'])
      .execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    for (const table of ['agreement_acceptances', 'chat_messages', 'chats']) await db.schema.dropTable(table).execute();
  },
};
