import type { Kysely, Migration } from 'kysely';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const templatesMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // Prompt templates, served as the virtual models `template:<name>`. The current version's
    // definition lives on the row; every version (the current one too) in template_versions.
    await db.schema
      .createTable('templates')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      // Null: a global template; otherwise the group (course) that owns it.
      .addColumn('group_id', 'text', (c) => c.references('groups.id').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      // JSON: the definition (description, model, texts, parameters, sampling) of `version`.
      .addColumn('definition', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('templates_group_id_idx').on('templates').column('group_id').execute();

    await db.schema
      .createTable('template_versions')
      .addColumn('template_id', 'text', (c) => c.notNull().references('templates.id').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('definition', 'text', (c) => c.notNull())
      // Who saved a version is in the audit log (template.create / template.update), which erasure
      // scrubs; kept out of here so that this table holds no personal data.
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('template_versions_pkey', ['template_id', 'version'])
      .execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('template_versions').execute();
    await db.schema.dropIndex('templates_group_id_idx').execute();
    await db.schema.dropTable('templates').execute();
  },
};
