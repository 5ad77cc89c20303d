import pg from 'pg';
import { afterEach, beforeEach, describe } from 'vitest';
import type { DatabaseDialect } from '../../src/store/database.js';
import { openDatabase, type Store } from '../../src/store/store.js';
import { randomId } from '../../src/lib/ids.js';

/**
 * Database tests run on SQLite always and on PostgreSQL when FLEXI_TEST_POSTGRES_URL is set
 * (CI sets it). Every store these helpers open is fresh, migrated and empty: SQLite in memory,
 * PostgreSQL in a schema of its own (dropped on close), so test files may run in parallel
 * processes against one PostgreSQL database.
 */
export const postgresTestUrl: string | undefined = process.env.FLEXI_TEST_POSTGRES_URL || undefined;

/** The dialects this run tests: always sqlite, postgres when configured. */
export function testDialects(): DatabaseDialect[] {
  return postgresTestUrl ? ['sqlite', 'postgres'] : ['sqlite'];
}

async function withAdminClient(run: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: postgresTestUrl });
  await client.connect();
  try {
    await run(client);
  } finally {
    await client.end();
  }
}

/** The URL of a new empty PostgreSQL schema, and a function that drops it. */
export async function createPostgresTestSchema(): Promise<{ url: string; schema: string; drop: () => Promise<void> }> {
  if (!postgresTestUrl) throw new Error('FLEXI_TEST_POSTGRES_URL is not set');
  // The run id (global-setup.ts) lets a run drop exactly its own schemas when it ends.
  const schema = `flexi_test_${process.env.FLEXI_TEST_RUN ?? `p${process.pid}`}_${randomId(10).toLowerCase()}`;
  await withAdminClient((client) => client.query(`CREATE SCHEMA "${schema}"`).then(() => undefined));
  const url = new URL(postgresTestUrl);
  // libpq `options` reaches the server as a startup parameter: every pooled connection sees only this schema.
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    schema,
    // Dropped after the whole run (test/helpers/global-setup.ts): dropping here races with other
    // processes' migrations, whose catalog introspection reads every schema.
    drop: async () => {},
  };
}

/** The URL of a new PostgreSQL schema with every migration applied, as a replica's `database.url` (not opened). */
export async function createMigratedPostgresUrl(): Promise<string> {
  const { url } = await createPostgresTestSchema();
  const store = await openDatabase(url);
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
  return url;
}

/** A database URL for `dialect` plus its cleanup, without opening it. */
export async function createTestDatabaseUrl(dialect: DatabaseDialect): Promise<{ url: string; drop: () => Promise<void> }> {
  if (dialect === 'postgres') return createPostgresTestSchema();
  return { url: ':memory:', drop: async () => {} };
}

/** A fresh, migrated, empty store; its `close()` also removes the PostgreSQL schema. */
export async function openTestStore(dialect: DatabaseDialect, options: { migrate?: boolean } = {}): Promise<Store> {
  const { url, drop } = await createTestDatabaseUrl(dialect);
  let store: Store;
  try {
    store = await openDatabase(url);
    if (options.migrate !== false) await store.migrate();
  } catch (error) {
    await drop();
    throw error;
  }
  const close = store.close;
  return Object.assign(store, {
    close: async () => {
      await close();
      await drop();
    },
  });
}

/**
 * `describe(name [dialect], …)` once per tested dialect; `getStore()` returns a fresh migrated
 * store for the running test (opened in beforeEach, closed in afterEach).
 */
export function describeEachDatabase(
  name: string,
  body: (getStore: () => Store, dialect: DatabaseDialect) => void,
  options: { migrate?: boolean } = {},
): void {
  for (const dialect of testDialects()) {
    describe(`${name} [${dialect}]`, () => {
      let store: Store | undefined;
      beforeEach(async () => {
        store = await openTestStore(dialect, options);
      });
      afterEach(async () => {
        await store?.close();
        store = undefined;
      });
      body(() => {
        if (!store) throw new Error('getStore() is only available inside a test');
        return store;
      }, dialect);
    });
  }
}
