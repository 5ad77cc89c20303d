import pg from 'pg';
import { randomId } from '../../src/lib/ids.js';

/**
 * PostgreSQL test schemas are dropped once, after every test file has finished, instead of by
 * each test: a DROP SCHEMA racing with another process's migration makes Kysely's catalog
 * introspection (which reads every schema) fail with "schema … does not exist".
 *
 * Each run names its schemas `flexi_test_<run>_…` (the run id reaches the test processes through
 * the environment) and drops only its own, so two runs sharing one database — two worktrees on a
 * developer machine — do not drop each other's schemas mid-test.
 */
const RUN_ENV = 'FLEXI_TEST_RUN';

export function setup(): void {
  process.env[RUN_ENV] ??= randomId(6).toLowerCase();
}

export async function teardown(): Promise<void> {
  const url = process.env.FLEXI_TEST_POSTGRES_URL;
  const run = process.env[RUN_ENV];
  if (!url || !run) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>('SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE $1', [`flexi\\_test\\_${run}\\_%`]);
    for (const { name } of rows) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  } finally {
    await client.end();
  }
}
