import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { readLines } from '../../src/lib/lines.js';
import { parseSimProfile } from '../../src/lab/sim/profile.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';

/** `hold` answers for hours of simulated time: a request keeps its slot until the test aborts it. */
const PROFILE = parseSimProfile({
  name: 'parallel-test',
  memoryGb: 10,
  models: [{ name: 'hold', sizeGb: 1, loadMs: 10, ttftMs: 5, decodeTokensPerSecond: 2, slots: 8, outputTokens: { mean: 100_000, spread: 0 } }],
});

const servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function chat(sim: SimServer, content: string, signal: AbortSignal): Promise<Response> {
  return fetch(`${sim.url}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'hold', messages: [{ role: 'user', content }], stream: true }),
    signal,
  });
}

describe('flexi sim --parallel', { timeout: 180_000 }, () => {
  it('runs N requests of a model at once and keeps the rest waiting FIFO inside the sim, first token only once a slot frees', async () => {
    const sim = await startSimServer({ port: 0, profile: PROFILE, speed: 10, parallel: 2 });
    servers.push(sim);
    const controllers = [0, 1, 2].map(() => new AbortController());
    const first = await Promise.all([0, 1].map(async (i) => {
      const lines = readLines((await chat(sim, `run ${i}`, controllers[i]!.signal)).body!);
      await lines.next();
      return lines;
    }));
    expect(first).toHaveLength(2);
    const queuedResponse = chat(sim, 'waits', controllers[2]!.signal);
    let info = await sim.state.waitFor((i) => i.models[0]!.queued === 1);
    expect(info.models[0]).toMatchObject({ slots: 2, in_flight: 2, queued: 1 });
    // Its first token waits for a running request to end (the wait is part of its TTFT).
    controllers[0]!.abort();
    const lines = readLines((await queuedResponse).body!);
    expect((await lines.next()).done).toBe(false);
    info = await sim.state.waitFor((i) => i.models[0]!.queued === 0);
    expect(info.models[0]).toMatchObject({ in_flight: 2 });
    controllers[1]!.abort();
    controllers[2]!.abort();
  });

  it('the built CLI takes --parallel and reports it per model', async () => {
    const child = spawn(process.execPath, ['bin/flexi.js', 'sim', '--port', '0', '--profile', 'tiny', '--parallel', '3', '--json'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const started = JSON.parse(line) as { url: string; parallel: Record<string, number> };
      expect(Object.values(started.parallel).every((n) => n === 3)).toBe(true);
      const info = (await (await fetch(`${started.url}/sim/info`)).json()) as { models: { slots: number }[] };
      expect(info.models.map((m) => m.slots).every((n) => n === 3)).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('the built CLI refuses a --parallel that is not a positive integer in one line', async () => {
    const child = spawn(process.execPath, ['bin/flexi.js', 'sim', '--port', '0', '--parallel', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).not.toBe(0);
    expect(stderr.trim()).toMatch(/^.*--parallel must be an integer in 1…4096, got "0"$/);
  });
});
