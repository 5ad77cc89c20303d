import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../src/core/types.js';
import type { ScriptedBackend } from '../helpers/scripted-backend.js';
import { hasChromium, openPage, signIn, startWebGateway, type WebGateway } from './web-gateway.js';

/**
 * The Templates page in Chromium: a student sees the templates they may use (a global one and
 * their course's, not another course's), fills the parameters, tries one and reads the answer;
 * the request that reached the model carries the filled template. A screenshot goes to
 * /work/notes/screens/ for review.
 */
const PASSWORD = 'correct horse battery';
const SCREENS = '/work/notes/screens';
let gateway: WebGateway;
let operatorKey: string;

describe.skipIf(!hasChromium)('templates page in Chromium', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    gateway = await startWebGateway();
    const admin = gateway.app.identity.admin;
    const student = await admin.addUser('test', { email: 'carla@uni.example', roles: ['student'], password: PASSWORD, displayName: 'Carla' });
    const operator = await admin.createKey('test', { name: 'admin', role: 'admin' });
    operatorKey = operator.key;
    await admin.createGroup('test', { name: 'stats-ws26', kind: 'course' });
    await admin.createGroup('test', { name: 'art-ws26', kind: 'course' });
    await admin.addMember('test', 'stats-ws26', student.id, 'member');
    const create = async (body: unknown) => {
      const response = await fetch(`${gateway.url}/admin/v1/templates`, {
        method: 'POST', headers: { authorization: `Bearer ${operator.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      expect(response.status, await response.text()).toBe(201);
    };
    await create({
      name: 'essay-feedback', description: 'Feedback on a short essay', model: 'tiny',
      system: 'You give feedback on {{subject}} essays for {{level}} students. At most {{points}} points.', user: 'Essay:\n{{input}}',
      parameters: [
        { name: 'subject', type: 'string', required: true, max_length: 40, description: 'the subject of the course' },
        { name: 'level', type: 'enum', values: ['beginner', 'advanced'], default: 'beginner' },
        { name: 'points', type: 'integer', min: 1, max: 10, default: 10 },
        { name: 'strict', type: 'boolean' },
      ],
    });
    await create({ name: 'stats-hint', group: 'stats-ws26', description: 'A hint, never the solution', model: 'tiny', system: 'Give a hint.' });
    await create({ name: 'art-critique', group: 'art-ws26', model: 'tiny' });
  }, 180_000);

  afterAll(async () => {
    await gateway?.close();
  });

  it('lists the usable templates, tries one with parameters and shows the answer', async () => {
    const { context, page, errors } = await openPage(gateway);
    await signIn(page, 'carla@uni.example', PASSWORD);
    const accept = page.getByRole('button', { name: 'I accept' });
    await page.getByRole('link', { name: 'Templates' }).or(accept).first().waitFor();
    if (await accept.isVisible()) await accept.click();
    await page.getByRole('link', { name: 'Templates' }).click();
    await page.getByRole('heading', { name: 'Try template:essay-feedback' }).waitFor();
    const buttons = await page.locator('.template-list').getByRole('listitem').allTextContents();
    expect(buttons).toEqual(['template:essay-feedback', 'template:stats-hint']);

    await page.getByLabel(/^subject/).fill('Physics');
    await page.getByLabel('level').selectOption('advanced');
    await page.getByLabel('points').fill('7');
    await page.getByLabel('Your text (fills {{input}})').fill('Water boils at {{points}} degrees.');
    await page.getByRole('button', { name: 'Try it' }).click();
    const answer = page.getByLabel('Answer');
    await answer.getByText('The area of a circle').waitFor();

    const scripted = gateway.app.registry.backends.find((backend) => backend.name === 'scripted') as ScriptedBackend;
    const seen = scripted.seen.at(-1) as ChatRequest;
    expect(seen.messages).toEqual([
      { role: 'system', content: 'You give feedback on Physics essays for advanced students. At most 7 points.' },
      { role: 'user', content: 'Essay:\nWater boils at {{points}} degrees.' },
    ]);
    mkdirSync(SCREENS, { recursive: true });
    // The page scrolls inside <main>: a viewport tall enough shows the form and the answer at once.
    await page.setViewportSize({ width: 1280, height: 1250 });
    await page.screenshot({ path: `${SCREENS}/templates-try-it.png` });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('shows the 400 naming the parameter when the template changed under an open form', async () => {
    const { context, page, errors } = await openPage(gateway);
    await signIn(page, 'carla@uni.example', PASSWORD);
    await page.getByRole('link', { name: 'Templates' }).click();
    await page.getByRole('button', { name: 'template:stats-hint' }).click();
    await page.getByRole('heading', { name: 'Try template:stats-hint' }).waitFor();
    // A lecturer saves version 2 with a new required parameter while the form is open.
    const edited = await fetch(`${gateway.url}/admin/v1/templates/stats-hint`, {
      method: 'PUT', headers: { authorization: `Bearer ${operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', system: 'Give a hint about {{chapter}}.', parameters: [{ name: 'chapter', type: 'integer', required: true }] }),
    });
    expect(edited.status).toBe(200);
    await page.getByLabel('Your text (fills {{input}})').fill('What is a p-value?');
    await page.getByRole('button', { name: 'Try it' }).click();
    await page.getByRole('alert').getByText("'template_params.chapter' is required.").waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});
