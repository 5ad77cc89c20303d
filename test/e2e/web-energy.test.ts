import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/lib/clock.js';
import type { NodeEnergyRecord } from '../../src/store/energy.repository.js';
import type { Store } from '../../src/store/store.js';
import type { NewUsageRecord } from '../../src/store/usage.repository.js';
import { GpuAgent } from '../../src/telemetry/gpu-agent.js';
import { NvidiaSmiReader } from '../../src/telemetry/nvidia-smi-reader.js';
import { openTestStore } from '../helpers/db.js';
import { fakeNvidiaSmiPath } from '../helpers/fake-nvidia-smi.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { CHROMIUM, DESKTOP, hasChromium, SHOTS_DIR } from './web-gateway.js';

/**
 * The admin energy page and the user's own energy figure in real Chromium: a gateway whose node reports an A100
 * pair through a real agent (fake nvidia-smi with a varying load), two weeks of measured energy and requests in
 * the database. Screenshots go to FLEXI_E2E_SCREENS_DIR (default /tmp/flexi-shots).
 */
const SCREENS = process.env.FLEXI_E2E_SCREENS_DIR ?? SHOTS_DIR;
const PASSWORD = 'correct horse battery';
const DAY_MS = 86_400_000;

describe.skipIf(!hasChromium)('energy dashboard in Chromium', { timeout: 180_000 }, () => {
  let dir: string;
  let smi: ReturnType<typeof fakeNvidiaSmiPath>;
  let agent: GpuAgent;
  let app: App;
  let store: Store;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flexi-energy-e2e-'));
    smi = fakeNvidiaSmiPath();
    process.env.FAKE_SMI_SWEEP = join(dir, 'sweep');
    const now = Date.now();
    const agentClock = new ManualClock(now - 180_000);
    agent = new GpuAgent({ reader: new NvidiaSmiReader({ command: smi.command }), intervalMs: 1000, capacity: 600, clock: agentClock });
    const agentUrl = `http://127.0.0.1:${await agent.listen('127.0.0.1', 0)}`;
    store = await openTestStore('sqlite');
    const config = loadConfig({
      overrides: {
        'auth.cookie_secure': false, 'energy.scrape_interval_ms': 600_000,
        nodes: [{ name: 'gpu-a100', type: 'sim', url: 'http://127.0.0.1:9', telemetry: { url: agentUrl } }],
      },
    });
    app = await createApp({ config, backends: [new ScriptedBackend({ name: 'gpu-a100', models: ['llama3.1:8b', 'mixtral:8x22b', 'qwen2.5:32b'] })], store, webRoot: fileURLToPath(new URL('../../web/dist/', import.meta.url)) });
    await app.server.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
    // Three minutes of samples: the first is the scraper's baseline, the rest arrive in the second round.
    await agent.sampleOnce();
    await app.energy.scraper!.scrapeAll();
    for (let i = 0; i < 90; i++) {
      agentClock.advance(2000);
      await agent.sampleOnce();
    }
    await app.energy.scraper!.scrapeAll();

    await app.identity.admin.addUser('test', { email: 'ops@uni.example', roles: ['admin'], password: PASSWORD });
    const student = await app.identity.admin.addUser('test', { email: 'student@uni.example', roles: ['student'], password: PASSWORD });
    // Two weeks: a node's measured energy per hour (idle at night) and the requests that carried most of it.
    const hours: NodeEnergyRecord[] = [];
    const records: NewUsageRecord[] = [];
    const models = [['llama3.1:8b', 0.5, 900], ['mixtral:8x22b', 0.3, 260], ['qwen2.5:32b', 0.2, 420]] as const;
    for (let day = 13; day >= 0; day--) {
      for (let hour = 0; hour < 24; hour += 1) {
        const start = Date.UTC(new Date(now - day * DAY_MS).getUTCFullYear(), new Date(now - day * DAY_MS).getUTCMonth(), new Date(now - day * DAY_MS).getUTCDate(), hour);
        if (start > now - 3_600_000) continue;
        const busy = hour >= 8 && hour < 20 ? 0.6 + 0.3 * Math.sin(day + hour) : 0.05;
        const joules = 3600 * (140 + 500 * busy) * (day % 7 >= 5 ? 0.6 : 1);
        hours.push({ node: 'gpu-a100', startedAt: new Date(start).toISOString(), endedAt: new Date(start + 3_600_000).toISOString(), energyJoules: joules, idleJoules: joules * (1 - busy), gpus: 2 });
        models.forEach(([model, share, tokensPerWh], i) => {
          const wh = (joules * busy * share) / 3600;
          records.push({
            createdAt: new Date(start + 1_800_000 + i).toISOString(), requestId: `r-${day}-${hour}-${i}`, endpoint: '/v1/chat/completions', protocol: 'openai' as const,
            model, status: 200, promptTokens: Math.round(wh * tokensPerWh * 0.3), completionTokens: Math.round(wh * tokensPerWh * 0.7), durationMs: 4000,
            subject: i === 0 ? app.identity.pseudonym(student.id) : null, energyWh: wh,
          });
        });
      }
    }
    await store.energy.insertMany(hours);
    await store.usage.insertMany(records);
    browser = await chromium.launch({
      executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
    mkdirSync(SCREENS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await agent?.stop();
    await store?.close();
    smi?.remove();
    delete process.env.FAKE_SMI_SWEEP;
    rmSync(dir, { recursive: true, force: true });
  });

  async function signedIn(email: string) {
    const context = await browser.newContext({ baseURL: url, ...DESKTOP, viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) errors.push(message.text());
    });
    await page.goto('/');
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'I accept' }).click();
    return { context, page, errors };
  }

  it('shows the GPUs live, energy, cost and CO2 per day and per model, and tokens per kWh', async () => {
    const { context, page, errors } = await signedIn('ops@uni.example');
    await page.goto('/admin/energy');
    await page.getByRole('heading', { name: 'GPUs now' }).waitFor();
    await page.getByRole('heading', { name: 'Energy per model' }).waitFor();
    await page.locator('[data-testid="energy-total"]').waitFor();
    // Live: both A100s with their power of the latest sample, a chart of the node's recent power and load.
    const liveTable = page.locator('.energy-node .table-wrap table');
    await liveTable.getByText('0: NVIDIA A100-SXM4-80GB').waitFor();
    expect(await liveTable.locator('tbody tr').count()).toBe(2);
    expect(await page.locator('.energy-node canvas').count()).toBe(1);
    expect(await page.locator('.energy-node .badge').textContent()).toBe('Telemetry ok');
    // Per day and per model: three charts, the per-model table in energy order with tokens per kWh.
    expect(await page.locator('section[aria-labelledby="energy-day-title"] canvas').count()).toBe(1);
    expect(await page.locator('section[aria-labelledby="energy-model-title"] canvas').count()).toBe(2);
    const modelRows = page.locator('section[aria-labelledby="energy-model-title"] tbody tr td:first-child');
    expect(await modelRows.allTextContents()).toEqual(['(idle)', 'llama3.1:8b', 'mixtral:8x22b', 'qwen2.5:32b']);
    expect(await page.locator('[data-testid="energy-total"]').textContent()).toMatch(/^Total: [\d,.]+ kWh · [\d,.]+ EUR · [\d,.]+ kg CO2 · [\d,.]+ Tokens per kWh$/);
    await page.screenshot({ path: join(SCREENS, 'energy-dashboard.png') });
    await page.locator('section[aria-labelledby="energy-model-title"]').screenshot({ path: join(SCREENS, 'energy-per-model.png') });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('shows a user the energy and CO2 of their own requests as a number', async () => {
    const { context, page, errors } = await signedIn('student@uni.example');
    await page.goto('/settings');
    const figure = page.locator('[data-testid="own-energy"]');
    await figure.waitFor();
    expect(await figure.textContent()).toMatch(/^Your energy use \(30 days\): [\d,.]+ Wh · [\d,.]+ g CO2 · [\d,]+ requests measured$/);
    await page.screenshot({ path: join(SCREENS, 'energy-own.png'), fullPage: false });
    expect(errors).toEqual([]);
    await context.close();
  });
});
