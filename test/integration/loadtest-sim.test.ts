import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { PAPER_PROMPTS } from '../../src/lab/data/paper-appendix-a.js';

// Straightforward re-implementations, deliberately not imported from src/lab/loadtest/.
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - avg(xs)) ** 2, 0) / (xs.length - 1)));
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * p;
  return s[Math.floor(i)]! + (s[Math.ceil(i)]! - s[Math.floor(i)]!) * (i - Math.floor(i));
}
function fmt(mean: number, sdev: number): string {
  const d = Math.abs(mean) >= 10 ? 0 : Math.abs(mean) >= 1 ? 1 : Math.abs(mean) >= 0.1 ? 2 : 3;
  return `${mean.toFixed(d)} ± ${sdev.toFixed(d)}`;
}

interface Rec {
  model: string; promptIndex: number; level: number; warmup: boolean; ok: boolean; errorKind?: string;
  e2eMs: number; ttftMs?: number; startedAtMs: number; outputTokens?: number; timeScale: number;
}

let sim: SimServer;
let dir: string;
let stdout = '';
let records: Rec[];
let summary: {
  cells: { model: string; promptIndex: number; level: number; requests: number; latencyS: Record<string, number> | null;
    ttftS: Record<string, number> | null; throughputTokensPerS: number | null; paper?: { meanS: number; sdS: number } }[];
  models: { model: string; level: number; latencyS: Record<string, number> | null }[];
  setup: { timeScale: number; timeScaleSource: string };
};

beforeAll(async () => {
  sim = await startSimServer({ port: 0, speed: 200 });
  dir = mkdtempSync(join(tmpdir(), 'flexi-loadtest-'));
  const prompts = join(dir, 'prompts.json');
  writeFileSync(prompts, JSON.stringify([PAPER_PROMPTS[0], PAPER_PROMPTS[4]]));
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    await runCli(['node', 'flexi', 'loadtest', '--url', sim.url, '--models', 'phi3,gemma', '--prompts', prompts, '--concurrency', '1,4',
      '--requests', '4', '--max-tokens', '40', '--compare', 'paper', '--out', join(dir, 'out')]);
  } finally {
    spy.mockRestore();
  }
  records = readFileSync(join(dir, 'out', 'requests.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
  summary = JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8')) as typeof summary;
}, 120_000);

afterAll(async () => {
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
});

describe('flexi loadtest against flexi sim (paper-server-b)', () => {
  it('prints the paper-form table with the paper\'s numbers beside the measured ones', () => {
    expect(process.exitCode ?? 0).toBe(0);
    expect(stdout).toContain('Time [s] per request, mean ± sd');
    expect(stdout).toContain(`Prompt 1: ${PAPER_PROMPTS[0]}`);
    expect(stdout).toMatch(/phi3\s+\S+ ± \S+\s+4 ± 3/); // the paper's phi3, cake prompt, 1 CQ
    expect(stdout).toContain('report.html');
  });

  it('writes every request and reads the time scale from the sim\'s x-sim-speed header', () => {
    // 2 models × (1 warm-up + 2 prompts × (4 + 4))
    expect(records).toHaveLength(34);
    expect(records.every((r) => r.timeScale === 200 && r.ok)).toBe(true);
    expect(summary.setup).toMatchObject({ timeScale: 200, timeScaleSource: 'x-sim-speed' });
  });

  it('summary.json matches statistics recomputed from requests.jsonl', () => {
    for (const cell of summary.cells) {
      const group = records.filter((r) => !r.warmup && r.model === cell.model && r.promptIndex === cell.promptIndex && r.level === cell.level);
      expect(cell.requests).toBe(group.length);
      const latency = group.filter((r) => r.ok || r.errorKind === 'timeout').map((r) => r.e2eMs / 1000);
      expect(cell.latencyS!.mean).toBeCloseTo(avg(latency), 9);
      expect(cell.latencyS!.sd).toBeCloseTo(sd(latency), 9);
      expect(cell.latencyS!.p50).toBeCloseTo(pct(latency, 0.5), 9);
      expect(cell.latencyS!.p95).toBeCloseTo(pct(latency, 0.95), 9);
      const ttft = group.filter((r) => r.ok).map((r) => r.ttftMs! / 1000);
      expect(cell.ttftS!.p90).toBeCloseTo(pct(ttft, 0.9), 9);
      const tokens = group.filter((r) => r.ok).reduce((a, r) => a + (r.outputTokens ?? 0), 0);
      const wallS = (Math.max(...group.map((r) => r.startedAtMs + r.e2eMs)) - Math.min(...group.map((r) => r.startedAtMs))) / 1000;
      expect(cell.throughputTokensPerS!).toBeCloseTo(tokens / wallS, 6);
    }
    expect(summary.cells.find((c) => c.model === 'gemma' && c.promptIndex === 1 && c.level === 1)!.paper).toEqual({ meanS: 5, sdS: 1 });
  });

  it('report.html and summary.csv show the recomputed numbers', () => {
    const html = readFileSync(join(dir, 'out', 'report.html'), 'utf8');
    const csv = readFileSync(join(dir, 'out', 'summary.csv'), 'utf8').trim().split('\n');
    const header = csv[0]!.split(',');
    for (const model of ['phi3', 'gemma']) {
      for (const level of [1, 4]) {
        const latency = records.filter((r) => !r.warmup && r.model === model && r.level === level).map((r) => r.e2eMs / 1000);
        expect(html).toContain(`<td>${fmt(avg(latency), sd(latency))}</td>`);
      }
    }
    for (const line of csv.slice(1)) {
      const cols = line.split(',');
      const [model, promptIndex, level] = [cols[0]!, Number(cols[1]), Number(cols[header.indexOf('level')])];
      const latency = records.filter((r) => !r.warmup && r.model === model && r.promptIndex === promptIndex && r.level === level).map((r) => r.e2eMs / 1000);
      // The CSV keeps 6 significant digits: a mean of 208.44254 s is written 208.443 (slow machines, long latencies).
      const mean = avg(latency);
      expect(Math.abs(Number(cols[header.indexOf('latency_s_mean')]) - mean)).toBeLessThanOrEqual(Math.abs(mean) * 5e-6);
    }
    // Self-contained: inline SVG charts, no external scripts, styles or images.
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|<img[^>]+src="http/);
    expect(html).toContain('paper (server B)');
  });
});
