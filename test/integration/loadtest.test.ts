import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.js';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { runLoadTest } from '../../src/lab/loadtest/run-load-test.js';
import { summarize } from '../../src/lab/loadtest/summarize.js';
import { TargetError } from '../../src/lab/client/target.js';
import { startFakeLlmServer, type FakeServer } from '../helpers/fake-llm-server.js';

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function freePortWithNothingListening(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('runLoadTest', () => {
  it('runs every model × prompt × level cell closed-loop over the Ollama protocol, with warm-up', async () => {
    server = await startFakeLlmServer({ protocols: ['ollama', 'openai'], models: { alpha: { tokens: 5 }, beta: { tokens: 3 } } });
    const progress: number[] = [];
    const result = await runLoadTest(
      { url: server.url, models: ['alpha', 'beta'], prompts: ['p one', 'p two'], concurrency: [1, 3], requestsPerCell: 2, warmup: 1 },
      { onProgress: (p) => progress.push(p.done) },
    );
    expect(result.setup.protocol).toBe('ollama');
    // per model: 1 warm-up + 2 prompts × (max(2,1) + max(2,3)) = 11
    expect(result.records).toHaveLength(22);
    expect(result.records.filter((r) => r.warmup)).toHaveLength(2);
    expect(result.records.every((r) => r.ok)).toBe(true);
    expect(progress.at(-1)).toBe(22);
    const alpha = result.records.filter((r) => r.model === 'alpha' && !r.warmup);
    expect(alpha.every((r) => r.outputTokens === 5 && r.outputTokensSource === 'usage')).toBe(true);
    expect(alpha.every((r) => r.server?.evalCount === 5 && r.server.evalDurationMs === 50)).toBe(true);
    expect(alpha.every((r) => r.ttftMs! > 0 && r.ttftMs! <= r.e2eMs && r.itlMs !== undefined && r.tpotMs !== undefined)).toBe(true);
    expect(server.requests[0]!.path).toBe('/api/chat');
    const summary = summarize(result.records, { setup: result.setup });
    expect(summary.cells).toHaveLength(8);
    expect(summary.models).toHaveLength(4);
    const cell = summary.cells.find((c) => c.model === 'beta' && c.promptIndex === 1 && c.level === 3)!;
    expect(cell.requests).toBe(3);
    expect(cell.outputTokensTotal).toBe(9);
  });

  it('detects an OpenAI-only target, reads usage, and counts chunks when usage is missing', async () => {
    server = await startFakeLlmServer({ protocols: ['openai'], models: { gpt: { tokens: 4 }, bare: { tokens: 6, behaviour: 'no_usage' } } });
    const result = await runLoadTest({ url: `${server.url}/v1/`, models: ['gpt', 'bare'], prompts: ['x'], concurrency: [2], requestsPerCell: 2, warmup: 0, maxTokens: 50 });
    expect(result.setup.protocol).toBe('openai');
    expect(server.requests[0]!.body).toMatchObject({ stream: true, max_tokens: 50, stream_options: { include_usage: true } });
    const gpt = result.records.filter((r) => r.model === 'gpt');
    const bare = result.records.filter((r) => r.model === 'bare');
    expect(gpt.every((r) => r.ok && r.outputTokens === 4 && r.outputTokensSource === 'usage')).toBe(true);
    expect(bare.every((r) => r.ok && r.outputTokens === 6 && r.outputTokensSource === 'counted')).toBe(true);
  });

  it('classifies refusals, malformed streams, in-band errors, truncated streams and time-outs', async () => {
    server = await startFakeLlmServer({
      protocols: ['openai'],
      models: {
        busy: { tokens: 3, behaviour: 'refuse' }, garbled: { tokens: 5, behaviour: 'malformed' },
        crashing: { tokens: 5, behaviour: 'mid_stream_error' }, cut: { tokens: 5, behaviour: 'truncate' }, stuck: { tokens: 1, behaviour: 'hang' },
      },
    });
    const result = await runLoadTest({
      url: server.url, models: ['busy', 'garbled', 'crashing', 'cut', 'stuck'], prompts: ['x'], concurrency: [1], requestsPerCell: 1, warmup: 0, timeoutS: 0.3,
    });
    const byModel = Object.fromEntries(result.records.map((r) => [r.model, r]));
    expect(byModel.busy).toMatchObject({ ok: false, errorKind: 'refused', status: 503, retryAfterS: 7 });
    expect(byModel.busy!.errorMessage).toContain('system is full');
    expect(byModel.garbled).toMatchObject({ ok: false, errorKind: 'malformed' });
    expect(byModel.crashing).toMatchObject({ ok: false, errorKind: 'mid_stream' });
    expect(byModel.crashing!.errorMessage).toContain('model runner crashed');
    expect(byModel.cut).toMatchObject({ ok: false, errorKind: 'mid_stream' });
    expect(byModel.cut!.errorMessage).toContain('[DONE]');
    expect(byModel.stuck).toMatchObject({ ok: false, errorKind: 'timeout' });
    const summary = summarize(result.records);
    const stuck = summary.models.find((m) => m.model === 'stuck')!;
    // A time-out counts in the paper's latency at the time waited; a refusal does not.
    expect(stuck.latencyS?.n).toBe(1);
    expect(stuck.latencyS!.mean).toBeGreaterThanOrEqual(0.3);
    expect(summary.models.find((m) => m.model === 'busy')!.latencyS).toBeNull();
  });

  it('says clearly when the target is unreachable, the key is wrong or no model exists', async () => {
    const port = await freePortWithNothingListening();
    await expect(runLoadTest({ url: `http://127.0.0.1:${port}`, models: ['a'] })).rejects.toThrow(/cannot reach .* check --url/);
    server = await startFakeLlmServer({ protocols: ['openai'], models: { a: { tokens: 1 } }, apiKey: 'right' });
    const wrong = runLoadTest({ url: server.url, apiKey: 'wrong', models: ['a'] });
    await expect(wrong).rejects.toBeInstanceOf(TargetError);
    await expect(wrong).rejects.toThrow(/rejected the API key \(HTTP 401\).*--key/);
    await expect(runLoadTest({ url: server.url, apiKey: 'right', models: ['nope'] })).rejects.toThrow(/model nope not found .* lists: a/);
  });

  it('skips a missing model with a warning and measures the others', async () => {
    server = await startFakeLlmServer({ protocols: ['ollama'], models: { a: { tokens: 2 } } });
    const result = await runLoadTest({ url: server.url, models: ['a:latest', 'ghost'], prompts: ['x'], concurrency: [1], requestsPerCell: 1, warmup: 0 });
    expect(result.setup.models).toEqual(['a:latest']);
    expect(result.setup.missingModels).toEqual(['ghost']);
    expect(result.warnings[0]).toMatch(/skipped model ghost/);
    expect(result.records).toHaveLength(1);
  });

  it('returns partial results when the signal stops the run', async () => {
    server = await startFakeLlmServer({ protocols: ['ollama'], models: { a: { tokens: 2 } } });
    const controller = new AbortController();
    const result = await runLoadTest(
      { url: server.url, models: ['a'], prompts: ['x', 'y'], concurrency: [1], requestsPerCell: 5, warmup: 0 },
      { signal: controller.signal, onProgress: (p) => p.done === 3 && controller.abort() },
    );
    expect(result.aborted).toBe(true);
    expect(result.records).toHaveLength(3);
  });

  it('stops with a clear message when the target goes away mid-run', async () => {
    server = await startFakeLlmServer({ protocols: ['ollama'], models: { a: { tokens: 2 } } });
    const fake = server;
    let closed = false;
    const result = await runLoadTest(
      { url: fake.url, models: ['a'], prompts: ['x'], concurrency: [1], requestsPerCell: 50, warmup: 0, maxConsecutiveConnectionErrors: 3 },
      { onRecord: () => { if (!closed) { closed = true; void fake.close(); } } },
    );
    expect(result.fatalError).toMatch(/3 connection errors in a row/);
    expect(result.records.filter((r) => r.errorKind === 'connection').length).toBeGreaterThanOrEqual(3);
    expect(result.records.length).toBeLessThan(50);
    server = undefined;
  });

  it('scales times by the x-sim-speed header and runs open-loop Poisson arrivals with a ramp', async () => {
    server = await startFakeLlmServer({ protocols: ['ollama'], models: { a: { tokens: 2 } }, simSpeed: 1000 });
    const result = await runLoadTest({ url: server.url, models: ['a'], prompts: ['x'], mode: 'open', rates: [200], rampS: 1, requestsPerCell: 20, warmup: 0 });
    expect(result.setup).toMatchObject({ timeScale: 1000, timeScaleSource: 'x-sim-speed', levels: [200] });
    expect(result.records).toHaveLength(20);
    expect(result.records.every((r) => r.timeScale === 1000 && r.level === 200 && r.mode === 'open' && r.timeoutMs === 300_000)).toBe(true);
  });
});

describe('flexi loadtest with bad input', () => {
  it('prints how to fix an unreachable target, exits non-zero and still writes its files', async () => {
    const port = await freePortWithNothingListening();
    const dir = mkdtempSync(join(tmpdir(), 'flexi-lt-bad-'));
    let stderr = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    try {
      await runCli(['node', 'flexi', 'loadtest', '--url', `http://127.0.0.1:${port}`, '--models', 'a', '--out', dir, '--json']);
    } finally {
      spy.mockRestore();
    }
    expect(process.exitCode).toBe(1);
    process.exitCode = undefined;
    expect(stderr).toMatch(/flexi: cannot reach http:\/\/127\.0\.0\.1:\d+ .*check --url/);
    expect(existsSync(join(dir, 'requests.jsonl'))).toBe(true);
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')).fatalError).toMatch(/cannot reach/);
    rmSync(dir, { recursive: true, force: true });
  });
});
