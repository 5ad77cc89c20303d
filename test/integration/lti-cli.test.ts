import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Store } from '../../src/store/store.js';
import { builtCli, runBuiltCli } from '../helpers/built-cli.js';
import { startIdentityGateway, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ROLE, TestLtiPlatform } from '../helpers/lti-platform.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

let dir: string;
let configText: string;
let store: Store;
let gateway: IdentityGateway;
let platform: TestLtiPlatform;

async function flexi(...args: string[]) {
  return runBuiltCli([...args, '-c', join(dir, 'flexi.yaml')], { cwd: dir });
}

async function flexiJson<T>(...args: string[]): Promise<T> {
  const result = await flexi(...args, '--json');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

beforeAll(async () => {
  builtCli();
  dir = mkdtempSync(join(tmpdir(), 'flexi-lti-cli-'));
  // The CLI and the test's gateway share the SQLite file and the secret that encrypts tool keys.
  configText = `database:\n  url: ${join(dir, 'flexi.db')}\nauth:\n  cookie_secure: false\nlti:\n  allow_http: true\n  key_secret: test-lti-key-secret-0123456789\n  roster_sync_interval_ms: 0\n`;
  writeFileSync(join(dir, 'flexi.yaml'), configText);
  platform = new TestLtiPlatform();
  await platform.start();
  store = await openDatabase(join(dir, 'flexi.db'));
  await store.migrate();
  gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest'] })], { store, configText });
  platform.toolJwksUrl = `${gateway.url}/lti/jwks`;
}, 180_000);

afterAll(async () => {
  await gateway?.close();
  await store?.close();
  await platform?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('flexi lti (built CLI)', { timeout: 180_000 }, () => {
  it('adds, lists and removes platforms, and names the bad field of a wrong one', async () => {
    const added = await flexiJson<{ id: string; issuer: string; deployment_ids: string[] }>('lti', 'platforms', 'add',
      '--issuer', platform.issuer, '--client-id', platform.clientId, '--auth-url', platform.authUrl, '--jwks-url', platform.jwksUrl,
      '--token-url', platform.tokenUrl, '--deployment-id', '1', '--deployment-id', '2,3', '--name', 'Test Moodle');
    expect(added).toMatchObject({ issuer: platform.issuer, deployment_ids: ['1', '2', '3'] });
    const twice = await flexi('lti', 'platforms', 'add', '--issuer', platform.issuer, '--client-id', platform.clientId, '--auth-url', platform.authUrl,
      '--jwks-url', platform.jwksUrl, '--token-url', platform.tokenUrl, '--deployment-id', '1');
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toContain('registered already');
    const bad = await flexi('lti', 'platforms', 'add', '--issuer', 'https://m.example', '--client-id', 'c', '--auth-url', 'https://m.example/a',
      '--jwks-url', 'ftp://m.example/k', '--token-url', 'https://m.example/t', '--deployment-id', '1');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('jwks_url');
    const list = await flexiJson<{ id: string; name: string }[]>('lti', 'platforms', 'list');
    expect(list.map((p) => p.name)).toEqual(['Test Moodle']);
    const table = await flexi('lti', 'platforms', 'list');
    expect(table.stdout).toContain(platform.issuer);
  });

  it('rotates the tool key and keeps the old one published', async () => {
    const first = await flexiJson<{ kid: string; retired: number }>('lti', 'keys', 'rotate');
    const second = await flexiJson<{ kid: string; retired: number }>('lti', 'keys', 'rotate');
    expect(second.retired).toBe(1);
    const keys = await flexiJson<{ kid: string; active: boolean; expires_at: string | null }[]>('lti', 'keys', 'list');
    expect(keys.filter((k) => k.active).map((k) => k.kid)).toEqual([second.kid]);
    expect(keys.find((k) => k.kid === first.kid)?.expires_at).not.toBeNull();
    const jwks = await (await fetch(`${gateway.url}/lti/jwks`)).json() as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([first.kid, second.kid].sort());
  });

  it('syncs a course roster on demand, signing the token request with the current tool key', async () => {
    const launched = await platform.launchThrough(gateway.url, { person: { sub: 't-1', roles: [ROLE.instructor], name: 'Prof Tee' } });
    expect(launched.status).toBe(303);
    platform.roster = [
      { sub: 't-1', roles: [ROLE.instructor] },
      { sub: 's-1', roles: [ROLE.learner], email: 'ann@uni-example.de' },
      { sub: 's-2', roles: [ROLE.learner] },
    ];
    const [first] = await flexiJson<{ context_id: string; members: number; added: number; removed: number }[]>('lti', 'sync', 'Test Moodle');
    expect(first).toMatchObject({ context_id: platform.contextId, members: 3, added: 2, removed: 0 });
    platform.roster.pop();
    const [second] = await flexiJson<{ members: number; removed: number }[]>('lti', 'sync', 'Test Moodle', '--context', platform.contextId);
    expect(second).toMatchObject({ members: 2, removed: 1 });
    const unknown = await flexi('lti', 'sync', 'Test Moodle', '--context', 'nope');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('nope');
  });

  it('prints a dynamic registration link', async () => {
    const link = await flexiJson<{ url: string; expires_at: string }>('lti', 'register-url', '--tool-url', 'https://flexi.uni-example.de', '--valid-hours', '2');
    expect(link.url).toMatch(/^https:\/\/flexi\.uni-example\.de\/lti\/register\?token=/);
    const missing = await flexi('lti', 'register-url');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('--tool-url');
  });

  it('removes a platform', async () => {
    const removed = await flexiJson<{ removed: boolean; issuer: string }>('lti', 'platforms', 'rm', 'Test Moodle');
    expect(removed).toMatchObject({ removed: true, issuer: platform.issuer });
    expect(await flexiJson<unknown[]>('lti', 'platforms', 'list')).toEqual([]);
  });
});
