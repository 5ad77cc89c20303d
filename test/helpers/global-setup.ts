import pg from 'pg';

/**
 * PostgreSQL test schemas are dropped once, after every test file has finished, instead of by
 * each test: a DROP SCHEMA racing with another process's migration makes Kysely's catalog
 * introspection (which reads every schema) fail with "schema … does not exist".
 */
export async function teardown(): Promise<void> {
  const url = process.env.FLEXI_TEST_POSTGRES_URL;
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>("SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'flexi\\_test\\_%'");
    for (const { name } of rows) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  } finally {
    await client.end();
  }
}
