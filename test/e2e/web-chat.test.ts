import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { UiChat } from '../../src/api/ui.js';
import { hasChromium, openPage, PHONE, SCRIPTED_ANSWER, signIn, startWebGateway, type WebGateway } from './web-gateway.js';

/**
 * The web UI end to end in Debian's Chromium against the real gateway: sign-in, the user
 * agreement, chatting with generated models on the embedded llama.cpp engine (streaming, queue
 * notice, stop), history after reload, an XSS payload, and another user's chat id. `tiny`'s answer
 * is scripted (with maths), so the test fails for bugs, not for what a random model wrote.
 */
// Functions given to page.evaluate run in the browser; this project compiles without DOM typings.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const window: any, document: any, MutationObserver: any;

const PASSWORD = 'correct horse battery';
let gateway: WebGateway;
let bobKey: string;

async function api<T>(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  return page.evaluate(async ({ method, path, body }) => {
    const csrf = /(?:^|; )flexi_csrf=([^;]+)/.exec(document.cookie)?.[1] ?? '';
    const response = await fetch(path, {
      method, headers: { 'content-type': 'application/json', 'x-csrf-token': decodeURIComponent(csrf) }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: response.status === 204 ? null : await response.json() };
  }, { method, path, body }) as Promise<{ status: number; body: T }>;
}

function chatIdOf(page: Page): string {
  const match = /\/c\/([A-Za-z0-9]+)$/.exec(new URL(page.url()).pathname);
  if (!match) throw new Error(`not on a chat page: ${page.url()}`);
  return match[1]!;
}

/** Records every text the answer in progress showed, to prove it was rendered while streaming. */
async function recordStreaming(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { __partials: string[] }).__partials = seen;
    new MutationObserver(() => {
      const text = document.querySelector('.message.streaming .markdown')?.textContent;
      if (text && seen[seen.length - 1] !== text) seen.push(text);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

describe.skipIf(!hasChromium)('web UI in Chromium', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    gateway = await startWebGateway();
    const admin = gateway.app.identity.admin;
    await admin.addUser('test', { email: 'alice@uni.example', roles: ['student'], password: PASSWORD, displayName: 'Alice' });
    const bob = await admin.addUser('test', { email: 'bob@uni.example', roles: ['student'], password: PASSWORD });
    bobKey = (await admin.createKey('test', { user: bob.id, name: 'bob-script' })).key;
  }, 120_000);

  afterAll(async () => {
    await gateway?.close();
  });

  let alice: Page;
  let firstChatId: string;

  it('signs in, requires the agreement first, and streams a scripted answer with maths without a CSP violation', async () => {
    const { page, errors } = await openPage(gateway);
    alice = page;
    // The signed-out page asks once who is signed in, not in a loop.
    let meCalls = 0;
    page.on('request', (request) => { if (new URL(request.url()).pathname === '/auth/me') meCalls++; });
    await page.goto('/');
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    await page.waitForTimeout(500);
    expect(meCalls).toBe(1);
    await signIn(page, 'alice@uni.example', PASSWORD);
    await page.getByRole('heading', { name: 'User agreement' }).waitFor();
    expect(await page.locator('.agreement-text').textContent()).toContain('Nothing you type is sent to an outside company');
    // Nothing else works before accepting: the API refuses the session too.
    expect((await api<{ error: { code: string } }>(page, 'GET', '/ui/v1/chats')).body.error.code).toBe('agreement_required');
    await page.getByRole('button', { name: 'I accept' }).click();

    const picker = page.getByLabel('Model', { exact: true });
    await picker.waitFor();
    expect(await picker.locator('option').allTextContents()).toEqual(['slow', 'tiny']);
    // The student role's default_model, not the alphabetically first model.
    expect(await picker.inputValue()).toBe('tiny');
    expect(await page.locator('#model-description').textContent()).toBe('Tiny test model: quick answers');
    await picker.selectOption('slow');
    expect(await page.locator('#model-description').textContent()).toMatch(/^llama · .+ · Q8_0 · 2048 tokens$/);
    await picker.selectOption('tiny');

    await recordStreaming(page);
    gateway.answers.holdNext();
    await page.getByLabel('Your message').fill('Hello there, model');
    await page.getByLabel('Your message').press('Enter');
    // The first word is on the page while the rest is held back: the answer streams.
    await expect.poll(async () => (await page.locator('.message.streaming .markdown').textContent())?.trim(), { timeout: 30_000 }).toBe('The');
    gateway.answers.release();
    const answer = page.locator('.message.assistant:not(.streaming)');
    await answer.waitFor({ timeout: 30_000 });
    expect(await answer.locator('.model-tag').textContent()).toBe('tiny');
    const partials = await page.evaluate(() => (window as unknown as { __partials: string[] }).__partials);
    const final = await answer.locator('.markdown').textContent();
    expect(partials[0]!.trim()).toBe('The');
    expect(final).toContain('The area of a circle is');
    // Inline and display maths as MathML; the TeX error (`\frac{1}`) as KaTeX's error text.
    await expect.poll(() => answer.locator('.markdown math').count(), { timeout: 10_000 }).toBe(2);
    expect(await answer.locator('.math-display math').count()).toBe(1);
    expect(await answer.locator('.katex-error').count()).toBe(1);

    firstChatId = chatIdOf(page);
    await expect.poll(() => page.locator('.chat-list').textContent()).toContain('Hello there, model');
    const stored = (await api<UiChat>(page, 'GET', `/ui/v1/chats/${firstChatId}`)).body;
    expect(stored.messages.map((m) => [m.role, m.finish])).toEqual([['user', null], ['assistant', 'stop']]);
    expect(stored.messages[1]!.content).toBe(SCRIPTED_ANSWER.join(''));
    // No CSP violation (openPage collects them) although the answer holds maths and a TeX error.
    expect(errors).toEqual([]);
  });

  it('shows the queue position while waiting, streams, and stops on request', async () => {
    const page = alice;
    // Bob's script holds the only slot of `slow`: Alice's request has to wait.
    const hold = new AbortController();
    const held = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', signal: hold.signal, headers: { authorization: `Bearer ${bobKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'occupy the slot' }] }),
    });
    const reader = held.body!.getReader();
    await reader.read();

    await page.getByRole('link', { name: 'New chat' }).click();
    await page.getByLabel('Model', { exact: true }).selectOption('slow');
    await page.getByLabel('Your message').fill('Tell me a long story');
    await page.getByRole('button', { name: 'Send' }).click();
    const notice = page.getByTestId('queue-notice');
    await notice.waitFor({ timeout: 15_000 });
    expect(await notice.textContent()).toContain('Waiting in the queue: position 1');

    hold.abort();
    await reader.cancel().catch(() => undefined);
    const streaming = page.locator('.message.streaming .markdown');
    await streaming.waitFor({ timeout: 30_000 });
    const stop = page.getByRole('button', { name: 'Stop' });
    expect(await stop.isVisible()).toBe(true);
    await stop.click();
    await page.locator('.message.assistant .note', { hasText: 'Stopped' }).waitFor();
    expect(await page.getByRole('button', { name: 'Send' }).isVisible()).toBe(true);

    const stored = (await api<UiChat>(page, 'GET', `/ui/v1/chats/${chatIdOf(page)}`)).body;
    expect(stored.messages.map((m) => [m.role, m.finish])).toEqual([['user', null], ['assistant', 'stopped']]);
    // The gateway cancelled the generation upstream: the slot is free again.
    await expect.poll(() => [...gateway.app.dispatcher.inFlight().values()].reduce((a, b) => a + b, 0), { timeout: 10_000 }).toBe(0);
  });

  it('finds the chats again after a reload, and edits and resends a question', async () => {
    const page = alice;
    await page.goto(`/c/${firstChatId}`);
    await page.locator('.message.assistant').first().waitFor();
    // The sidebar's list loads on its own request, which may answer after the chat itself rendered.
    await expect.poll(() => page.locator('.chat-item').count(), { timeout: 30_000 }).toBe(2);
    expect(await page.locator('.message.user .bubble').textContent()).toBe('Hello there, model');

    await page.getByRole('searchbox', { name: 'Search chats' }).fill('long story');
    await expect.poll(() => page.locator('.chat-item').count()).toBe(1);
    await page.getByRole('searchbox', { name: 'Search chats' }).fill('');
    await expect.poll(() => page.locator('.chat-item').count()).toBe(2);

    await page.locator('.message.user').hover();
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.getByLabel('Edit message').fill('A different question');
    await page.getByRole('button', { name: 'Save and send' }).click();
    await page.locator('.message.assistant:not(.streaming)').waitFor({ timeout: 30_000 });
    await expect.poll(async () => (await api<UiChat>(page, 'GET', `/ui/v1/chats/${firstChatId}`)).body.messages.map((m) => m.content.slice(0, 20)).slice(0, 1))
      .toEqual(['A different question']);
    expect(await page.locator('.message').count()).toBe(2);
  });

  it('renders an XSS payload inert, and code and maths properly', async () => {
    const page = alice;
    const payload = [
      'Look: <script>window.__xss = 1</script>',
      '<img src="x" onerror="window.__xss = 2">',
      '[click me](javascript:window.__xss=3) and <a href="javascript:window.__xss=4">this</a>',
      '<svg onload="window.__xss = 5"></svg><iframe srcdoc="<script>parent.__xss=6</script>"></iframe>',
      '<div style="position:fixed;inset:0" onclick="window.__xss = 7">overlay</div>',
      '',
      '```python',
      'def area(r):',
      '    return 3.14 * r ** 2',
      '```',
      '',
      'Energy: $$E = mc^2$$ and inline $a_1 + b_1$.',
    ].join('\n');
    const chat = (await api<UiChat>(page, 'POST', '/ui/v1/chats', { title: 'XSS probe' })).body;
    await api(page, 'POST', `/ui/v1/chats/${chat.id}/messages`, {
      messages: [{ role: 'user', content: '<img src=x onerror="window.__xss = 8">' }, { role: 'assistant', content: payload, model: 'tiny', finish: 'stop' }],
    });
    await page.goto(`/c/${chat.id}`);
    const answer = page.locator('.message.assistant .markdown');
    await answer.waitFor();
    await page.locator('.markdown math').first().waitFor({ timeout: 10_000 });
    await page.locator('.markdown div').filter({ hasText: 'overlay' }).click().catch(() => undefined);
    await page.locator('.markdown a', { hasText: 'click me' }).click({ noWaitAfter: true }).catch(() => undefined);

    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator('.message script, .message iframe, .message [onerror], .message [onload], .message [onclick], .message [style]').count()).toBe(0);
    const hrefs = await page.locator('.markdown a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    expect(hrefs.every((href) => href === null || !/^\s*javascript:/i.test(href))).toBe(true);
    expect(await page.locator('.message.user .bubble').textContent()).toContain('<img src=x');

    expect(await page.locator('.code-block code.language-python .hljs-keyword').first().textContent()).toBe('def');
    const copy = page.getByRole('button', { name: 'Copy code' });
    expect(await copy.count()).toBe(1);
    expect(await page.locator('.math-display math').count()).toBe(1);
    expect(await page.locator('.markdown math').count()).toBe(2);
  });

  it('answers 404 for another user\'s chat id, in the page and in the API', async () => {
    const { context, page, errors } = await openPage(gateway);
    await signIn(page, 'bob@uni.example', PASSWORD);
    await page.getByRole('button', { name: 'I accept' }).click();
    await page.getByLabel('Model', { exact: true }).waitFor();
    await page.goto(`/c/${firstChatId}`);
    await page.getByRole('heading', { name: '404' }).waitFor();
    expect(await page.locator('main').textContent()).toContain('does not exist or belongs to someone else');
    expect(await page.locator('.message').count()).toBe(0);
    expect((await api(page, 'GET', `/ui/v1/chats/${firstChatId}`)).status).toBe(404);
    expect((await api(page, 'DELETE', `/ui/v1/chats/${firstChatId}`)).status).toBe(404);
    expect(await page.locator('.chat-item').count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('lets an admin add a user with a password and reset it; the user changes it in settings', async () => {
    await gateway.app.identity.admin.addUser('test', { email: 'carol@uni.example', roles: ['admin'], password: PASSWORD });
    const admin = await openPage(gateway);
    await signIn(admin.page, 'carol@uni.example', PASSWORD);
    await admin.page.getByRole('button', { name: 'I accept' }).click();
    await admin.page.getByLabel('Model', { exact: true }).waitFor();
    await admin.page.goto('/admin/users');
    await admin.page.getByLabel('E-mail', { exact: true }).fill('dan@uni.example');
    await admin.page.getByRole('textbox', { name: 'Roles (comma-separated)' }).fill('student');
    await admin.page.getByLabel('Password (min. 8 characters)').fill('dans-first-password');
    await admin.page.getByRole('button', { name: 'Add user' }).click();
    await admin.page.locator('td', { hasText: 'dan@uni.example' }).waitFor();

    const dan = await openPage(gateway);
    await signIn(dan.page, 'dan@uni.example', 'dans-first-password');
    await dan.page.getByRole('heading', { name: 'User agreement' }).waitFor();

    await admin.page.getByRole('button', { name: 'Set password: dan@uni.example' }).click();
    await admin.page.getByLabel('New password for dan@uni.example').fill('dans-reset-password');
    await admin.page.getByRole('button', { name: 'Set password', exact: true }).click();
    await admin.page.getByText('Password set for dan@uni.example').waitFor();
    // The reset ended Dan's session.
    expect((await api(dan.page, 'GET', '/auth/me')).status).toBe(401);
    await dan.context.close();

    const phone = await openPage(gateway, { ...PHONE, viewport: { width: 375, height: 812 } });
    await signIn(phone.page, 'dan@uni.example', 'dans-reset-password');
    await phone.page.getByRole('button', { name: 'I accept' }).click();
    await phone.page.getByLabel('Model', { exact: true }).waitFor();
    await phone.page.goto('/settings');
    await phone.page.getByLabel('Current password').fill('dans-reset-password');
    await phone.page.getByLabel('New password', { exact: true }).fill('dans-own-password');
    await phone.page.getByRole('button', { name: 'Change password' }).click();
    await phone.page.getByText('Password changed').waitFor();
    expect((await api(phone.page, 'GET', '/auth/me')).status).toBe(200);
    expect(await gateway.app.identity.users.verifyPassword('dan@uni.example', 'dans-own-password')).toBeDefined();
    expect([...admin.errors, ...phone.errors]).toEqual([]);
    await phone.context.close();
    await admin.context.close();
  });

  it('shows settings with the key table on a 375 px phone without sideways scrolling', async () => {
    const { context, page, errors } = await openPage(gateway, { ...PHONE, viewport: { width: 375, height: 812 } });
    await signIn(page, 'carol@uni.example', PASSWORD);
    await page.getByLabel('Model', { exact: true }).waitFor();
    await page.goto('/settings');
    for (const name of ['thesis-cluster-batch-evaluation-runner', 'laptop']) {
      await page.getByLabel('Name', { exact: true }).fill(name);
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.locator('td', { hasText: name }).waitFor();
    }
    const overflow = await page.evaluate(() => [document.documentElement, ...document.querySelectorAll('.page, .page-body, .card')]
      .filter((el: { scrollWidth: number; clientWidth: number }) => el.scrollWidth > el.clientWidth + 1)
      .map((el: { className: string; scrollWidth: number; clientWidth: number }) => `${el.className || 'html'}: ${el.scrollWidth} > ${el.clientWidth}`));
    expect(overflow).toEqual([]);
    // Every cell of the key table is within the screen (none clipped off to the right).
    const right = await page.locator('.keys-table td, .keys-table th').evaluateAll((cells) => Math.max(...cells.map((c) => c.getBoundingClientRect().right)));
    expect(right).toBeLessThanOrEqual(375);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('shows the admin keys tab on a 375 px phone as labelled blocks with the owner, without sideways scrolling', async () => {
    const { context, page, errors } = await openPage(gateway, { ...PHONE, viewport: { width: 375, height: 812 } });
    await signIn(page, 'carol@uni.example', PASSWORD);
    await page.getByLabel('Model', { exact: true }).waitFor();
    await page.goto('/admin/keys');
    // The owner cell carries its label, and sits below the key's name rather than beside it.
    const owner = page.locator('.keys-table td[data-label="Owner"]', { hasText: 'bob@uni.example' });
    await owner.waitFor();
    const name = page.locator('.keys-table td[data-label="Name"]', { hasText: 'bob-script' });
    const [nameBox, ownerBox] = [await name.boundingBox(), await owner.boundingBox()];
    expect(ownerBox!.y).toBeGreaterThanOrEqual(nameBox!.y + nameBox!.height - 1);
    const overflow = await page.evaluate(() => [document.documentElement, ...document.querySelectorAll('.page-body, .card')]
      .filter((el: { scrollWidth: number; clientWidth: number }) => el.scrollWidth > el.clientWidth + 1)
      .map((el: { className: string; scrollWidth: number; clientWidth: number }) => `${el.className || 'html'}: ${el.scrollWidth} > ${el.clientWidth}`));
    expect(overflow).toEqual([]);
    // Every visible cell is within the screen (the header row is clipped away on phones).
    const right = await page.locator('.keys-table td').evaluateAll((cells) => Math.max(...cells.map((c) => c.getBoundingClientRect().right)));
    expect(right).toBeLessThanOrEqual(375);
    expect(errors).toEqual([]);
    await context.close();
  });
});

if (!hasChromium) {
  it.skip('web UI end-to-end tests need Debian\'s Chromium at /usr/bin/chromium (apt-get install chromium)', () => undefined);
}
