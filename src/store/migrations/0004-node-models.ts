import type { Kysely, Migration } from 'kysely';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const nodeModelsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // The models each configured node listed when it last answered, so that after a restart
    // with the node down a request for one of them is told the node is unreachable instead of
    // that the model does not exist. Keyed by names from the config, not by id: nodes live in
    // flexi.yaml, not in the database.
    await db.schema
      .createTable('node_models')
      .addColumn('node_name', 'text', (c) => c.notNull())
      .addColumn('model_name', 'text', (c) => c.notNull())
      .addColumn('last_seen_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('node_models_pkey', ['node_name', 'model_name'])
      .execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('node_models').execute();
  },
};
