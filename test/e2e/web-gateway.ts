import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { createApp, type App } from '../../src/app.js';
import { EmbeddedBackend } from '../../src/backends/embedded/embedded.backend.js';
import { loadConfig } from '../../src/config/load.js';
import { UsageRecorder } from '../../src/services/inference/usage-recorder.js';
import { openDatabase, type Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { LLAMA2_CHAT_TEMPLATE, writeTinyLlamaGguf } from '../helpers/gguf-writer.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const SHOTS_DIR = '/tmp/flexi-shots';
const WEB_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/**
 * What `tiny` answers, word by word: fixed text (the e2e must fail for bugs, not for what a random
 * model happened to write), with maths — valid TeX and a TeX error, both of which KaTeX renders.
 */
export const SCRIPTED_ANSWER = [
  'The', ' area', ' of', ' a', ' circle', ' is', ' $A = \\pi r^2$', '.', '\n\n',
  '$$\\int_0^1 x\\,dx = \\frac{1}{2}$$', '\n\n', 'A', ' typo:', ' $\\frac{1}$', ' and', ' a', ' **bold**', ' end.',
];

/** `tiny` is scripted (deterministic); `slow`, a generated GGUF model, takes seconds (room to press stop). */
const CONFIG = `
auth:
  cookie_secure: false
models:
  descriptions:
    tiny: "Tiny test model: quick answers"
roles:
  student:
    models: ["*"]
    max_tokens_per_request: 600
    priority: interactive
    default_model: tiny
  admin:
    models: ["*"]
    admin: true
    api_keys: true
    max_tokens_per_request: 600
embedded:
  context_size: 2048
`;

export interface WebGateway {
  app: App;
  store: Store;
  url: string;
  browser: Browser;
  /** Holds `tiny`'s next answer after its first word until `release()` (to see it streaming). */
  answers: AnswerGate;
  /** The scripted node (`tiny`, and `llava` with `vision`): records every request it saw. */
  scripted: ScriptedBackend;
  close(): Promise<void>;
}

export interface WebGatewayOptions {
  /** Replaces the `auth:` section of the config (e.g. to leave cookie_secure at its default). */
  auth?: string;
  /** Reach the server as http://<hostName>:<port> (Chromium maps the name to 127.0.0.1): not a secure context like 127.0.0.1. */
  hostName?: string;
  /** Also serve `llava` (scripted, listed as a vision model through `chat.vision_models`). */
  vision?: boolean;
  /** YAML appended to the config (whole top-level sections, e.g. `catalog:` or `privacy:`). */
  extraConfig?: string;
  /** A SQLite file (instead of memory), for tests that read the database files. */
  sqliteFile?: string;
}

/** Lets a test hold a scripted answer after its first word, then let it go on. */
export class AnswerGate {
  private words = 0;
  private held: Promise<void> | undefined;
  private releaseHeld: (() => void) | undefined;

  /** The next answer stops after its first word until `release()`. */
  holdNext(): void {
    this.words = 0;
    this.held = new Promise((resolve) => (this.releaseHeld = resolve));
  }

  release(): void {
    this.releaseHeld?.();
    this.held = undefined;
  }

  /** Called by the backend before each word. */
  readonly beforeWord = (): Promise<void> => (this.words++ === 1 && this.held ? this.held : Promise.resolve());
}

/** The web UI must be built (npm ci does it); build it once if a fresh checkout lacks it. */
function ensureWebBuilt(): void {
  if (existsSync(join(WEB_ROOT, 'index.html'))) return;
  execFileSync('npm', ['run', 'build', '-w', 'web', '--silent'], { cwd: fileURLToPath(new URL('../../', import.meta.url)), stdio: 'ignore' });
}

/**
 * The whole product in one process: SQLite store, an embedded llama.cpp node over two generated
 * GGUF models (one slot each, so a second request queues), the built web UI, and Chromium.
 */
export async function startWebGateway(options: WebGatewayOptions = {}): Promise<WebGateway> {
  ensureWebBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'flexi-e2e-'));
  writeTinyLlamaGguf(join(dir, 'slow.gguf'), {
    chatTemplate: LLAMA2_CHAT_TEMPLATE, seed: 2, embd: 512, layers: 8, heads: 8, ff: 1024, vocabSize: 512, contextLength: 2048,
  });
  let fileText = options.auth === undefined ? CONFIG : CONFIG.replace('auth:\n  cookie_secure: false\n', options.auth);
  if (options.vision) fileText += 'chat:\n  vision_models: ["llava*"]\n';
  if (options.extraConfig) fileText += `\n${options.extraConfig}\n`;
  const config = loadConfig({ fileText });
  const answers = new AnswerGate();
  const models = options.vision ? ['tiny:latest', 'llava:latest'] : ['tiny:latest'];
  const scripted = new ScriptedBackend({ name: 'scripted', models, words: SCRIPTED_ANSWER, gate: answers.beforeWord });
  const backend = new EmbeddedBackend({
    name: 'local', modelsDir: dir, slots: 1, contextSize: 2048, gpu: 'cpu', threads: 1, keepAliveSeconds: -1, memoryBudgetBytes: 1 << 30, ignoreEos: true,
  });
  const store = options.sqliteFile ? await openDatabase(options.sqliteFile) : await openTestStore('sqlite');
  if (options.sqliteFile) await store.migrate();
  const recorder = new UsageRecorder(store.usage, { flushIntervalMs: 200, batchSize: 100 });
  const app = await createApp({
    config, backends: [backend, scripted], nodes: [{ name: 'local', type: 'embedded', slots: 1 }], store, webRoot: WEB_ROOT,
    usage: { record: (entry) => recorder.record({ ...entry, createdAt: entry.createdAt.toISOString() }) },
  });
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://${options.hostName ?? '127.0.0.1'}:${(app.server.server.address() as AddressInfo).port}`;
  const hostRules = options.hostName ? [`--host-resolver-rules=MAP ${options.hostName} 127.0.0.1`] : [];
  // Playwright gives every launch a fresh temporary profile (--user-data-dir) and removes it on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', ...hostRules],
  }).catch(async (error: unknown) => {
    await app.close();
    await recorder.close();
    await store.close();
    throw error;
  });
  return {
    app, store, url, browser, answers, scripted,
    close: async () => {
      await browser.close();
      await app.close();
      await recorder.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 }, locale: 'en-US' };
export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US' };

/** A fresh browser profile (own cookies) with a page that fails the test on any dialog, page error or CSP violation. */
export async function openPage(gateway: WebGateway, options: BrowserContextOptions = DESKTOP): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await gateway.browser.newContext({ baseURL: gateway.url, ...options });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  // A blocked script or style would break the UI silently: the security policy must not bite our own bundle.
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) errors.push(`csp: ${message.text()}`);
  });
  page.on('dialog', (dialog) => {
    errors.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return { context, page, errors };
}

export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  await page.screenshot({ path: join(SHOTS_DIR, `${name}.png`), fullPage: false });
}
