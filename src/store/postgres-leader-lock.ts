import { createHash } from 'node:crypto';
import pg from 'pg';
import type { LeaderLock } from './leader-lock.js';

export interface PostgresLeaderLockOptions {
  /** Shown in `pg_stat_activity.application_name`, so operators (and tests) can find the lock's session. */
  applicationName?: string;
  /** A query that takes longer counts as a lost connection (default 5 s): the lock's session is dropped and opened again. */
  queryTimeoutMs?: number;
  /**
   * Server-side TCP keepalive of the lock's session (default 10 s idle, then 3 probes 5 s apart):
   * how soon PostgreSQL notices a replica whose host died or lost the network, and frees its
   * locks. A killed process needs none of it: its kernel closes the socket at once.
   */
  keepalive?: { idleS: number; intervalS: number; count: number };
}

interface Held {
  owner: string;
  token: number;
}

const DEFAULT_KEEPALIVE = { idleS: 10, intervalS: 5, count: 3 };

/**
 * The advisory lock key of a job: a stable 64-bit hash of the schema and the name, so Flexi
 * deployments in different schemas of one database (and parallel test runs) never share a lock.
 */
export function advisoryLockKey(schema: string, name: string): bigint {
  const digest = createHash('sha256').update(`flexi-leader\0${schema}\0${name}`).digest();
  return digest.readBigInt64BE(0);
}

// A session-level advisory lock is held by `(key >> 32, key & 0xffffffff)` with objsubid 1.
const HOLDS = `select exists (
  select 1 from pg_locks
  where locktype = 'advisory' and pid = pg_backend_pid() and granted and objsubid = 1
    and classid::bigint = ($1::bigint >> 32) & 4294967295 and objid::bigint = $1::bigint & 4294967295
) as holds`;

const NEXT_TOKEN = `insert into leader_fences (name, token) values ($1, 1)
  on conflict (name) do update set token = leader_fences.token + 1
  returning token`;

/**
 * Leader locks for replicas that share PostgreSQL but no Redis: session-level advisory locks
 * (`pg_try_advisory_lock`) on one connection of their own. A lock lives exactly as long as that
 * connection, so it needs no TTL: a replica killed with SIGKILL hands over as soon as PostgreSQL
 * sees its socket close, and one that lost its host or network once the keepalive gives up (see
 * `keepalive`). `ttlMs` is ignored here; `LeaderElection` still uses it for its own renewals and
 * for how long it trusts a renewal. Fencing tokens come from `leader_fences` (migration 0013),
 * raised in the same session right after the lock is taken.
 *
 * Advisory locks count per session: taking one twice needs two unlocks. So operations run one
 * at a time (a queue) and a lock this session holds is only checked in `pg_locks`, never taken
 * again. One session serves every owner in the process; the owner is checked here.
 */
export class PostgresLeaderLock implements LeaderLock {
  private client: pg.Client | undefined;
  private connecting: Promise<{ client: pg.Client; schema: string }> | undefined;
  private schema = '';
  private readonly held = new Map<string, Held>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly url: string, private readonly options: PostgresLeaderLockOptions = {}) {}

  acquire(name: string, owner: string, _ttlMs: number): Promise<number | undefined> {
    return this.serial(async () => {
      const held = this.held.get(name);
      if (held && held.owner !== owner) return undefined;
      const { client, schema } = await this.connection();
      const key = advisoryLockKey(schema, name).toString();
      if (held) {
        const { rows } = await this.query<{ holds: boolean }>(client, HOLDS, [key]);
        if (rows[0]?.holds) return held.token;
        // Lost without losing the connection (an operator's pg_advisory_unlock_all): take it anew.
        this.held.delete(name);
      }
      const { rows } = await this.query<{ locked: boolean }>(client, 'select pg_try_advisory_lock($1::bigint) as locked', [key]);
      if (!rows[0]?.locked) return undefined;
      try {
        const fence = await this.query<{ token: string | number }>(client, NEXT_TOKEN, [name]);
        const token = Number(fence.rows[0]!.token);
        this.held.set(name, { owner, token });
        return token;
      } catch (error) {
        // Without a token the lock is no use to anyone: give it back (if the session still lives).
        await client.query('select pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
        throw error;
      }
    });
  }

  release(name: string, owner: string): Promise<void> {
    return this.serial(async () => {
      if (this.held.get(name)?.owner !== owner) return;
      this.held.delete(name);
      // A lost connection already released it.
      if (!this.client) return;
      await this.query(this.client, 'select pg_advisory_unlock($1::bigint)', [advisoryLockKey(this.schema, name).toString()]);
    });
  }

  /** Ends the session: PostgreSQL frees every lock it held. */
  close(): Promise<void> {
    this.closed = true;
    return this.serial(async () => {
      const client = this.client;
      this.drop();
      await client?.end().catch(() => undefined);
    });
  }

  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.queue.then(operation, operation);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The lock's session, opened on first use and again after it was lost. */
  private async connection(): Promise<{ client: pg.Client; schema: string }> {
    if (this.closed) throw new Error('the leader lock is closed');
    if (this.client) return { client: this.client, schema: this.schema };
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<{ client: pg.Client; schema: string }> {
    const keepalive = this.options.keepalive ?? DEFAULT_KEEPALIVE;
    const client = new pg.Client({
      connectionString: this.url,
      application_name: this.options.applicationName ?? 'flexi leader lock',
      keepAlive: true,
      keepAliveInitialDelayMillis: keepalive.idleS * 1000,
      connectionTimeoutMillis: this.options.queryTimeoutMs ?? 5000,
      query_timeout: this.options.queryTimeoutMs ?? 5000,
    });
    // A session that dies takes its locks with it: forget them, and open a new one on the next call.
    const lost = () => {
      if (this.client === client) this.drop();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      // The server's side of the keepalive: an idle session holding a lock would otherwise keep
      // it for the OS default (two hours) after its replica's host vanished.
      await client.query(`set tcp_keepalives_idle = ${Math.round(keepalive.idleS)}; set tcp_keepalives_interval = ${Math.round(keepalive.intervalS)}; set tcp_keepalives_count = ${Math.round(keepalive.count)}`);
      const { rows } = await client.query<{ schema: string }>('select current_schema() as schema');
      this.schema = rows[0]?.schema ?? '';
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
    return { client, schema: this.schema };
  }

  /** A query (limited by `query_timeout`); one that fails drops the session, and the locks with it. */
  private async query<R extends pg.QueryResultRow>(client: pg.Client, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await client.query<R>(text, values);
    } catch (error) {
      // The session's state is unknown now (a lock may or may not be held): end it, so that
      // PostgreSQL frees whatever it holds, and start clean.
      if (this.client === client) {
        this.drop();
        client.end().catch(() => undefined);
      }
      throw error;
    }
  }

  private drop(): void {
    this.client = undefined;
    this.held.clear();
  }
}
