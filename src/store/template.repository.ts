import type { Kysely } from 'kysely';
import type { TemplateDefinition, TemplateRecord, TemplateVersionRecord } from '../core/templates.js';
import { randomId } from '../lib/ids.js';
import type { Database, TemplatesTable } from './database.js';

function toRecord(row: TemplatesTable): TemplateRecord {
  return {
    id: row.id, name: row.name, groupId: row.group_id, version: Number(row.version),
    definition: JSON.parse(row.definition) as TemplateDefinition, createdAt: row.created_at, updatedAt: row.updated_at,
  };
}

/** Prompt templates and their version history. */
export class TemplateRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Version 1 of a new template; its name must be free (the caller checks, the unique index decides). */
  async create(input: { name: string; groupId: string | null; definition: TemplateDefinition; now: string }): Promise<TemplateRecord> {
    const row: TemplatesTable = {
      id: randomId(16), name: input.name, group_id: input.groupId, version: 1,
      definition: JSON.stringify(input.definition), created_at: input.now, updated_at: input.now,
    };
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('templates').values(row).execute();
      await trx.insertInto('template_versions')
        .values({ template_id: row.id, version: 1, definition: row.definition, created_at: input.now })
        .execute();
    });
    return toRecord(row);
  }

  async findByName(name: string): Promise<TemplateRecord | undefined> {
    const row = await this.db.selectFrom('templates').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toRecord(row);
  }

  /** All templates, or those of the given owners (`null` in `groupIds`: the global ones), by name. */
  async list(filter: { groupIds?: readonly (string | null)[] } = {}): Promise<TemplateRecord[]> {
    let query = this.db.selectFrom('templates').selectAll().orderBy('name');
    if (filter.groupIds) {
      const ids = filter.groupIds.filter((id): id is string => id !== null);
      const global = filter.groupIds.includes(null);
      if (ids.length === 0 && !global) return [];
      query = query.where((eb) => eb.or([
        ...(ids.length > 0 ? [eb('group_id', 'in', ids)] : []),
        ...(global ? [eb('group_id', 'is', null)] : []),
      ]));
    }
    return (await query.execute()).map(toRecord);
  }

  /**
   * Saves `definition` as the next version, if the template is still at `expectedVersion` (two
   * editors: the second gets undefined instead of silently overwriting the first).
   */
  async update(id: string, input: { expectedVersion: number; definition: TemplateDefinition; now: string }): Promise<TemplateRecord | undefined> {
    const definition = JSON.stringify(input.definition);
    const version = input.expectedVersion + 1;
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.updateTable('templates')
        .set({ version, definition, updated_at: input.now })
        .where('id', '=', id).where('version', '=', input.expectedVersion)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
      await trx.insertInto('template_versions')
        .values({ template_id: id, version, definition, created_at: input.now })
        .execute();
      const row = await trx.selectFrom('templates').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return toRecord(row);
    });
  }

  /** True when it existed; its versions go with it. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('template_versions').where('template_id', '=', id).execute();
      const result = await trx.deleteFrom('templates').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /** Every version, newest first. */
  async versions(id: string): Promise<TemplateVersionRecord[]> {
    const rows = await this.db.selectFrom('template_versions').selectAll().where('template_id', '=', id).orderBy('version', 'desc').execute();
    return rows.map((row) => ({
      version: Number(row.version), definition: JSON.parse(row.definition) as TemplateDefinition, createdAt: row.created_at,
    }));
  }
}
