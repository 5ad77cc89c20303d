import type { Kysely, Migration } from 'kysely';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const usageGroupMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // The group (course) a request was made for: a course bot's question, a Moodle key acting for
    // a course. Null for everything else; reports then fall back to the user's memberships.
    await db.schema.alterTable('usage_records').addColumn('group_id', 'text').execute();
    await db.schema.createIndex('usage_records_group_id_idx').on('usage_records').column('group_id').execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex('usage_records_group_id_idx').execute();
    await db.schema.alterTable('usage_records').dropColumn('group_id').execute();
  },
};
