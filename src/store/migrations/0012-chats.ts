import type { Kysely, Migration } from 'kysely';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const chatsCompleteMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // Images a user attached to a turn, as a JSON array of data: URLs (or one encrypted value):
    // on the message row, so retention, export and erasure treat them with their chat.
    await db.schema.alterTable('chat_messages').addColumn('images', 'text').execute();

    // Chats encrypted at rest (privacy.encrypt_chats): each user's data key, wrapped by a key
    // derived from their password and, if they saved one, by their recovery key. Neither wrapping
    // key is stored anywhere, so the database alone opens no chat.
    await db.schema
      .createTable('chat_keys')
      .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('password_wrapped', 'text')
      .addColumn('recovery_wrapped', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    // The data key while a session lasts, wrapped by a key derived from the session's cookie
    // value (stored only as a hash): a copy of the database cannot unwrap it.
    await db.schema.alterTable('sessions').addColumn('chat_key', 'text').execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('sessions').dropColumn('chat_key').execute();
    await db.schema.dropTable('chat_keys').execute();
    await db.schema.alterTable('chat_messages').dropColumn('images').execute();
  },
};
