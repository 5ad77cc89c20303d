import { Migrator, sql, type DatabaseIntrospector, type Kysely, type Migration, type MigrationProvider, type MigrationResult } from 'kysely';
import { dialectOf } from './database.js';
import { initialMigration } from './migrations/0001-initial.js';
import { identityMigration } from './migrations/0002-identity.js';
import { chatsMigration } from './migrations/0003-chats.js';
import { nodeModelsMigration } from './migrations/0004-node-models.js';
import { usageGroupMigration } from './migrations/0005-usage-group.js';
import { collectionsMigration } from './migrations/0006-collections.js';
import { ragIndexMigration } from './migrations/0007-rag-index.js';
import { templatesMigration } from './migrations/0008-templates.js';
import { ltiMigration } from './migrations/0009-lti.js';
import { energyMigration } from './migrations/0010-energy.js';
import { chatsCompleteMigration } from './migrations/0012-chats.js';
import { leaderFencesMigration } from './migrations/0013-leader-fences.js';

/**
 * Every migration, in order. Listed in code rather than scanned from a folder so the same
 * list runs from src/ (tsx, tests) and dist/ (built package). Names never change once released.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-initial': initialMigration,
  '0002-identity': identityMigration,
  '0003-chats': chatsMigration,
  '0004-node-models': nodeModelsMigration,
  '0005-usage-group': usageGroupMigration,
  '0006-collections': collectionsMigration,
  '0007-rag-index': ragIndexMigration,
  '0008-templates': templatesMigration,
  '0009-lti': ltiMigration,
  '0010-energy': energyMigration,
  '0012-chats': chatsCompleteMigration,
  '0013-leader-fences': leaderFencesMigration,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...MIGRATIONS }),
};

/** Applies every pending migration; returns the names it applied (empty when up to date). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one; name the
  // current one so several Flexi schemas can share one PostgreSQL database.
  const migrationTableSchema = dialectOf(db) === 'postgres'
    ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
    : undefined;
  // Unordered: migrations are numbered when a change is planned and may land out of order (parallel work);
  // each still runs once, and all of them only add.
  const migrator = new Migrator({
    db: migrationTableSchema ? withSchemaIntrospection(db, migrationTableSchema) : db,
    provider: migrationProvider, migrationTableSchema, allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r: MigrationResult) => r.status === 'Error')?.migrationName;
    const which = failed ? `migration ${failed}` : 'migration';
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Database ${which} failed: ${reason}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * `db` whose table lookup reads only `schema`. Kysely's migrator asks whether its bookkeeping
 * tables exist by introspecting every table of every schema, column types and serial sequences
 * included; a schema that another process drops meanwhile (a parallel test run, another
 * deployment in the same database) fails that read with "schema … does not exist". Here it is
 * one catalog join on OIDs for our schema alone, which nothing else can break.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
function withSchemaIntrospection(db: Kysely<any>, schema: string): Kysely<any> {
  const introspection: DatabaseIntrospector = {
    getSchemas: () => db.introspection.getSchemas(),
    getTables: async () => {
      const { rows } = await sql<{ name: string; kind: string }>`
        select c.relname as name, c.relkind as kind from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${schema} and c.relkind in ('r', 'p', 'v', 'm')`.execute(db);
      return rows.map((row) => ({ name: row.name, schema, isView: row.kind === 'v' || row.kind === 'm', columns: [] }));
    },
    getMetadata: async () => ({ tables: await introspection.getTables() }),
  };
  // Kysely keeps its state in private fields: every other member is the real instance's, bound to it.
  return new Proxy(db, {
    get(target, property) {
      if (property === 'introspection') return introspection;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
