import type { Kysely, Migration } from 'kysely';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const leaderFencesMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // The fencing token of each leader lock held in PostgreSQL (`PostgresLeaderLock`): raised by
    // one every time a replica takes the lock, so a stale leader's work can be told apart.
    // Advisory locks carry no value of their own. Unused on SQLite (one process, local locks).
    await db.schema
      .createTable('leader_fences')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('token', 'bigint', (c) => c.notNull())
      .execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('leader_fences').execute();
  },
};
