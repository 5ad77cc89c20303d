import type { Kysely, Migration } from 'kysely';
import { dialectOf } from '../database.js';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const identityMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    const postgres = dialectOf(db) === 'postgres';
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      // Lower-cased on the way in, so the unique index is case-insensitive on both dialects.
      .addColumn('email', 'text', (c) => c.notNull().unique())
      .addColumn('display_name', 'text')
      .addColumn('password_hash', 'text')
      .addColumn('roles', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('last_login_at', 'text')
      .addColumn('disabled_at', 'text')
      .execute();

    await db.schema
      .createTable('identities')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      // `oidc` (single sign-on) today; `lti:<issuer>` for LTI 1.3 launches later.
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('email', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_login_at', 'text')
      .addUniqueConstraint('identities_provider_subject_key', ['provider', 'subject'])
      .execute();
    await db.schema.createIndex('identities_user_id_idx').on('identities').column('user_id').execute();

    await db.schema
      .createTable('groups')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('group_members')
      .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('group_members_pkey', ['group_id', 'user_id'])
      .execute();
    await db.schema.createIndex('group_members_user_id_idx').on('group_members').column('user_id').execute();

    await db.schema
      .createTable('sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      // SHA-256 of the cookie value: a copy of the database cannot be replayed as sessions.
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('csrf_token', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('sessions_user_id_idx').on('sessions').column('user_id').execute();

    await db.schema
      .createTable('audit_log')
      .addColumn('id', postgres ? 'bigint' : 'integer', (c) =>
        postgres ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target_type', 'text')
      .addColumn('target_id', 'text')
      .addColumn('details', 'text')
      .execute();
    await db.schema.createIndex('audit_log_created_at_idx').on('audit_log').column('created_at').execute();

    // Budgets are seeded from usage records: sum of tokens of one subject since a period start.
    await db.schema.createIndex('usage_records_subject_created_at_idx').on('usage_records').columns(['subject', 'created_at']).execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex('usage_records_subject_created_at_idx').execute();
    for (const table of ['audit_log', 'sessions', 'group_members', 'groups', 'identities', 'users']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
