import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../src/lab/catalog/build-catalog.js';
import { readStoredResults } from '../../src/lab/catalog/stored-results.js';
import { hasChromium, openPage, screenshot, signIn, startWebGateway, type WebGateway } from './web-gateway.js';

const PASSWORD = 'correct horse battery staple';

/** Signed in, a first visit shows the user agreement before the app. */
async function acceptAgreement(page: Page): Promise<void> {
  const accept = page.getByRole('button', { name: 'I accept' });
  const modelPicker = page.locator('#model-select');
  await Promise.race([accept.waitFor(), modelPicker.waitFor()]);
  if (await accept.isVisible()) await accept.click();
  await modelPicker.waitFor();
}

describe.skipIf(!hasChromium)('the admin catalog page', { timeout: 120_000 }, () => {
  let gateway: WebGateway;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flexi-catalog-ui-'));
    gateway = await startWebGateway({ extraConfig: `catalog:\n  results_dir: ${JSON.stringify(dir)}` });
    const admin = gateway.app.identity.admin;
    await admin.addUser('test', { email: 'admin@uni.example', roles: ['admin'], password: PASSWORD });
    await admin.addUser('test', { email: 'student@uni.example', roles: ['student'], password: PASSWORD });
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says how to build a catalog, then shows models and recommendations; students are refused', async () => {
    const { context, page, errors } = await openPage(gateway);
    await signIn(page, 'admin@uni.example', PASSWORD);
    await acceptAgreement(page);
    await page.goto('/admin/catalog');
    await page.getByText('No catalog yet').waitFor();

    const catalog = buildCatalog({
      deployed: [{ name: 'llama3', node: 'gpu1', parameterSize: '8.0B', quantization: 'Q4_0' }, { name: 'phi3', node: 'gpu2' }],
      results: readStoredResults(dir), includePaperModels: true,
      useCases: { interactive_chat: { quality: 0.4, speed: 0.4, safety: 0.2, german: 0, openness: 0, minTokensPerS: 15 }, german_language: { quality: 0.3, speed: 0.2, safety: 0.1, german: 0.4, openness: 0, minTokensPerS: 10 } },
    });
    writeFileSync(join(dir, 'catalog.json'), JSON.stringify(catalog));
    await page.reload();
    const rows = page.locator('table.catalog-table tbody tr');
    await rows.first().waitFor();
    await expect(rows.count()).resolves.toBe(catalog.models.length);
    await expect(rows.filter({ hasText: 'llama3' }).textContent()).resolves.toContain('gpu1');
    await expect(rows.filter({ hasText: 'dbrx' }).textContent()).resolves.toContain('not served here');
    await expect(page.getByRole('heading', { name: 'german language' }).isVisible()).resolves.toBe(true);
    expect(errors).toEqual([]);
    await screenshot(page, 'admin-catalog');
    await context.close();

    const student = await openPage(gateway);
    await signIn(student.page, 'student@uni.example', PASSWORD);
    await acceptAgreement(student.page);
    const status = await student.page.evaluate(async () => (await fetch('/admin/v1/catalog')).status);
    expect(status).toBe(403);
    await student.context.close();
  });
});
