/**
 * LTI 1.3 benchmark: how long the tool's part of a launch takes, and a roster sync.
 *
 *   npm run bench:lti
 *   npm run bench:lti -- --launches 200 --concurrency 8 --roster 500
 *
 * The gateway runs in this process on SQLite (a file in a temporary folder, as deployed) with the
 * test platform of the test suite (test/helpers/lti-platform.ts) on loopback. "login" is
 * /lti/login (state, nonce, redirect); "launch" is /lti/launch (every id_token check against the
 * cached platform key set, user + group + membership, session); the platform's own work (signing
 * the id_token) is outside both. The first launch per user creates the account; later ones find it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import { openDatabase } from '../src/store/store.js';
import { ROLE, TestLtiPlatform } from '../test/helpers/lti-platform.js';
import { ScriptedBackend } from '../test/helpers/scripted-backend.js';
import { latencyStats } from './lib/load.js';

const { values: args } = parseArgs({
  options: {
    launches: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '4' },
    roster: { type: 'string', default: '500' },
  },
});
const LAUNCHES = Number(args.launches);
const CONCURRENCY = Number(args.concurrency);
const ROSTER = Number(args.roster);

const dir = mkdtempSync(join(tmpdir(), 'flexi-bench-lti-'));
const store = await openDatabase(join(dir, 'flexi.db'));
await store.migrate();
const platform = new TestLtiPlatform();
await platform.start();
const app = await createApp({
  config: loadConfig({ fileText: 'lti:\n  allow_http: true\n  roster_sync_interval_ms: 0\n' }),
  backends: [new ScriptedBackend({ models: ['tiny:latest'] })], store,
});
await app.server.listen({ host: '127.0.0.1', port: 0 });
const url = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
platform.toolJwksUrl = `${url}/lti/jwks`;
await app.lti.platforms.add('bench', { name: 'Bench Moodle', ...platform.registration() });

const login: number[] = [];
const launch: number[] = [];
let failures = 0;

async function one(i: number, users: number): Promise<void> {
  const sub = `u-${i % users}`;
  const loginUrl = new URL(`${url}/lti/login`);
  for (const [k, v] of Object.entries({ iss: platform.issuer, login_hint: sub, target_link_uri: `${url}/lti/launch`, client_id: platform.clientId })) loginUrl.searchParams.set(k, v);
  let t0 = performance.now();
  const started = await fetch(loginUrl, { redirect: 'manual' });
  login.push(performance.now() - t0);
  const location = new URL(started.headers.get('location')!);
  const cookie = started.headers.getSetCookie().map((l) => l.split(';')[0]).join('; ');
  const idToken = await platform.idToken(location.searchParams.get('nonce')!, { person: { sub, roles: [ROLE.learner], name: `User ${sub}` } });
  t0 = performance.now();
  const response = await fetch(`${url}/lti/launch`, {
    method: 'POST', redirect: 'manual', headers: { cookie }, body: new URLSearchParams({ id_token: idToken, state: location.searchParams.get('state')! }),
  });
  launch.push(performance.now() - t0);
  if (response.status !== 303) failures += 1;
  await response.arrayBuffer();
}

async function run(label: string, users: number): Promise<string[]> {
  login.length = 0;
  launch.length = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < LAUNCHES) await one(next++, users);
  }));
  const seconds = (performance.now() - t0) / 1000;
  const l = latencyStats(login);
  const s = latencyStats(launch);
  return [label, String(LAUNCHES), String(CONCURRENCY), l.p50Ms.toFixed(1), l.p99Ms.toFixed(1), s.p50Ms.toFixed(1), s.p99Ms.toFixed(1), (LAUNCHES / seconds).toFixed(0)];
}

const rows = [await run('new users (account + membership created)', LAUNCHES), await run('returning users', LAUNCHES)];

platform.roster = Array.from({ length: ROSTER }, (_, i) => ({ sub: `r-${i}`, roles: [i === 0 ? ROLE.instructor : ROLE.learner], name: `Member ${i}` }));
const [row] = await app.lti.platforms.list();
let t0 = performance.now();
const [first] = await app.lti.roster.syncPlatform(row!, 'bench');
const firstMs = performance.now() - t0;
t0 = performance.now();
await app.lti.roster.syncPlatform(row!, 'bench');
const againMs = performance.now() - t0;

const table = (header: string[], body: string[][]) => {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
};
console.log(table(['launches', 'n', 'concurrency', 'login p50 ms', 'login p99 ms', 'launch p50 ms', 'launch p99 ms', 'launches/s'], rows));
console.log(`failed launches: ${failures}; platform key set fetched ${platform.jwksFetches} time(s)\n`);
console.log(table(['roster sync', 'members', 'pages', 'added', 'ms'], [
  ['first (accounts created)', String(first!.members), String(Math.ceil(ROSTER / 2)), String(first!.added), firstMs.toFixed(0)],
  ['again (nothing changed)', String(first!.members), String(Math.ceil(ROSTER / 2)), '0', againMs.toFixed(0)],
]));

await app.close();
await platform.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
