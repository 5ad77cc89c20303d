import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/*
 * A model's residency on a node is shared by every user: one student's keep_alive must not unload
 * it for everyone (0) or pin it for ever (-1), and num_ctx must not make a node reload or fail.
 * (Found by the security re-review of issue 12.)
 */

let store: Store;
let gateway: IdentityGateway;
const backend = new ScriptedBackend({ models: ['tiny:latest'] });

beforeAll(async () => {
  store = await openTestStore('sqlite');
  gateway = await startIdentityGateway([backend], { store, listen: false });
});
afterAll(async () => {
  await gateway.close();
  await store.close();
});

function post(url: string, key: string, body: unknown) {
  return gateway.app.server.inject({ method: 'POST', url, headers: { ...bearer(key), 'content-type': 'application/json' }, payload: JSON.stringify(body) });
}

describe('shared model residency', () => {
  it('refuses a student\'s unload (keep_alive 0) with 403 naming keep_alive; an admin may unload', async () => {
    const student = await userWithKey(gateway.identity, 'unloader@uni.example', ['student']);
    const refused = await post('/api/generate', student.key, { model: 'tiny', prompt: '', keep_alive: 0 });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toContain('keep_alive');
    expect(backend.residency).toEqual([]);
    const admin = await userWithKey(gateway.identity, 'unload-admin@uni.example', ['admin']);
    expect((await post('/api/generate', admin.key, { model: 'tiny', prompt: '', keep_alive: 0 })).statusCode).toBe(200);
    expect(backend.residency.at(-1)).toEqual({ model: 'tiny:latest', keepAliveSeconds: 0 });
  });

  it('does not let a student pin a model for ever or unload it through a chat; an hour at most', async () => {
    const student = await userWithKey(gateway.identity, 'pinner@uni.example', ['student']);
    const hi = [{ role: 'user', content: 'hi' }];
    for (const [keepAlive, sent] of [[-1, undefined], [0, undefined], ['24h', 3600], ['10m', 600]] as const) {
      expect((await post('/api/chat', student.key, { model: 'tiny', messages: hi, keep_alive: keepAlive, stream: false })).statusCode).toBe(200);
      expect(backend.seen.at(-1)!.keepAliveSeconds, String(keepAlive)).toBe(sent);
    }
    expect((await post('/api/generate', student.key, { model: 'tiny', prompt: '', keep_alive: -1 })).statusCode).toBe(200);
    expect(backend.residency.at(-1)).toEqual({ model: 'tiny:latest', keepAliveSeconds: 300 });
  });

  it('refuses an absurd num_ctx with 400 naming options.num_ctx before it reaches the node', async () => {
    const student = await userWithKey(gateway.identity, 'bigctx@uni.example', ['student']);
    const before = backend.seen.length;
    const refused = await post('/api/chat', student.key, { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], options: { num_ctx: 100_000_000 } });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toContain('num_ctx');
    expect(backend.seen.length).toBe(before);
  });
});
