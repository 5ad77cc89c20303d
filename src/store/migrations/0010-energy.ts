import type { Kysely, Migration } from 'kysely';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const energyMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // GPU energy attributed to the request; null where its node reports no telemetry.
    await db.schema.alterTable('usage_records').addColumn('energy_wh', 'double precision').execute();
    // Each node's measured GPU energy, a row per minute or less (one per flush), with the part no request
    // ran in. Keyed by node names from the config, like node_models; no personal data.
    await db.schema
      .createTable('node_energy')
      .addColumn('node', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text', (c) => c.notNull())
      .addColumn('energy_joules', 'double precision', (c) => c.notNull())
      .addColumn('idle_joules', 'double precision', (c) => c.notNull())
      .addColumn('gpus', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('node_energy_started_at_idx').on('node_energy').column('started_at').execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('node_energy').execute();
    await db.schema.alterTable('usage_records').dropColumn('energy_wh').execute();
  },
};
