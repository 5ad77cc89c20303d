import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMigratedPostgresUrl as migratedPostgresUrl, postgresTestUrl } from '../../test/helpers/db.js';
import { randomId } from '../lib/ids.js';
import { LeaderElection } from '../services/leader-election.js';
import { advisoryLockKey, PostgresLeaderLock } from './postgres-leader-lock.js';

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresTestUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Sessions PostgreSQL still has for an application name. */
const sessionsOf = (applicationName: string) => admin(async (client) =>
  (await client.query('select pid from pg_stat_activity where application_name = $1', [applicationName])).rowCount ?? 0);

describe('advisoryLockKey', () => {
  it('is stable per schema and name, and differs between schemas and between names', () => {
    expect(advisoryLockKey('public', 'retention')).toBe(advisoryLockKey('public', 'retention'));
    expect(advisoryLockKey('public', 'retention')).not.toBe(advisoryLockKey('flexi', 'retention'));
    expect(advisoryLockKey('public', 'retention')).not.toBe(advisoryLockKey('public', 'discovery'));
    expect(typeof advisoryLockKey('public', 'x')).toBe('bigint');
  });
});

describe.skipIf(!postgresTestUrl)('PostgresLeaderLock', () => {
  const opened: PostgresLeaderLock[] = [];
  const open = (url: string, applicationName = `flexi-test-${randomId(8)}`) => {
    const lock = new PostgresLeaderLock(url, { applicationName });
    opened.push(lock);
    return lock;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((lock) => lock.close()));
  });

  it('lets one replica lead; the other takes over once the leader\'s session is gone, with a larger token', async () => {
    const url = await migratedPostgresUrl();
    const nameA = `flexi-test-a-${randomId(8)}`;
    const a = open(url, nameA);
    const b = open(url);
    const first = await a.acquire('retention', 'replica-a', 10_000);
    expect(first).toBeGreaterThan(0);
    expect(await b.acquire('retention', 'replica-b', 10_000)).toBeUndefined();
    // Renewing checks the session still holds it and keeps the token.
    expect(await a.acquire('retention', 'replica-a', 10_000)).toBe(first);

    // The leader's connection is destroyed (terminated server-side, waiting until it is gone).
    await admin((client) => client.query('select pg_terminate_backend(pid, 10000) from pg_stat_activity where application_name = $1', [nameA]));
    const second = await b.acquire('retention', 'replica-b', 10_000);
    expect(second).toBeGreaterThan(first!);

    // The old leader notices on its next attempt (the first may fail on the dead session), opens a
    // new session and finds the lock taken.
    await a.acquire('retention', 'replica-a', 10_000).catch(() => undefined);
    expect(await a.acquire('retention', 'replica-a', 10_000)).toBeUndefined();
    await b.release('retention', 'replica-b');
    expect(await a.acquire('retention', 'replica-a', 10_000)).toBeGreaterThan(second!);
  });

  it('hands the lock over when the leading process is killed (SIGKILL: its kernel closes the socket)', async () => {
    const url = await migratedPostgresUrl();
    const childName = `flexi-test-child-${randomId(8)}`;
    const script = [
      "import { PostgresLeaderLock } from './src/store/postgres-leader-lock.ts';",
      `const lock = new PostgresLeaderLock(process.env.LOCK_URL, { applicationName: '${childName}' });`,
      "console.log(String(await lock.acquire('discovery', 'doomed', 10000)));",
      'setInterval(() => {}, 60000);',
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, LOCK_URL: url }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const childToken = Number(line);
      expect(childToken).toBeGreaterThan(0);
      const b = open(url);
      expect(await b.acquire('discovery', 'survivor', 10_000)).toBeUndefined();

      child.kill('SIGKILL');
      await exited;
      // PostgreSQL ends the session when it reads the closed socket; then the lock is free.
      await vi.waitFor(async () => expect(await sessionsOf(childName)).toBe(0), { timeout: 60_000, interval: 20 });
      expect(await b.acquire('discovery', 'survivor', 10_000)).toBeGreaterThan(childToken);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('ends its session on close, which frees every lock it held', async () => {
    const url = await migratedPostgresUrl();
    const a = open(url);
    const b = open(url);
    expect(await a.acquire('retention', 'a', 10_000)).toBeGreaterThan(0);
    expect(await a.acquire('roster-sync', 'a', 10_000)).toBeGreaterThan(0);
    await a.close();
    expect(await b.acquire('retention', 'b', 10_000)).toBeGreaterThan(0);
    expect(await b.acquire('roster-sync', 'b', 10_000)).toBeGreaterThan(0);
    await expect(a.acquire('retention', 'a', 10_000)).rejects.toThrow(/closed/);
  });

  it('keeps locks of different schemas apart (two deployments in one database)', async () => {
    const a = open(await migratedPostgresUrl());
    const b = open(await migratedPostgresUrl());
    expect(await a.acquire('retention', 'a', 10_000)).toBe(1);
    expect(await b.acquire('retention', 'b', 10_000)).toBe(1);
  });

  it('drives LeaderElection: the follower leads at its next attempt after the leader stops', async () => {
    const url = await migratedPostgresUrl();
    const changes: string[] = [];
    const election = (owner: string) => new LeaderElection({
      lock: open(url), name: 'discovery', owner, ttlMs: 10_000, onChange: (leader) => changes.push(`${owner}:${leader}`),
    });
    const a = election('a');
    const b = election('b');
    await a.tryLead();
    await b.tryLead();
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    const first = a.fencingToken!;
    await a.stop();
    await b.tryLead();
    expect(b.isLeader).toBe(true);
    expect(b.fencingToken).toBeGreaterThan(first);
    // `stop` gives the lock up without a change notice (the process is shutting down).
    expect(changes).toEqual(['a:true', 'b:true']);
    await b.stop();
  });
});
