import { sql, type Kysely } from 'kysely';
import { dialectOf, type Database } from './database.js';

/**
 * How the rows of a table belong to one user, as the privacy registry declares it
 * (src/services/privacy/data-classes.ts). The repository turns these into SQL, so adding a
 * table with personal data is one registry entry, not new queries.
 */
export type PersonalLink =
  /** `column` holds the user id (`users.id`, `sessions.user_id`). */
  | { kind: 'column'; column: string }
  /** `column` references `parent.id`, whose `parentColumn` holds the user id (`chat_messages.chat_id` → `chats.user_id`). */
  | { kind: 'parent'; column: string; parent: string; parentColumn: string }
  /** `usage_records.subject` holds the user's pseudonym. */
  | { kind: 'subject' }
  /** `audit_log`: the actor, target or details mention the user. */
  | { kind: 'audit' };

/** A table with personal data: what the repository needs to export, erase and age it. */
export interface PersonalTable {
  table: string;
  link: PersonalLink;
  /** Columns never exported (password and token hashes). */
  hidden?: readonly string[];
  /** Columns holding JSON text, parsed in exports. */
  json?: readonly string[];
  /**
   * Candidates for the column whose (ISO text) time decides retention; the first one the
   * table has is used, so a table may name `updated_at` and fall back to `created_at`.
   */
  agedBy?: readonly string[];
}

/** Who a table's rows belong to, resolved for one user. */
export interface PersonalOwner {
  userId: string;
  /** `usage_records.subject` of the user. */
  pseudonym: string;
}

export type Row = Record<string, unknown>;

// Table and column names come from the registry in code, never from input; still, refuse anything odd.
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
function checked(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  return name;
}

/**
 * Registry-driven access to personal data: read a user's rows, delete them, count and delete
 * rows past a cut-off, and read the catalog (so tests and checks see tables nobody registered).
 */
export class PersonalDataRepository {
  // Table names are data here, so the typed schema cannot help; every name passes `checked`.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly db: Kysely<any>;

  constructor(db: Kysely<Database>) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    this.db = db as unknown as Kysely<any>;
  }

  /** Runs `work` in one transaction; the repository it gets writes inside it. */
  async transaction<T>(work: (repository: PersonalDataRepository) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(new PersonalDataRepository(trx as unknown as Kysely<Database>)));
  }

  /**
   * Removes what deleted rows leave behind on disk, after an erasure (outside any transaction).
   * SQLite deletes with `secure_delete` on (zeroed in the new page versions); the checkpoint copies
   * them into the file and truncates the WAL, which still holds the old page versions. PostgreSQL
   * has no such pragma: `VACUUM` frees the dead rows' space for reuse, `VACUUM FULL` rewrites
   * the tables without them.
   */
  async reclaimDeleted(tables: readonly string[], mode: 'plain' | 'full'): Promise<void> {
    if (dialectOf(this.db) === 'postgres') {
      if (tables.length === 0) return;
      const list = sql.join(tables.map((table) => sql.id(checked(table))));
      if (mode === 'full') await sql`vacuum full ${list}`.execute(this.db);
      else await sql`vacuum ${list}`.execute(this.db);
      return;
    }
    await sql`pragma wal_checkpoint(truncate)`.execute(this.db);
  }

  /** Every table of the current database (SQLite file or PostgreSQL schema), from the catalog. */
  async listTables(): Promise<string[]> {
    if (dialectOf(this.db) === 'postgres') {
      const { rows } = await sql<{ name: string }>`select table_name as name from information_schema.tables
        where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(this.db);
      return rows.map((r) => r.name);
    }
    const { rows } = await sql<{ name: string }>`select name from sqlite_master
      where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name`.execute(this.db);
    return rows.map((r) => r.name);
  }

  async listColumns(table: string): Promise<string[]> {
    if (dialectOf(this.db) === 'postgres') {
      const { rows } = await sql<{ name: string }>`select column_name as name from information_schema.columns
        where table_schema = current_schema() and table_name = ${table} order by ordinal_position`.execute(this.db);
      return rows.map((r) => r.name);
    }
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(this.db);
    return rows.map((r) => r.name);
  }

  /** Every row of a table, as stored (tests scan these; not for production paths). */
  async dumpTable(table: string): Promise<Row[]> {
    return (await this.db.selectFrom(checked(table)).selectAll().execute()) as Row[];
  }

  /** The user's rows of `spec.table`, without its hidden columns and with JSON columns parsed. */
  async rowsOf(spec: PersonalTable, owner: PersonalOwner): Promise<Row[]> {
    let query = this.db.selectFrom(checked(spec.table)).selectAll(spec.table);
    query = this.whereOwned(query, spec, owner);
    const rows = (await query.execute()) as Row[];
    return rows.map((row) => {
      const out: Row = {};
      for (const [key, value] of Object.entries(row)) {
        if (spec.hidden?.includes(key)) continue;
        out[key] = spec.json?.includes(key) && typeof value === 'string' ? parseJson(value) : value;
      }
      return out;
    });
  }

  /** Values of `column` in the user's rows (ids to scrub from the audit log, key ids to unlink). */
  async valuesOf(spec: PersonalTable, owner: PersonalOwner, column: string): Promise<string[]> {
    const query = this.whereOwned(this.db.selectFrom(checked(spec.table)).select(`${spec.table}.${checked(column)} as value`), spec, owner);
    const rows = (await query.execute()) as { value: unknown }[];
    return rows.map((r) => r.value).filter((v): v is string => typeof v === 'string' && v !== '');
  }

  /** Deletes the user's rows of a table linked by column or parent; returns how many. */
  async deleteOwned(spec: PersonalTable, owner: PersonalOwner): Promise<number> {
    const result = await this.whereOwned(this.db.deleteFrom(checked(spec.table)), spec, owner).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Clears the column that links the user's rows of a table to them (`link.kind` column only); returns how many. */
  async unlinkOwned(spec: PersonalTable, owner: PersonalOwner): Promise<number> {
    if (spec.link.kind !== 'column') throw new Error(`unlink needs a column link: ${spec.table}`);
    const column = checked(spec.link.column);
    const result = await this.db.updateTable(checked(spec.table)).set({ [column]: null }).where(column, '=', owner.userId).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Gives the usage rows of `from` the subject `to` and drops their link to the given API keys. */
  async rekeyUsage(from: string, to: string, apiKeyIds: readonly string[]): Promise<number> {
    const result = await this.db.updateTable('usage_records').set({ subject: to }).where('subject', '=', from).executeTakeFirst();
    if (apiKeyIds.length > 0) {
      await this.db.updateTable('usage_records').set({ api_key_id: null }).where('api_key_id', 'in', [...apiKeyIds]).execute();
    }
    return Number(result.numUpdatedRows);
  }

  /** Distinct user pseudonyms (`u:…`) in usage records. */
  async usageSubjects(): Promise<string[]> {
    const rows = await this.db.selectFrom('usage_records').select('subject').distinct().where('subject', 'like', 'u:%').execute();
    return rows.map((r) => r.subject as string);
  }

  /** Audit rows whose actor is one of `actors`, whose target is one of `ids`, or whose details contain a needle. */
  async auditRowsMentioning(actors: readonly string[], ids: readonly string[], needles: readonly string[]): Promise<Row[]> {
    if (actors.length + ids.length + needles.length === 0) return [];
    const rows = await this.db.selectFrom('audit_log').selectAll().where((eb) => eb.or([
      ...(actors.length > 0 ? [eb('actor', 'in', [...actors])] : []),
      ...(ids.length > 0 ? [eb('target_id', 'in', [...ids])] : []),
      ...needles.map((n) => eb('details', 'like', `%${escapeLike(n)}%`)),
    ])).execute();
    return rows as Row[];
  }

  async updateAuditRow(id: number, values: { actor: string; target_type: string | null; target_id: string | null; details: string | null }): Promise<void> {
    await this.db.updateTable('audit_log').set(values).where('id', '=', id).execute();
  }

  /** Rows of `table` whose `column` is before `cutoff`; with `dryRun` only counted. */
  async deleteBefore(table: string, column: string, cutoff: string, dryRun: boolean): Promise<number> {
    if (dryRun) {
      const row = await this.db.selectFrom(checked(table)).select((eb) => eb.fn.countAll<number>().as('n')).where(checked(column), '<', cutoff).executeTakeFirst();
      return Number(row?.n ?? 0);
    }
    const result = await this.db.deleteFrom(checked(table)).where(checked(column), '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Rows of `child` whose parent (`child.column` → `parent.id`) has `parentColumn` before `cutoff`. */
  async deleteChildrenBefore(child: string, column: string, parent: string, parentColumn: string, cutoff: string, dryRun: boolean): Promise<number> {
    const parents = this.db.selectFrom(checked(parent)).select('id').where(checked(parentColumn), '<', cutoff);
    if (dryRun) {
      const row = await this.db.selectFrom(checked(child)).select((eb) => eb.fn.countAll<number>().as('n')).where(checked(column), 'in', parents).executeTakeFirst();
      return Number(row?.n ?? 0);
    }
    const result = await this.db.deleteFrom(checked(child)).where(checked(column), 'in', parents).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Users with no sign-in, no account change and no API-key use since `cutoff`. Roles come
   * back so the caller can keep admin accounts.
   */
  async inactiveUsers(cutoff: string): Promise<{ id: string; roles: string[] }[]> {
    const rows = await this.db.selectFrom('users').select(['id', 'roles'])
      .where((eb) => eb.and([
        eb('updated_at', '<', cutoff),
        eb.or([eb('last_login_at', 'is', null), eb('last_login_at', '<', cutoff)]),
        eb.not(eb.exists(eb.selectFrom('api_keys').select('api_keys.id')
          .whereRef('api_keys.user_id', '=', 'users.id').where('api_keys.last_used_at', '>=', cutoff))),
      ])).execute();
    return rows.map((r) => ({ id: r.id as string, roles: parseJson(r.roles as string) as string[] }));
  }

  // The query builders differ per statement kind; the filter is the same.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private whereOwned<Q extends { where: (...args: any[]) => any }>(query: Q, spec: PersonalTable, owner: PersonalOwner): Q {
    const { link } = spec;
    const table = checked(spec.table);
    switch (link.kind) {
      case 'column':
        return query.where(`${table}.${checked(link.column)}`, '=', owner.userId) as Q;
      case 'parent':
        return query.where(`${table}.${checked(link.column)}`, 'in',
          this.db.selectFrom(checked(link.parent)).select('id').where(checked(link.parentColumn), '=', owner.userId)) as Q;
      case 'subject':
        return query.where(`${table}.subject`, '=', owner.pseudonym) as Q;
      case 'audit': {
        const actor = `user:${owner.userId}`;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        return query.where((eb: any) => eb.or([
          eb(`${table}.actor`, '=', actor), eb(`${table}.target_id`, '=', owner.userId), eb(`${table}.details`, 'like', `%${escapeLike(owner.userId)}%`),
        ])) as Q;
      }
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * For LIKE: `%` and `_` inside the value become `_` (any one character), which works the same
 * on both dialects without an ESCAPE clause. The match is wider, never narrower; callers that
 * change rows check the values exactly.
 */
function escapeLike(value: string): string {
  return value.replace(/[%_]/g, '_');
}
