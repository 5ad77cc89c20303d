/**
 * Prompt templates as the virtual models `template:<name>`, end to end: saved through the admin
 * API and a group owner's API, called through the official `openai` client (parameters as the
 * extra body field `template_params`) and through `/api/generate` as Moodle's Ollama provider
 * sends it; bad parameters get a 400 naming `template_params.<name>` and never reach a node.
 * Also the course context (`x-flexi-course`): who may send it, and that usage is booked to it.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../src/core/types.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

let store: Store;
let gateway: IdentityGateway;
let backend: ScriptedBackend;
let adminKey: string;
let client: OpenAI;

const FEEDBACK = {
  name: 'feedback',
  description: 'Feedback on a short essay',
  model: 'tiny',
  system: 'You grade {{subject}} essays for {{level}} students.',
  user: 'Essay:\n{{input}}\nAward at most {{points}} points.',
  parameters: [
    { name: 'subject', type: 'string', required: true, max_length: 40 },
    { name: 'level', type: 'enum', values: ['beginner', 'advanced'], default: 'beginner' },
    { name: 'points', type: 'integer', required: true, min: 1, max: 10 },
    { name: 'strict', type: 'boolean' },
  ],
  sampling: { temperature: 0.1, max_tokens: 3 },
};

function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, key: string, body?: unknown, headers: Record<string, string> = {}) {
  return gateway.app.server.inject({
    method, url, headers: { ...bearer(key), 'content-type': 'application/json', ...headers }, payload: body === undefined ? undefined : JSON.stringify(body),
  });
}

function lastSeen(): ChatRequest {
  return backend.seen.at(-1) as ChatRequest;
}

/** Creates a chat through the openai client with `template_params` as an extra body field. */
function templateChat(openai: OpenAI, model: string, content: string, params?: Record<string, unknown>) {
  return openai.chat.completions.create({
    model, messages: [{ role: 'user', content }],
    ...(params === undefined ? {} : { template_params: params }),
  } as OpenAI.ChatCompletionCreateParamsNonStreaming);
}

beforeAll(async () => {
  store = await openTestStore('sqlite');
  backend = new ScriptedBackend({ models: ['tiny:latest'] });
  gateway = await startIdentityGateway([backend], { store });
  adminKey = (await gateway.identity.admin.createKey('test', { name: 'admin', role: 'admin' })).key;
  client = new OpenAI({ apiKey: adminKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const created = await call('POST', '/admin/v1/templates', adminKey, FEEDBACK);
  expect(created.statusCode, created.body).toBe(201);
});
afterAll(async () => {
  await gateway?.close();
  await store?.close();
});

describe('a template through the official openai client', () => {
  it('fills system and user text from template_params and the message, with the template\'s model and sampling', async () => {
    const completion = await templateChat(client, 'template:feedback', 'Water boils at 100 °C.', { subject: 'Physics', points: 5 });
    expect(completion.model).toBe('template:feedback');
    expect(completion.choices[0]!.message.content).toBe('Hello from Flexi');
    expect(completion.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 3 });
    const seen = lastSeen();
    expect(seen.model).toBe('tiny:latest');
    expect(seen.messages).toEqual([
      { role: 'system', content: 'You grade Physics essays for beginner students.' },
      { role: 'user', content: 'Essay:\nWater boils at 100 °C.\nAward at most 5 points.' },
    ]);
    expect(seen.options).toMatchObject({ temperature: 0.1, maxTokens: 3 });
    expect(seen.params).toBeUndefined();
  });

  it('never evaluates template syntax inside values or the message', async () => {
    await templateChat(client, 'template:feedback', 'My {{subject}} essay', { subject: '{{points}} {{ level }}', points: 2, level: 'advanced' });
    expect(lastSeen().messages).toEqual([
      { role: 'system', content: 'You grade {{points}} {{ level }} essays for advanced students.' },
      { role: 'user', content: 'Essay:\nMy {{subject}} essay\nAward at most 2 points.' },
    ]);
  });

  it.each([
    [{ points: 5 }, 'template_params.subject', /required/],
    [{ subject: 'Physics', points: 'five' }, 'template_params.points', /integer/],
    [{ subject: 'Physics', points: 11 }, 'template_params.points', /<= 10/],
    [{ subject: 'x'.repeat(41), points: 1 }, 'template_params.subject', /at most 40/],
    [{ subject: 'Physics', points: 1, level: 'expert' }, 'template_params.level', /"beginner", "advanced"/],
    [{ subject: 'Physics', points: 1, strict: 'yes' }, 'template_params.strict', /true or false/],
    [{ subject: 'Physics', points: 1, colour: 'red' }, 'template_params.colour', /not a parameter/],
  ])('refuses %j with a 400 naming the parameter, before any node', async (params, param, message) => {
    const before = backend.seen.length;
    const error = await templateChat(client, 'template:feedback', 'Essay', params).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
    expect((error as Error).message).toMatch(message);
    expect(backend.seen.length).toBe(before);
  });

  it('refuses a template_params value that is not an object', async () => {
    const response = await call('POST', '/v1/chat/completions', adminKey, { model: 'template:feedback', messages: [{ role: 'user', content: 'x' }], template_params: [1] });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.param).toBe('template_params');
  });

  it('is listed as a model and answers 404 for a template that does not exist', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('template:feedback');
    const error = await templateChat(client, 'template:nope', 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('streams a template call', async () => {
    const stream = await client.chat.completions.create({
      model: 'template:feedback', messages: [{ role: 'user', content: 'Essay' }], stream: true, template_params: { subject: 'Art', points: 1 },
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello from Flexi');
  });
});

describe('a template through /api/generate, as Moodle\'s Ollama provider sends it', () => {
  const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`moodle:${key}`).toString('base64')}` });

  it('answers with the fields Moodle reads; the template\'s system text replaces Moodle\'s', async () => {
    const response = await gateway.app.server.inject({
      method: 'POST', url: '/api/generate', headers: { ...basic(adminKey), 'content-type': 'application/json' },
      payload: JSON.stringify({
        model: 'template:feedback', prompt: 'An essay about rivers.', system: 'You are a helpful assistant. Plain text only.', stream: false,
        user: 'f1d2d2f924e986ac86fdf7b36c94bcdf32beec15', options: { temperature: 0.7, top_p: 0.9 }, template_params: { subject: 'Geography', points: 4 },
      }),
    });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ model: 'template:feedback', response: 'Hello from Flexi', done: true, done_reason: 'length', prompt_eval_count: 5, eval_count: 3 });
    expect(lastSeen().messages).toEqual([
      { role: 'system', content: 'You grade Geography essays for beginner students.' },
      { role: 'user', content: 'Essay:\nAn essay about rivers.\nAward at most 4 points.' },
    ]);
    expect(lastSeen().options).toMatchObject({ temperature: 0.1, topP: 0.9, maxTokens: 3 });
  });

  it('answers a bad parameter with an Ollama-shaped 400 naming it', async () => {
    const response = await gateway.app.server.inject({
      method: 'POST', url: '/api/generate', headers: { ...basic(adminKey), 'content-type': 'application/json' },
      payload: JSON.stringify({ model: 'template:feedback', prompt: 'x', stream: false, template_params: { subject: 'Geo' } }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringContaining('template_params.points') });
  });

  it('refuses basic auth with a wrong password', async () => {
    const response = await gateway.app.server.inject({
      method: 'POST', url: '/api/generate', headers: { ...basic('flx-wrong'), 'content-type': 'application/json' },
      payload: JSON.stringify({ model: 'tiny', prompt: 'x', stream: false }),
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: expect.any(String) });
  });
});

describe('saving templates', () => {
  it('refuses a text that uses an undeclared parameter, naming the field', async () => {
    const response = await call('POST', '/admin/v1/templates', adminKey, { ...FEEDBACK, name: 'broken', user: '{{input}} in {{language}}' });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ param: 'user', message: expect.stringContaining('{{language}}') });
  });

  it.each([
    [{ name: 'Bad Name' }, 'name'],
    [{ model: 'template:feedback' }, 'model'],
    [{ parameters: [{ name: 'input', type: 'string' }] }, 'parameters[0].name'],
    [{ parameters: [{ name: 'a', type: 'enum' }] }, 'parameters[0].values'],
    [{ parameters: [{ name: 'a', type: 'integer', default: 'x' }] }, 'parameters[0].default'],
    [{ parameters: [{ name: 'a', type: 'string' }, { name: 'a', type: 'string' }] }, 'parameters[1].name'],
    [{ parameters: [{ name: 'a', type: 'text' }] }, 'parameters[0].type'],
  ])('refuses %j naming %s', async (change, param) => {
    const response = await call('POST', '/admin/v1/templates', adminKey, { ...FEEDBACK, name: 'broken', ...change });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error.param).toBe(param);
  });

  it('keeps a version history and refuses an edit of a stale version', async () => {
    const base = { ...FEEDBACK, name: 'versioned' };
    expect((await call('POST', '/admin/v1/templates', adminKey, base)).statusCode).toBe(201);
    expect((await call('POST', '/admin/v1/templates', adminKey, base)).statusCode).toBe(409);
    const { name: _name, ...definition } = base;
    const edited = await call('PUT', '/admin/v1/templates/versioned', adminKey, { ...definition, description: 'v2', version: 1 });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({ version: 2, description: 'v2' });
    expect((await call('PUT', '/admin/v1/templates/versioned', adminKey, { ...definition, version: 1 })).statusCode).toBe(409);
    const shown = (await call('GET', '/admin/v1/templates/versioned', adminKey)).json();
    expect(shown.versions.map((v: { version: number; definition: { description: string } }) => [v.version, v.definition.description])).toEqual([[2, 'v2'], [1, FEEDBACK.description]]);
    expect((await call('DELETE', '/admin/v1/templates/versioned', adminKey)).statusCode).toBe(204);
    expect((await call('GET', '/admin/v1/templates/versioned', adminKey)).statusCode).toBe(404);
  });
});

describe('group templates and course context', () => {
  let groupId: string;
  let lecturer: Awaited<ReturnType<typeof userWithKey>>;
  let student: Awaited<ReturnType<typeof userWithKey>>;
  let outsider: Awaited<ReturnType<typeof userWithKey>>;

  beforeAll(async () => {
    const group = await gateway.identity.admin.createGroup('test', { name: 'stats-ws26', kind: 'course' });
    groupId = group.id;
    await gateway.identity.admin.createGroup('test', { name: 'art-ws26', kind: 'course' });
    lecturer = await userWithKey(gateway.identity, 'lecturer@uni.example', ['staff']);
    student = await userWithKey(gateway.identity, 'student@uni.example', ['student']);
    outsider = await userWithKey(gateway.identity, 'outsider@uni.example', ['student']);
    await gateway.identity.admin.addMember('test', 'stats-ws26', lecturer.user.id, 'owner');
    await gateway.identity.admin.addMember('test', 'stats-ws26', student.user.id, 'member');
    const created = await call('POST', '/ui/v1/groups/stats-ws26/templates', lecturer.key, {
      name: 'stats-hint', model: 'tiny', system: 'Give a hint about {{topic}}, never the solution.', parameters: [{ name: 'topic', type: 'string', default: 'statistics' }],
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ group: 'stats-ws26', version: 1, virtual_model: 'template:stats-hint' });
  });

  it('lets the group\'s owners manage its templates and nobody else', async () => {
    expect((await call('GET', '/ui/v1/groups/stats-ws26/templates', lecturer.key)).json().data.map((t: { name: string }) => t.name)).toEqual(['stats-hint']);
    expect((await call('POST', '/ui/v1/groups/stats-ws26/templates', student.key, { name: 'sneaky', model: 'tiny' })).statusCode).toBe(404);
    expect((await call('POST', '/ui/v1/groups/art-ws26/templates', lecturer.key, { name: 'elsewhere', model: 'tiny' })).statusCode).toBe(404);
    expect((await call('DELETE', '/ui/v1/groups/stats-ws26/templates/stats-hint', student.key)).statusCode).toBe(404);
    expect((await call('GET', '/admin/v1/templates', lecturer.key)).statusCode).toBe(403);
    expect((await call('POST', '/admin/v1/templates', lecturer.key, { name: 'global', model: 'tiny' })).statusCode).toBe(403);
  });

  it('lets members use a group template and books the usage to the group; others get 404', async () => {
    const studentClient = new OpenAI({ apiKey: student.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const completion = await templateChat(studentClient, 'template:stats-hint', 'What is a p-value?');
    expect(completion.choices[0]!.message.content).toBe('Hello from Flexi. The end.');
    expect(lastSeen().messages[0]).toEqual({ role: 'system', content: 'Give a hint about statistics, never the solution.' });
    const usable = (await call('GET', '/ui/v1/templates', student.key)).json().data.map((t: { name: string }) => t.name);
    expect(usable).toContain('stats-hint');

    const outsiderClient = new OpenAI({ apiKey: outsider.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    expect(await templateChat(outsiderClient, 'template:stats-hint', 'x').catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect((await outsiderClient.models.list()).data.map((m) => m.id)).not.toContain('template:stats-hint');
    expect((await call('GET', '/ui/v1/templates', outsider.key)).json().data.map((t: { name: string }) => t.name)).not.toContain('stats-hint');

    await gateway.usage.flush();
    const rows = await store.db.selectFrom('usage_records').select(['model', 'group_id']).where('model', '=', 'tiny:latest').execute();
    expect(rows.filter((row) => row.group_id === groupId).length).toBe(1);
  });

  it('accounts a course key\'s request to the course it names, and `usage --by group` counts it there', async () => {
    const moodle = await gateway.identity.admin.createKey('test', { name: 'moodle', role: 'student', scopes: ['course:stats-*'] });
    const headers = { 'x-flexi-course': 'stats-ws26' };
    const answered = await call('POST', '/v1/chat/completions', moodle.key, { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] }, headers);
    expect(answered.statusCode, answered.body).toBe(200);
    // The course's templates are open to a key acting for it, and closed without the header.
    expect((await call('POST', '/v1/chat/completions', moodle.key, { model: 'template:stats-hint', messages: [{ role: 'user', content: 'hi' }] }, headers)).statusCode).toBe(200);
    expect((await call('POST', '/v1/chat/completions', moodle.key, { model: 'template:stats-hint', messages: [{ role: 'user', content: 'hi' }] })).statusCode).toBe(404);
    await gateway.usage.flush();
    const report = await gateway.identity.usageReport.report('group', '2000-01-01T00:00:00.000Z');
    const stats = report.find((row) => row.key === 'stats-ws26');
    // The student's template call above, and the key's two calls acting for the course.
    expect(stats?.requests).toBe(3);
  });

  it('answers 403 naming the header when a key may not act for the course', async () => {
    const moodle = await gateway.identity.admin.createKey('test', { name: 'moodle-stats', role: 'student', scopes: ['course:stats-*'] });
    const plain = await gateway.identity.admin.createKey('test', { name: 'plain', role: 'student' });
    const studentOwnKey = await gateway.identity.admin.createKey('test', { user: student.user.id, name: 'student course', scopes: ['course:*'] });
    const lecturerOwnKey = await gateway.identity.admin.createKey('test', { user: lecturer.user.id, name: 'lecturer course', scopes: ['course:*'] });
    const body = { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] };
    const cases: [string, string, number][] = [
      [moodle.key, 'art-ws26', 403], [moodle.key, 'no-such-course', 403], [plain.key, 'stats-ws26', 403],
      [studentOwnKey.key, 'stats-ws26', 403], [lecturerOwnKey.key, 'stats-ws26', 200], [lecturerOwnKey.key, 'art-ws26', 403],
    ];
    for (const [key, course, status] of cases) {
      const response = await call('POST', '/v1/chat/completions', key, body, { 'x-flexi-course': course });
      expect(response.statusCode, `${course}: ${response.body}`).toBe(status);
      if (status === 403) expect(response.json().error).toMatchObject({ param: 'x-flexi-course', message: expect.stringContaining('x-flexi-course') });
    }
    const ollama = await call('POST', '/api/chat', plain.key, { ...body, stream: false }, { 'x-flexi-course': 'stats-ws26' });
    expect(ollama.statusCode).toBe(403);
    expect(ollama.json()).toEqual({ error: expect.stringContaining('x-flexi-course') });
  });
});
