import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { UiChat } from '../../src/api/ui.js';
import type { ChatRequest } from '../../src/core/types.js';
import { hasChromium, openPage, SCRIPTED_ANSWER, signIn, startWebGateway, type WebGateway } from './web-gateway.js';

/**
 * The chat, complete, in Chromium: an image attached in the composer reaches the vision model's
 * node; an answer goes on when its tab closes and is there (or still streaming, attached to)
 * when the chat is opened again; with encryption on, the database files hold no chat text while
 * the export returns it.
 */
// Functions given to page.evaluate run in the browser; this project compiles without DOM typings.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any;

const PASSWORD = 'correct horse battery';
const SCREENS = '/work/notes/screens';
/** A real 2×2 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');

async function api<T>(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  return page.evaluate(async ({ method, path, body }) => {
    const csrf = /(?:^|; )flexi_csrf=([^;]+)/.exec(document.cookie)?.[1] ?? '';
    const response = await fetch(path, {
      method, headers: { 'content-type': 'application/json', 'x-csrf-token': decodeURIComponent(csrf) }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : (() => { try { return JSON.parse(text); } catch { return text; } })() };
  }, { method, path, body }) as Promise<{ status: number; body: T }>;
}

/** A fresh browser signed in; the agreement is accepted on the first sign-in only. */
async function signedIn(gateway: WebGateway, email: string, firstTime: boolean): Promise<Page> {
  const { page } = await openPage(gateway);
  await signIn(page, email, PASSWORD);
  if (firstTime) await page.getByRole('button', { name: 'I accept' }).click();
  await page.getByLabel('Model', { exact: true }).waitFor();
  return page;
}

function chatIdOf(page: Page): string {
  const match = /\/c\/([A-Za-z0-9]+)$/.exec(new URL(page.url()).pathname);
  if (!match) throw new Error(`not on a chat page: ${page.url()}`);
  return match[1]!;
}

describe.skipIf(!hasChromium)('the chat, complete, in Chromium', { timeout: 180_000 }, () => {
  let gateway: WebGateway;

  beforeAll(async () => {
    gateway = await startWebGateway({ vision: true });
    await gateway.app.identity.admin.addUser('test', { email: 'carol@uni.example', roles: ['student'], password: PASSWORD });
  }, 120_000);

  afterAll(async () => {
    await gateway?.close();
  });

  it('offers the attach button only for a vision model; an attached image arrives at the node', async () => {
    const page = await signedIn(gateway, 'carol@uni.example', true);
    const picker = page.getByLabel('Model', { exact: true });
    await picker.selectOption('tiny');
    expect(await page.getByRole('button', { name: 'Attach image' }).count()).toBe(0);
    await picker.selectOption('llava');
    await page.getByRole('button', { name: 'Attach image' }).waitFor();
    await page.locator('#composer-images').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await page.getByRole('img', { name: 'Attached image 1' }).waitFor();
    await page.getByLabel('Your message').fill('What is in this picture?');
    mkdirSync(SCREENS, { recursive: true });
    await page.locator('.composer').screenshot({ path: join(SCREENS, 'composer-attached-image.png') });
    const before = gateway.scripted.seen.length;
    await page.getByLabel('Your message').press('Enter');
    await page.locator('.message.assistant:not(.streaming)').waitFor({ timeout: 30_000 });
    const request = gateway.scripted.seen.slice(before).find((r) => r.model === 'llava:latest') as ChatRequest;
    const user = request.messages.at(-1)!;
    expect(user.content).toBe('What is in this picture?');
    expect(user.images).toEqual([PNG.toString('base64')]);
    // Shown in the conversation and stored with the turn.
    await page.locator('.message.user .message-images img').waitFor();
    const stored = (await api<UiChat>(page, 'GET', `/ui/v1/chats/${chatIdOf(page)}`)).body;
    expect(stored.messages[0]!.images).toEqual([`data:image/png;base64,${PNG.toString('base64')}`]);
    await page.context().close();
  });

  it('keeps writing an answer after its tab closed: reopened, the chat attaches to it and then shows it whole', async () => {
    const page = await signedIn(gateway, 'carol@uni.example', false);
    await page.getByLabel('Model', { exact: true }).selectOption('tiny');
    gateway.answers.holdNext();
    await page.getByLabel('Your message').fill('Tell me about circles');
    await page.getByLabel('Your message').press('Enter');
    await expect.poll(async () => (await page.locator('.message.streaming .markdown').textContent())?.trim(), { timeout: 30_000 }).toBe('The');
    const chatId = chatIdOf(page);
    const context = page.context();
    await page.close();

    // Another tab of the same browser opens the chat while the answer is still being written.
    const again = await context.newPage();
    await again.goto(`/c/${chatId}`);
    await expect.poll(async () => (await again.locator('.message.streaming .markdown').textContent())?.trim(), { timeout: 30_000 }).toBe('The');
    expect(gateway.app.answers.running).toBe(1);
    gateway.answers.release();
    const answer = again.locator('.message.assistant:not(.streaming) .markdown');
    await expect.poll(() => answer.textContent(), { timeout: 30_000 }).toContain('A typo:');
    expect(await again.locator('.message.assistant .note', { hasText: 'Stopped' }).count()).toBe(0);
    await again.close();

    // A tab closed for good: the answer was stored whole, and a fresh page shows it.
    gateway.answers.holdNext();
    const third = await context.newPage();
    await third.goto(`/c/${chatId}`);
    await third.getByLabel('Your message').fill('And squares?');
    await third.getByLabel('Your message').press('Enter');
    await expect.poll(async () => (await third.locator('.message.streaming .markdown').textContent())?.trim(), { timeout: 30_000 }).toBe('The');
    await third.close();
    gateway.answers.release();
    await expect.poll(() => gateway.app.answers.running, { timeout: 30_000 }).toBe(0);
    const last = await context.newPage();
    await last.goto(`/c/${chatId}`);
    await expect.poll(() => last.locator('.message.assistant:not(.streaming)').count(), { timeout: 30_000 }).toBe(2);
    const stored = (await api<UiChat>(last, 'GET', `/ui/v1/chats/${chatId}`)).body;
    expect(stored.messages.map((m) => [m.role, m.finish])).toEqual([['user', null], ['assistant', 'stop'], ['user', null], ['assistant', 'stop']]);
    expect(stored.messages[3]!.content).toBe(SCRIPTED_ANSWER.join(''));
    await context.close();
  });
});

describe.skipIf(!hasChromium)('chats encrypted at rest, in Chromium', { timeout: 180_000 }, () => {
  let gateway: WebGateway;
  const SECRET = 'Zebrafish-quantum-marmalade';

  const dir = mkdtempSync(join(tmpdir(), 'flexi-e2e-encrypted-'));
  const file = join(dir, 'flexi.db');

  beforeAll(async () => {
    gateway = await startWebGateway({ extraConfig: 'privacy:\n  encrypt_chats: true\n', sqliteFile: file });
    await gateway.app.identity.admin.addUser('test', { email: 'dave@uni.example', roles: ['student'], password: PASSWORD });
  }, 120_000);

  afterAll(async () => {
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps no chat text in the database files (WAL included), while the chat and its export show it', async () => {
    const page = await signedIn(gateway, 'dave@uni.example', true);
    await page.getByLabel('Model', { exact: true }).selectOption('tiny');
    await page.getByLabel('Your message').fill(`My secret word is ${SECRET}`);
    await page.getByLabel('Your message').press('Enter');
    await page.locator('.message.assistant:not(.streaming)').waitFor({ timeout: 30_000 });
    expect(await page.locator('.message.user .bubble').textContent()).toBe(`My secret word is ${SECRET}`);
    await expect.poll(() => page.locator('.chat-list').textContent()).toContain(SECRET);
    const chatId = chatIdOf(page);

    const exported = await api<string>(page, 'GET', `/ui/v1/chats/${chatId}/export?format=markdown`);
    expect(exported.status).toBe(200);
    expect(exported.body).toContain(SECRET);
    expect(exported.body).toContain('A typo:');
    const search = await api<{ data: { id: string }[] }>(page, 'GET', `/ui/v1/chats?q=${encodeURIComponent(SECRET.slice(0, 9))}`);
    expect(search.body.data.map((c) => c.id)).toEqual([chatId]);

    const files = readdirSync(dir).map((name) => join(dir, name));
    expect(files.some((f) => f.endsWith('-wal'))).toBe(true);
    for (const file of files) {
      const bytes = readFileSync(file);
      expect(bytes.includes(Buffer.from(SECRET)), file).toBe(false);
      expect(bytes.includes(Buffer.from('A typo:')), file).toBe(false);
      expect(bytes.includes(Buffer.from('area of a circle')), file).toBe(false);
    }

    // Settings say the chats are encrypted and make a recovery key, shown once.
    await page.goto('/settings');
    await page.getByRole('heading', { name: 'Chat encryption' }).waitFor();
    expect(await page.getByText('Your chats are encrypted').count()).toBe(1);
    await page.getByRole('button', { name: 'Create a recovery key' }).click();
    expect(await page.getByTestId('recovery-key').textContent()).toMatch(/^[A-Z2-9]{5}(-[A-Z2-9]{5}){7}$/);
    await page.getByText('You have a recovery key.').waitFor();
    await page.context().close();
  });
});
