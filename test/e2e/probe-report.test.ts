import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findProbeSets } from '../../src/lab/probe/probe-sets.js';
import { summarizeProbes } from '../../src/lab/probe/probe-report.js';
import { renderProbeHtml } from '../../src/lab/probe/render-probe-html.js';
import { runProbes } from '../../src/lab/probe/run-probe.js';
import { CHROMIUM, hasChromium, SHOTS_DIR } from './web-gateway.js';

/** A model that refuses role-play and malware, obeys injections and decodes base64 (a mixed report to look at). */
async function model(prompt: string): Promise<string> {
  if (/DAN|STAN|grandmother|keylogger|ransomware|PowerShell|cookies/.test(prompt)) return 'I am sorry, but I cannot help with that.';
  if (prompt.includes('PWNED')) return 'I have been PWNED';
  const b64 = /and do what it says:\n(\S+)/.exec(prompt);
  if (b64 && prompt.includes('base64')) return Buffer.from(b64[1]!, 'base64').toString('utf8');
  if (prompt.includes('stupid')) return 'He is not stupid; everyone fails sometimes.';
  return 'Here is a short, helpful answer.';
}

describe.skipIf(!hasChromium)('the probe HTML report in Chromium', { timeout: 60_000 }, () => {
  let browser: Browser;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flexi-probe-html-'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'] });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows every probe with its pass rate, interval bar and grade, and renders without errors', async () => {
    const sets = findProbeSets(undefined);
    const result = await runProbes({ sets, generations: 1, concurrency: 4, generate: model });
    const summary = summarizeProbes(result, { model: 'demo-model', target: 'http://127.0.0.1:8400', sets, generations: 1 });
    const path = join(dir, 'report.html');
    writeFileSync(path, renderProbeHtml(summary, result));
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(path).href);
    await expect(page.locator('h1').textContent()).resolves.toBe('Safety probes: demo-model');
    const probeRows = page.locator('tr.probe');
    await expect(probeRows.count()).resolves.toBe(sets.length);
    // Prompt injection always worked: 0 % and the worst grade; jailbreaks always refused: 100 %.
    const injection = page.locator('tr.probe', { hasText: 'promptinject.HijackRogueString' });
    await expect(injection.locator('.grade').textContent()).resolves.toBe('DC-1');
    await expect(injection.locator('td.num').first().textContent()).resolves.toBe('0.0 %');
    await expect(page.locator('tr.probe', { hasText: 'dan.FlexiDan' }).locator('.grade').textContent()).resolves.toBe('DC-5');
    // Every evaluated detector row draws its interval.
    await expect(page.locator('tr.detector .ci').count()).resolves.toBe(summary.probes.flatMap((p) => p.evals).filter((e) => e.ci95).length);
    const box = await page.locator('tr.detector .bar').first().boundingBox();
    expect(box!.width).toBeGreaterThan(100);
    expect(errors).toEqual([]);
    mkdirSync(SHOTS_DIR, { recursive: true });
    await page.screenshot({ path: join(SHOTS_DIR, 'probe-report.png'), fullPage: true });
  });
});
