import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { ROLE, TestLtiPlatform } from '../helpers/lti-platform.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { CHROMIUM, hasChromium } from './web-gateway.js';

const WEB_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));
const CONFIG = 'auth:\n  cookie_secure: false\nlti:\n  allow_http: true\n  roster_sync_interval_ms: 0\nroles:\n  student:\n    models: ["*"]\n';

/**
 * The launch as a browser makes it: the platform (on 127.0.0.1) posts the login into Flexi (on
 * localhost: another site, so every Flexi cookie is a cross-site one), Flexi redirects to the
 * platform's auth endpoint, whose form posts the id_token back, and the chat opens with the
 * course's model selected — at the top level and inside the platform's course page frame.
 */
describe.skipIf(!hasChromium || !existsSync(`${WEB_ROOT}index.html`))('LTI launch in Chromium', { timeout: 120_000 }, () => {
  let store: Store;
  let app: App;
  let platform: TestLtiPlatform;
  let browser: Browser;
  let toolUrl: string;

  beforeAll(async () => {
    platform = new TestLtiPlatform();
    await platform.start();
    store = await openTestStore('sqlite');
    app = await createApp({
      config: loadConfig({ fileText: CONFIG }), backends: [new ScriptedBackend({ models: ['tiny:latest', 'stat1-tutor:latest'], words: ['Hello', ' class'] })], store, webRoot: WEB_ROOT,
    });
    await app.server.listen({ host: '127.0.0.1', port: 0 });
    toolUrl = `http://localhost:${(app.server.server.address() as AddressInfo).port}`;
    platform.toolUrl = toolUrl;
    platform.toolJwksUrl = `${toolUrl}/lti/jwks`;
    await app.lti.platforms.add('test', { name: 'Test Moodle', ...platform.registration() });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await store?.close();
    await platform?.close();
  });

  it('opens the chat with the course model after the platform posts the launch', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    platform.nextLaunch = { person: { sub: 'stud-1', roles: [ROLE.learner], name: 'Lea Lernt' }, custom: { model: 'stat1-tutor' } };
    await page.goto(`${platform.url}/mod/lti/launch.php`);
    await page.getByRole('heading', { name: 'User agreement' }).waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).origin).toBe(toolUrl);
    expect(new URL(page.url()).searchParams.get('model')).toBe('stat1-tutor');
    await page.getByRole('button', { name: /accept/i }).click();
    const select = page.locator('#model-select');
    await select.waitFor({ timeout: 30_000 });
    await expect.poll(() => select.inputValue(), { timeout: 15_000 }).toBe('stat1-tutor');
    const session = (await context.cookies(toolUrl)).find((c) => c.name === 'flexi_session');
    expect(session).toMatchObject({ sameSite: 'None', secure: true, httpOnly: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('works inside the course page\'s frame', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    platform.nextLaunch = { person: { sub: 'stud-2', roles: [ROLE.learner], name: 'Ben' }, custom: { model: 'stat1-tutor' } };
    await page.goto(`${platform.url}/course/view.php`);
    const frame = page.frameLocator('#lti-frame');
    await frame.getByRole('heading', { name: 'User agreement' }).waitFor({ timeout: 30_000 });
    await frame.getByRole('button', { name: /accept/i }).click();
    const select = frame.locator('#model-select');
    await select.waitFor({ timeout: 30_000 });
    await expect.poll(() => select.inputValue(), { timeout: 15_000 }).toBe('stat1-tutor');
    // The session (and its CSRF token) works for changes inside the frame: a chat is sent and answered.
    await frame.getByLabel('Your message').fill('Hi from the course');
    await frame.getByRole('button', { name: 'Send' }).click();
    await frame.getByText('Hello class').waitFor({ timeout: 30_000 });
    // The cookies live in the platform's partition only (CHIPS): the LTI session, nothing more.
    const session = (await context.cookies(toolUrl)).find((c) => c.name === 'flexi_session') as { partitionKey?: string } | undefined;
    expect(session?.partitionKey).toBe(new URL(platform.url).origin.replace(/:\d+$/, ''));
    expect(errors).toEqual([]);
    await context.close();
  });
});

if (!hasChromium) {
  it.skip('the LTI end-to-end test needs Debian\'s Chromium at /usr/bin/chromium', () => undefined);
}
