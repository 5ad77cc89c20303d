import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/*
 * Every role × endpoint × model class. The expectations are written out here by hand (not
 * derived from the policy code), so a wrong glob or combination rule fails this test.
 */

const CONFIG = `
roles:
  admin:      { models: ['*'], admin: true, api_keys: true }
  staff:      { models: ['small-*', 'mid-*', 'embed-*'] }
  researcher: { models: ['*'], api_keys: true, max_tokens_per_request: 64 }
  student:    { models: ['small-*', 'mid-*'], endpoints: ['/v1/chat/completions', '/v1/completions', '/api/chat', '/api/generate'], max_tokens_per_request: 16 }
  guest:      { models: ['small-*'], endpoints: ['/v1/chat/completions', '/api/chat'] }
`;

const MODELS = { small: 'small-1b', mid: 'mid-8b', large: 'large-70b', embedding: 'embed-e5' } as const;
type ModelClass = keyof typeof MODELS;
type Role = 'admin' | 'staff' | 'researcher' | 'student' | 'guest';
const ROLES: Role[] = ['admin', 'staff', 'researcher', 'student', 'guest'];

const ALLOWED_MODELS: Record<Role, ModelClass[]> = {
  admin: ['small', 'mid', 'large', 'embedding'],
  staff: ['small', 'mid', 'embedding'],
  researcher: ['small', 'mid', 'large', 'embedding'],
  student: ['small', 'mid'],
  guest: ['small'],
};

const INFERENCE = {
  '/v1/chat/completions': (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
  '/v1/completions': (model: string) => ({ model, prompt: 'hi', max_tokens: 2 }),
  '/v1/embeddings': (model: string) => ({ model, input: 'hi' }),
  '/api/chat': (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }], stream: false, options: { num_predict: 2 } }),
  '/api/generate': (model: string) => ({ model, prompt: 'hi', stream: false, options: { num_predict: 2 } }),
  '/api/embed': (model: string) => ({ model, input: 'hi' }),
} as const;
type Endpoint = keyof typeof INFERENCE;
const ENDPOINTS = Object.keys(INFERENCE) as Endpoint[];

const ALLOWED_ENDPOINTS: Record<Role, Endpoint[]> = {
  admin: ENDPOINTS,
  staff: ENDPOINTS,
  researcher: ENDPOINTS,
  student: ['/v1/chat/completions', '/v1/completions', '/api/chat', '/api/generate'],
  guest: ['/v1/chat/completions', '/api/chat'],
};

let store: Store;
let gateway: IdentityGateway;
const keys = {} as Record<Role, string>;

beforeAll(async () => {
  store = await openTestStore('sqlite');
  const backend = new ScriptedBackend({ models: Object.values(MODELS).map((m) => `${m}:latest`), words: ['a', 'b', 'c'] });
  gateway = await startIdentityGateway([backend], { store, configText: CONFIG, listen: false });
  for (const role of ROLES) keys[role] = (await userWithKey(gateway.identity, `${role}@uni.example`, [role])).key;
});
afterAll(async () => {
  await gateway.close();
  await store.close();
});

function inject(method: 'GET' | 'POST', url: string, key: string, payload?: unknown) {
  return gateway.app.server.inject({ method, url, headers: { ...bearer(key), 'content-type': 'application/json' }, payload: payload as object });
}

describe('authorization matrix', () => {
  for (const role of ROLES) {
    it(`${role}: every inference endpoint × model class gives 200 or 403 permission_denied as the policy says`, async () => {
      const outcomes: string[] = [];
      const expected: string[] = [];
      for (const endpoint of ENDPOINTS) {
        for (const [modelClass, model] of Object.entries(MODELS) as [ModelClass, string][]) {
          const response = await inject('POST', endpoint, keys[role], INFERENCE[endpoint](model));
          const allowed = ALLOWED_ENDPOINTS[role].includes(endpoint) && ALLOWED_MODELS[role].includes(modelClass);
          expected.push(`${endpoint} ${modelClass} ${allowed ? 200 : 403}`);
          const code = response.statusCode === 403 ? (endpoint.startsWith('/v1') ? response.json().error.code : 'ollama') : '';
          outcomes.push(`${endpoint} ${modelClass} ${response.statusCode}`);
          if (response.statusCode === 403 && endpoint.startsWith('/v1')) expect(code).toBe('permission_denied');
        }
      }
      expect(outcomes).toEqual(expected);
    });

    it(`${role}: /v1/models, /api/tags and /v1/models/{id} show exactly the allowed models`, async () => {
      const visible = ALLOWED_MODELS[role].map((c) => MODELS[c]).sort();
      const openai = (await inject('GET', '/v1/models', keys[role])).json() as { data: { id: string }[] };
      expect(openai.data.map((m) => m.id).sort()).toEqual(visible);
      const ollama = (await inject('GET', '/api/tags', keys[role])).json() as { models: { name: string }[] };
      expect(ollama.models.map((m) => m.name.replace(/:latest$/, '')).sort()).toEqual(visible);
      for (const [modelClass, model] of Object.entries(MODELS) as [ModelClass, string][]) {
        const one = await inject('GET', `/v1/models/${model}`, keys[role]);
        expect(one.statusCode).toBe(ALLOWED_MODELS[role].includes(modelClass) ? 200 : 404);
        const show = await inject('POST', '/api/show', keys[role], { model });
        expect(show.statusCode).toBe(ALLOWED_MODELS[role].includes(modelClass) ? 200 : 404);
      }
    });

    it(`${role}: the admin API is ${role === 'admin' ? 'open' : 'closed (403)'}`, async () => {
      for (const url of ['/admin/v1/users', '/admin/v1/roles', '/admin/v1/groups', '/admin/v1/keys', '/admin/v1/usage', '/admin/v1/audit']) {
        const response = await inject('GET', url, keys[role]);
        expect({ url, status: response.statusCode }).toEqual({ url, status: role === 'admin' ? 200 : 403 });
      }
    });
  }

  it('caps max_tokens per role: over the cap is a 400 naming max_tokens, no value means the cap', async () => {
    const over = await inject('POST', '/v1/chat/completions', keys.student, { model: MODELS.small, messages: [{ role: 'user', content: 'hi' }], max_tokens: 17 });
    expect(over.statusCode).toBe(400);
    expect(over.json().error).toMatchObject({ param: 'max_tokens' });
    const backend = gateway.app.registry.backends[0] as ScriptedBackend;
    const seenBefore = backend.seen.length;
    const none = await inject('POST', '/v1/chat/completions', keys.student, { model: MODELS.small, messages: [{ role: 'user', content: 'hi' }] });
    expect(none.statusCode).toBe(200);
    expect((backend.seen[seenBefore] as { options: { maxTokens?: number } }).options.maxTokens).toBe(16);
  });

  it('combines roles: the union of models and endpoints', async () => {
    const { key } = await userWithKey(gateway.identity, 'both@uni.example', ['guest', 'staff']);
    expect((await inject('POST', '/v1/embeddings', key, { model: MODELS.embedding, input: 'x' })).statusCode).toBe(200);
    expect((await inject('POST', '/v1/chat/completions', key, INFERENCE['/v1/chat/completions'](MODELS.large))).statusCode).toBe(403);
  });

  it('narrows a key by its scopes, within the user\'s policy', async () => {
    const { key } = await userWithKey(gateway.identity, 'scoped@uni.example', ['researcher'], ['model:small-*', 'endpoint:/v1/*']);
    expect((await inject('POST', '/v1/chat/completions', key, INFERENCE['/v1/chat/completions'](MODELS.small))).statusCode).toBe(200);
    expect((await inject('POST', '/v1/chat/completions', key, INFERENCE['/v1/chat/completions'](MODELS.large))).statusCode).toBe(403);
    expect((await inject('POST', '/api/chat', key, INFERENCE['/api/chat'](MODELS.small))).statusCode).toBe(403);
    const models = (await inject('GET', '/v1/models', key)).json() as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([MODELS.small]);
  });

  it('refuses unknown, revoked and expired keys and keys of disabled users with 401', async () => {
    expect((await inject('GET', '/v1/models', 'flx-' + 'x'.repeat(40))).statusCode).toBe(401);
    const { user, key, keyId } = await userWithKey(gateway.identity, 'gone@uni.example', ['student']);
    expect((await inject('GET', '/v1/models', key)).statusCode).toBe(200);
    await gateway.identity.admin.setDisabled('test', user.id, true);
    expect((await inject('GET', '/v1/models', key)).json().error.code).toBe('invalid_api_key');
    await gateway.identity.admin.setDisabled('test', user.id, false);
    await gateway.identity.admin.revokeKey('test', keyId, { byIdOnly: true });
    expect((await inject('GET', '/v1/models', key)).statusCode).toBe(401);
    const expiring = await gateway.identity.admin.createKey('test', { user: user.id, name: 'short', expiresAt: new Date(Date.now() + 1000) });
    await store.db.updateTable('api_keys').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', expiring.record.id).execute();
    expect((await inject('GET', '/v1/models', expiring.key)).statusCode).toBe(401);
  });
});
