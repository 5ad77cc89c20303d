import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { CHROMIUM, DESKTOP, hasChromium, openPage, signIn } from './web-gateway.js';

/**
 * The course bot in the browser: a lecturer uploads material by drag and drop on the course page,
 * tunes the bot and tries a test question; a student picks `course:<name>` in the model picker
 * and gets an answer whose sources open the document at the cited page. Screenshots go to
 * FLEXI_E2E_SCREENS (default /tmp/flexi-course-shots).
 */
const WEB_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));
const SHOTS = process.env.FLEXI_E2E_SCREENS ?? '/tmp/flexi-course-shots';
const PASSWORD = 'correct horse battery';
const enabled = hasChromium && existsSync(join(WEB_ROOT, 'index.html'));

const CONFIG = `
auth:
  cookie_secure: false
courses:
  default_chat_model: tiny
roles:
  student:
    models: ["*"]
`;

const SCRIPT = `# Statistik 1: Organisation

## Prüfungsanmeldung

Die Anmeldung zur Klausur erfolgt bis zum 15. Januar über das Prüfungsportal.

## Sprechstunde

Die Sprechstunde ist dienstags von 14 bis 15 Uhr in Raum B 204.
`;

async function lecturePdf(): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const pages = [
    ['Kapitel 1: Lagemaße', 'Der Median teilt die geordnete Stichprobe in zwei gleich große Hälften.'],
    ['Kapitel 2: Streuungsmaße', 'Die Standardabweichung ist die Wurzel aus der Varianz.'],
  ];
  for (const lines of pages) {
    const page = pdf.addPage([595, 842]);
    lines.forEach((text, i) => page.drawText(text, { x: 50, y: 780 - i * 24, size: i === 0 ? 16 : 11, font }));
  }
  return Buffer.from(await pdf.save());
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signInAccepted(page: Page, email: string): Promise<void> {
  await signIn(page, email, PASSWORD);
  const accept = page.getByRole('button', { name: 'I accept' });
  const picker = page.locator('#model-select');
  await Promise.race([accept.waitFor(), picker.waitFor()]);
  if (await accept.isVisible()) await accept.click();
  await picker.waitFor();
}

describe.skipIf(!enabled)('course bot in the browser', { timeout: 180_000 }, () => {
  let store: Store;
  let app: App;
  let browser: Browser;
  let url: string;
  const backend = new ScriptedBackend({ models: ['tiny:latest'], words: ['Die', ' Standardabweichung', ' ist', ' die', ' Wurzel', ' aus', ' der', ' Varianz', ' [1].'] });

  beforeAll(async () => {
    store = await openTestStore('sqlite');
    app = await createApp({ config: loadConfig({ fileText: CONFIG }), backends: [backend], store, webRoot: WEB_ROOT });
    await app.server.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
    const admin = app.identity.admin;
    await admin.addUser('test', { email: 'prof@uni.example', roles: ['staff'], password: PASSWORD, displayName: 'Prof. Ada Lovelace' });
    await admin.addUser('test', { email: 'student@uni.example', roles: ['student'], password: PASSWORD });
    const group = await admin.createGroup('test', { name: 'Statistik 1' });
    await admin.addMember('test', group.id, 'prof@uni.example', 'owner');
    await admin.addMember('test', group.id, 'student@uni.example', 'member');
    await app.courses.collections.create({ admin: true, label: 'cli:test' }, { name: 'statistik', group: 'Statistik 1', description: 'Fragen zur Organisation und zum Skript' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await store?.close();
  });

  it('lets the lecturer drop material, see it indexed, tune the bot and try a question', async () => {
    const { context, page, errors } = await openPage({ browser, url } as never, { ...DESKTOP, baseURL: url });
    await signInAccepted(page, 'prof@uni.example');
    await page.getByRole('link', { name: 'Course bots' }).click();
    await page.getByRole('link', { name: 'statistik' }).click();
    await page.getByTestId('drop-zone').waitFor();

    // A real drop event carrying two files, as the browser sends it when files are dragged in.
    const pdf = await lecturePdf();
    const transfer = await page.evaluateHandle(({ script, pdf }) => {
      // Runs in the page: its DOM types are not this file's.
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const data = new (globalThis as any).DataTransfer();
      data.items.add(new File([script], 'Skript.md', { type: 'text/markdown' }));
      data.items.add(new File([new Uint8Array(pdf)], 'Vorlesung.pdf', { type: 'application/pdf' }));
      return data;
    }, { script: SCRIPT, pdf: [...pdf] });
    await page.dispatchEvent('[data-testid=drop-zone]', 'drop', { dataTransfer: transfer });
    const rows = page.getByTestId('documents').locator('tbody tr');
    await rows.filter({ hasText: 'Skript.md' }).getByText('ready').waitFor({ timeout: 60_000 });
    await rows.filter({ hasText: 'Vorlesung.pdf' }).getByText('ready').waitFor({ timeout: 60_000 });
    expect(await rows.filter({ hasText: 'Vorlesung.pdf' }).locator('td').nth(2).textContent()).toBe('2');
    expect(await page.getByTestId('upload').count()).toBe(2);
    await shot(page, 'course-01-documents');

    await page.getByLabel('Instructions for the bot').fill('Du bist der Tutor von Statistik 1. Antworte kurz.');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();

    await page.getByPlaceholder('Ask what a student would ask…').fill('Wann ist die Sprechstunde?');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByTestId('search-results').waitFor();
    expect(await page.getByTestId('relevance').textContent()).toContain('the bot answers from these');
    expect(await page.locator('.passage').first().textContent()).toContain('dienstags');
    await shot(page, 'course-02-test-question');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('gives a student the bot in the model picker and sources that open the document at the page', async () => {
    const { context, page, errors } = await openPage({ browser, url } as never, { ...DESKTOP, baseURL: url });
    await signInAccepted(page, 'student@uni.example');
    await page.locator('#model-select').selectOption('course:statistik');
    await page.locator('#composer-input').fill('Was ist die Standardabweichung?');
    await page.locator('#composer-input').press('Enter');
    const answer = page.locator('.message.assistant:not(.streaming)');
    await answer.waitFor({ timeout: 30_000 });
    const link = answer.getByRole('link', { name: /Vorlesung\.pdf, p\. 2/ });
    await link.waitFor();
    const href = await link.getAttribute('href');
    expect(href).toBe('/ui/v1/collections/statistik/documents/Vorlesung.pdf/file#page=2');
    await shot(page, 'course-03-answer-with-sources');
    // The footnote's target is the original PDF, for this member.
    const file = await page.request.get(href!.replace(/#.*$/, ''));
    expect(file.status()).toBe(200);
    expect(file.headers()['content-type']).toBe('application/pdf');

    // A member sees the course page without the owner's tools.
    await page.goto('/courses/statistik');
    await page.getByTestId('documents').waitFor();
    expect(await page.getByTestId('drop-zone').count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'Bot settings' }).count()).toBe(0);
    await shot(page, 'course-04-member-view');
    expect(errors).toEqual([]);
    await context.close();
  });
});
