import { afterAll, beforeAll, describe, it } from 'vitest';
import type { BrowserContextOptions, Page } from 'playwright-core';
import type { UiChat } from '../../src/api/ui.js';
import { DESKTOP, hasChromium, openPage, PHONE, screenshot, SHOTS_DIR, signIn, startWebGateway, type WebGateway } from './web-gateway.js';

/**
 * Screenshots of every screen for review (desktop and phone, light and dark, English and German)
 * into /tmp/flexi-shots. Opt-in: FLEXI_E2E_SHOTS=1 npx vitest run test/e2e/web-screens.test.ts
 */
const enabled = hasChromium && process.env.FLEXI_E2E_SHOTS === '1';
const PASSWORD = 'correct horse battery';
let gateway: WebGateway;

const RICH_ANSWER = [
  'Here is a **short** overview with a list, code and maths.',
  '',
  '1. The *Fourier transform* decomposes a signal into frequencies.',
  '2. Its discrete form is computed with the FFT in $O(n \\log n)$.',
  '',
  '$$X_k = \\sum_{n=0}^{N-1} x_n \\, e^{-2\\pi i k n / N}$$',
  '',
  '```python',
  'import numpy as np',
  '',
  'def spectrum(signal: np.ndarray) -> np.ndarray:',
  '    """Magnitude spectrum of a real signal."""',
  '    return np.abs(np.fft.rfft(signal))',
  '```',
  '',
  '| method | cost |',
  '| --- | --- |',
  '| naive DFT | $O(n^2)$ |',
  '| FFT | $O(n \\log n)$ |',
  '',
  '> Answers can be wrong; check important facts.',
].join('\n');

async function api<T>(page: Page, method: string, path: string, body?: unknown): Promise<T> {
  return page.evaluate(async ({ method, path, body }) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const doc = (globalThis as any).document;
    const csrf = /(?:^|; )flexi_csrf=([^;]+)/.exec(doc.cookie)?.[1] ?? '';
    const response = await fetch(path, { method, headers: { 'content-type': 'application/json', 'x-csrf-token': decodeURIComponent(csrf) }, body: body === undefined ? undefined : JSON.stringify(body) });
    return response.status === 204 ? null : response.json();
  }, { method, path, body }) as Promise<T>;
}

describe.skipIf(!enabled)(`screenshots into ${SHOTS_DIR}`, { timeout: 120_000 }, () => {
  beforeAll(async () => {
    gateway = await startWebGateway();
    const admin = gateway.app.identity.admin;
    await admin.addUser('test', { email: 'prof@uni.example', roles: ['admin'], password: PASSWORD, displayName: 'Prof. Ada Lovelace' });
    for (const email of ['student1@uni.example', 'student2@uni.example']) await admin.addUser('test', { email, roles: ['student'], password: PASSWORD });
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
  });

  const variants: [string, BrowserContextOptions][] = [
    ['desktop-light', { ...DESKTOP, colorScheme: 'light' }],
    ['desktop-dark', { ...DESKTOP, colorScheme: 'dark' }],
    ['phone-light', { ...PHONE, colorScheme: 'light' }],
    ['phone-dark', { ...PHONE, colorScheme: 'dark' }],
    ['desktop-de', { ...DESKTOP, colorScheme: 'light', locale: 'de-DE' }],
  ];

  let seeded = false;
  for (const [name, options] of variants) {
    it(`every screen, ${name}`, async () => {
      const { context, page } = await openPage(gateway, options);
      const german = options.locale === 'de-DE';
      await page.goto('/');
      await page.locator('form').waitFor();
      await screenshot(page, `${name}-01-login`);
      if (german) {
        await page.getByLabel('E-Mail').fill('prof@uni.example');
        await page.getByLabel('Passwort').fill(PASSWORD);
        await page.getByRole('button', { name: 'Anmelden', exact: true }).click();
      } else {
        await signIn(page, 'prof@uni.example', PASSWORD);
      }
      const accept = page.getByRole('button', { name: german ? 'Ich stimme zu' : 'I accept' });
      const modelPicker = page.locator('#model-select');
      await Promise.race([accept.waitFor(), modelPicker.waitFor()]);
      if (await accept.isVisible()) {
        await screenshot(page, `${name}-02-agreement`);
        await accept.click();
      }
      await modelPicker.waitFor();
      if (!seeded) {
        seeded = true;
        for (const title of ['Exam preparation: linear algebra', 'Literature review outline', 'Regex for German postcodes']) {
          const chat = await api<UiChat>(page, 'POST', '/ui/v1/chats', { title, model: 'tiny' });
          await api(page, 'POST', `/ui/v1/chats/${chat.id}/messages`, { messages: [{ role: 'user', content: title }, { role: 'assistant', content: 'Sure.', model: 'tiny', finish: 'stop' }] });
        }
        const rich = await api<UiChat>(page, 'POST', '/ui/v1/chats', { model: 'tiny', system_prompt: 'Answer briefly.', temperature: 0.4 });
        await api(page, 'POST', `/ui/v1/chats/${rich.id}/messages`, {
          messages: [{ role: 'user', content: 'Explain the Fourier transform with an example in Python.' }, { role: 'assistant', content: RICH_ANSWER, model: 'tiny', finish: 'stop' }],
        });
      }
      const started = Date.now();
      await page.goto('/');
      await modelPicker.waitFor();
      const readyMs = Date.now() - started;
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const paint = await page.evaluate(() => (globalThis as any).performance.getEntriesByType('paint').map((e: any) => `${e.name} ${Math.round(e.startTime)} ms`).join(', '));
      console.log(`web ${name}: ${paint}; chat page usable after ${readyMs} ms`);
      await screenshot(page, `${name}-03-new-chat`);

      await modelPicker.selectOption('tiny');
      await page.locator('#composer-input').fill(german ? 'Hallo! Was kannst du?' : 'Hello! What can you do?');
      // `tiny` is scripted: hold its answer after the first word so that the shot shows it streaming.
      gateway.answers.holdNext();
      await page.locator('#composer-input').press('Enter');
      await page.locator('.message.streaming .markdown').waitFor();
      await screenshot(page, `${name}-04-streaming`);
      gateway.answers.release();
      await page.locator('.message.assistant:not(.streaming)').waitFor({ timeout: 30_000 });
      await screenshot(page, `${name}-05-answer`);

      if (name.startsWith('phone')) await page.getByRole('button', { name: german ? 'Menü öffnen' : 'Open menu' }).click();
      await page.locator('.chat-item a', { hasText: 'Explain the Fourier' }).click();
      await page.locator('.markdown math').first().waitFor({ timeout: 10_000 });
      await screenshot(page, `${name}-06-markdown-code-maths`);

      await page.locator('.chat-header').getByRole('button', { name: german ? 'Chat-Einstellungen' : 'Chat settings' }).click();
      await page.locator('dialog').waitFor();
      await screenshot(page, `${name}-07-chat-settings`);
      await page.keyboard.press('Escape');

      if (name.startsWith('phone')) {
        await page.getByRole('button', { name: german ? 'Menü öffnen' : 'Open menu' }).click();
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        await page.waitForFunction(() => (globalThis as any).getComputedStyle((globalThis as any).document.querySelector('.sidebar')).transform === 'none');
        await screenshot(page, `${name}-08-menu`);
      }
      const firstItem = page.locator('.chat-item').first();
      await firstItem.hover();
      await firstItem.locator('button[aria-haspopup]').click();
      await screenshot(page, `${name}-09-chat-actions`);
      await page.keyboard.press('Escape');

      await page.goto('/settings');
      await page.locator('.card').first().waitFor();
      await screenshot(page, `${name}-10-settings`);
      await page.getByRole('button', { name: german ? 'Schlüssel erstellen' : 'Create key' }).scrollIntoViewIfNeeded();
      await page.locator('input[maxlength="100"]').fill('thesis-scripts');
      await page.getByRole('button', { name: german ? 'Schlüssel erstellen' : 'Create key' }).click();
      await page.getByTestId('new-key').waitFor();
      await screenshot(page, `${name}-11-new-key`);

      for (const tab of ['users', 'keys', 'nodes', 'usage']) {
        await page.goto(`/admin/${tab}`);
        await page.locator('.card').first().waitFor();
        if (tab === 'usage') await page.locator('.uplot').first().waitFor({ timeout: 10_000 });
        if (tab === 'users' || tab === 'keys') await page.locator('tbody tr').first().waitFor();
        if (tab === 'nodes') await page.locator('.node').first().waitFor();
        await screenshot(page, `${name}-12-admin-${tab}`);
      }
      await page.goto('/c/doesnotexist');
      await page.getByRole('heading', { name: '404' }).waitFor();
      await screenshot(page, `${name}-13-not-found`);
      await context.close();
    });
  }
});
