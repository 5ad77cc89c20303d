/**
 * Moodle's AI subsystem, unchanged: each provider's exact requests (test/fixtures/moodle/, written
 * down from the provider sources) replayed against a gateway, checking every field the provider's
 * PHP reads, that nothing redirects, and that refusals come as the JSON Moodle shows
 * (`error.message` on the OpenAI-shaped routes, `error` on Ollama's).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../src/core/types.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { startIdentityGateway, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

interface Fixture {
  source: string;
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  reads: string[];
}

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'moodle');
const fixtures: [string, Fixture][] = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))
  .map((file) => [file, JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Fixture]);

let store: Store;
let gateway: IdentityGateway;
let backend: ScriptedBackend;
let key: string;

/** An answer's JSON: OpenAI-shaped (`error.message`) or Ollama-shaped (`error` as text). */
interface AnswerJson {
  id?: string;
  error?: { message?: string; param?: string; type?: string } & string;
}

async function json(response: Response): Promise<AnswerJson> {
  return (await response.json()) as AnswerJson;
}

function headersFor(fixture: Fixture, apiKey: string): Record<string, string> {
  const basic = Buffer.from(`moodle:${apiKey}`).toString('base64');
  return Object.fromEntries(Object.entries(fixture.headers).map(([name, value]) => [name, value.replace('{{KEY}}', apiKey).replace('{{BASIC}}', basic)]));
}

/** `choices[0].message.content` → the value at that path. */
function read(body: unknown, path: string): unknown {
  return path.split(/\.|(?=\[)/).reduce<unknown>((value, part) => {
    if (value === null || value === undefined) return undefined;
    const index = /^\[(\d+)\]$/.exec(part);
    return index ? (value as unknown[])[Number(index[1])] : (value as Record<string, unknown>)[part];
  }, body);
}

function replay(fixture: Fixture, apiKey = key, change: (body: Record<string, unknown>) => Record<string, unknown> = (b) => b) {
  return fetch(`${gateway.url}${fixture.path}`, {
    method: fixture.method, headers: headersFor(fixture, apiKey), body: JSON.stringify(change(structuredClone(fixture.body))), redirect: 'manual',
  });
}

beforeAll(async () => {
  store = await openTestStore('sqlite');
  backend = new ScriptedBackend({ models: ['tiny:latest'] });
  // Moodle's default model names, as an admin maps them (docs/moodle.md).
  gateway = await startIdentityGateway([backend], { store, configText: 'models:\n  aliases:\n    gpt-4o: tiny\n' });
  // One key per provider instance, with its own role.
  key = (await gateway.identity.admin.createKey('test', { name: 'moodle openai', role: 'student' })).key;
  const admin = (await gateway.identity.admin.createKey('test', { name: 'admin', role: 'admin' })).key;
  const created = await fetch(`${gateway.url}/admin/v1/templates`, {
    method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'moodle-feedback', model: 'tiny', system: 'Give feedback on a {{subject}} text for students.',
      parameters: [{ name: 'subject', type: 'string', default: 'science' }],
    }),
  });
  expect(created.status).toBe(201);
});
afterAll(async () => {
  await gateway?.close();
  await store?.close();
});

describe.each(fixtures)('%s', (_file, fixture) => {
  it('answers 200 with every field Moodle reads, of the type it expects', async () => {
    const response = await replay(fixture);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await json(response);
    for (const path of fixture.reads) {
      const value = read(body, path);
      expect(value, path).not.toBeUndefined();
      expect(value, path).not.toBeNull();
      if (/tokens|count/.test(path)) expect(typeof value, path).toBe('number');
      else expect(typeof value, path).toBe('string');
    }
    // What Moodle 4.5 reads without null checks is never empty.
    if (fixture.reads.includes('id')) expect(body.id).toMatch(/^chatcmpl-/);
    const seen = backend.seen.at(-1) as ChatRequest;
    expect(seen.model).toBe('tiny:latest');
    if (String(fixture.body.model).startsWith('template:')) {
      // The template's system text, its parameter from Moodle's extra parameters or its default.
      const subject = (fixture.body.template_params as { subject?: string } | undefined)?.subject ?? 'science';
      expect(seen.messages[0]).toEqual({ role: 'system', content: `Give feedback on a ${subject} text for students.` });
    }
    // Nodes never learn who asked: Moodle's `user` hash goes nowhere.
    expect(JSON.stringify(seen)).not.toContain(fixture.body.user as string);
  });

  it('answers a wrong key with 401 and the JSON Moodle shows, never a redirect', async () => {
    const response = await replay(fixture, 'flx-not-a-key');
    expect(response.status).toBe(401);
    const body = await json(response);
    if (fixture.path.startsWith('/api/')) expect(body.error).toEqual(expect.any(String));
    else expect(body.error?.message).toEqual(expect.stringMatching(/API key/i));
  });

  it('answers an unknown model with 404 naming it, never a redirect', async () => {
    const azure = fixture.path.startsWith('/openai/');
    const response = await (azure
      ? fetch(`${gateway.url}${fixture.path.replace('/gpt-4o/', '/no-such-deployment/')}`, {
        method: 'POST', headers: headersFor(fixture, key), body: JSON.stringify(fixture.body), redirect: 'manual',
      })
      : replay(fixture, key, (body) => ({ ...body, model: 'no-such-model' })));
    expect(response.status).toBe(404);
    const body = await json(response);
    const message = fixture.path.startsWith('/api/') ? body.error : body.error?.message;
    expect(message).toContain(azure ? 'no-such-deployment' : 'no-such-model');
  });
});

describe('what Moodle sends wrong', () => {
  const [, openai] = fixtures.find(([file]) => file === 'openai-5.0-summarise-text.json')!;

  it('gets a 400 whose error.message names the field (Moodle shows it to the teacher)', async () => {
    const response = await replay(openai, key, (body) => ({ ...body, top_p: 5 }));
    expect(response.status).toBe(400);
    const body = await json(response);
    expect(body.error).toMatchObject({ param: 'top_p', type: 'invalid_request_error' });
    expect(body.error?.message).toContain('top_p');
  });

  it('reaches the same route with a trailing slash instead of a redirect', async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions/`, {
      method: 'POST', headers: headersFor(openai, key), body: JSON.stringify(openai.body), redirect: 'manual',
    });
    expect(response.status).toBe(200);
  });

  it('reaches a template as an Azure deployment name, as Moodle writes it into the URL', async () => {
    const [, azure] = fixtures.find(([file]) => file === 'azureai-generate-text.json')!;
    for (const deployment of ['template:moodle-feedback', 'template%3Amoodle-feedback']) {
      const response = await fetch(`${gateway.url}${azure.path.replace('/gpt-4o/', `/${deployment}/`)}`, {
        method: 'POST', headers: headersFor(azure, key), body: JSON.stringify(azure.body), redirect: 'manual',
      });
      expect(response.status, deployment).toBe(200);
      expect((backend.seen.at(-1) as ChatRequest).messages[0]).toEqual({ role: 'system', content: 'Give feedback on a science text for students.' });
    }
  });

  it('gets a 400 on the Azure route for a body that is not an object', async () => {
    const [, azure] = fixtures.find(([file]) => file === 'azureai-generate-text.json')!;
    const response = await fetch(`${gateway.url}${azure.path}`, { method: 'POST', headers: headersFor(azure, key), body: '[1,2]', redirect: 'manual' });
    expect(response.status).toBe(400);
    expect((await json(response)).error?.message).toEqual(expect.any(String));
  });
});
