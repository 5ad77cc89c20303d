import { afterEach, describe, expect, it } from 'vitest';
import { readLines } from '../../src/lib/lines.js';
import { parseSimProfile } from '../../src/lab/sim/profile.js';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startSimServer, type SimServer, type SimServerOptions } from '../../src/lab/sim/sim-server.js';

/**
 * `slow` and `wide` answer for minutes of simulated time, so a request holds its slot until the
 * test aborts it; `big` and `slow` cannot be resident together in 10 GB. Tests wait on the
 * sim's state (`waitFor`), never on wall-clock time: they must pass on a loaded machine.
 */
const TEST_PROFILE = parseSimProfile({
  name: 'test',
  memoryGb: 10,
  maxLoadQueue: 2,
  models: [
    { name: 'slow', sizeGb: 4, loadMs: 10, ttftMs: 5, decodeTokensPerSecond: 2, slots: 1, outputTokens: { mean: 100_000, spread: 0 } },
    { name: 'fast', sizeGb: 1, loadMs: 10, ttftMs: 5, decodeTokensPerSecond: 1000, slots: 2, outputTokens: { mean: 20, spread: 0 } },
    { name: 'big', sizeGb: 7, loadMs: 10, ttftMs: 5, decodeTokensPerSecond: 1000, slots: 1, outputTokens: { mean: 20, spread: 0 } },
    { name: 'wide', sizeGb: 1, loadMs: 10, ttftMs: 5, decodeTokensPerSecond: 2, slots: 2, outputTokens: { mean: 100_000, spread: 0 } },
  ],
});

const servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: SimServerOptions = {}): Promise<SimServer> {
  const sim = await startSimServer({ port: 0, profile: TEST_PROFILE, speed: 10, ...options });
  servers.push(sim);
  return sim;
}

function chat(sim: SimServer, model: string, content: string, init: { signal?: AbortSignal; headers?: Record<string, string>; stream?: boolean } = {}): Promise<Response> {
  return fetch(`${sim.url}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], stream: init.stream ?? true }),
    signal: init.signal,
  });
}

/** Starts a streaming request on `slow` and resolves once its first token arrived (it holds the slot). */
async function holdSlow(sim: SimServer): Promise<{ abort(): void; lines: AsyncGenerator<string> }> {
  const controller = new AbortController();
  const response = await chat(sim, 'slow', 'hold', { signal: controller.signal });
  const lines = readLines(response.body!);
  await lines.next();
  return { abort: () => controller.abort(), lines };
}

const model = (info: Awaited<ReturnType<SimServer['state']['waitFor']>>, name: string) => info.models.find((m) => m.name === `${name}:latest`)!;

describe('determinism', () => {
  it('gives the same text for the same seed and request, other text for another seed', async () => {
    const text = async (sim: SimServer): Promise<string> => {
      const response = await chat(sim, 'tiny', 'determinism please', { stream: false });
      return ((await response.json()) as { message: { content: string } }).message.content;
    };
    const a = await start({ seed: 1, profile: TINY, speed: 1000 });
    const b = await start({ seed: 1, profile: TINY, speed: 1000 });
    const c = await start({ seed: 2, profile: TINY, speed: 1000 });
    const first = await text(a);
    expect(first.length).toBeGreaterThan(0);
    expect(await text(b)).toBe(first);
    expect(await text(a)).toBe(first);
    expect(await text(c)).not.toBe(first);
  });
});

describe('slots and queueing', () => {
  it('queues requests beyond the slots FIFO and serves them when a slot frees', async () => {
    const sim = await start();
    const holder = await holdSlow(sim);
    const second = new AbortController();
    const queued = chat(sim, 'slow', 'second', { signal: second.signal });
    let info = await sim.state.waitFor((i) => model(i, 'slow').queued === 1);
    expect(model(info, 'slow').in_flight).toBe(1);
    holder.abort();
    const response = await queued;
    const lines = readLines(response.body!);
    await lines.next();
    info = await sim.state.waitFor((i) => model(i, 'slow').queued === 0);
    expect(model(info, 'slow').in_flight).toBe(1);
    second.abort();
  });

  it('runs up to `slots` streams of a model at once', async () => {
    const sim = await start();
    // `wide` has 2 slots and answers for minutes: the third request must wait in the queue. Each
    // arrival either takes a slot or joins the queue, so running + queued reaches 3 exactly when
    // all three arrived — whatever the machine's speed (the old version timed four real answers).
    const controllers = [1, 2, 3].map(() => new AbortController());
    const responses = controllers.map((c, i) => chat(sim, 'wide', `parallel ${i}`, { signal: c.signal }).catch(() => undefined));
    const info = await sim.state.waitFor((i) => model(i, 'wide').in_flight + model(i, 'wide').queued === 3);
    expect(model(info, 'wide')).toMatchObject({ in_flight: 2, queued: 1 });
    for (const controller of controllers) controller.abort();
    await Promise.all(responses);
  });

  it('answers 503 when the load queue is full', async () => {
    const sim = await start();
    const holder = await holdSlow(sim);
    // `big` cannot load while `slow` is busy, so these wait for the load; the queue holds 2.
    const waiting = [chat(sim, 'big', 'a', { stream: false }), chat(sim, 'big', 'b', { stream: false })];
    await sim.state.waitFor((i) => i.load_queue === 2);
    const refused = await chat(sim, 'big', 'c', { stream: false });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: string }).error).toMatch(/maximum pending requests exceeded/);
    holder.abort();
    expect((await Promise.all(waiting)).map((r) => r.status)).toEqual([200, 200]);
  });
});

describe('memory budget', () => {
  it('evicts the least recently used idle model to make room', async () => {
    const sim = await start();
    await fetch(`${sim.url}/api/generate`, { method: 'POST', body: '{"model":"slow"}' });
    await fetch(`${sim.url}/api/generate`, { method: 'POST', body: '{"model":"fast"}' });
    // slow (4) + fast (1) resident; big (7) needs 2 GB more, so slow (least recently used) goes.
    const load = await (await fetch(`${sim.url}/api/generate`, { method: 'POST', body: '{"model":"big"}' })).json();
    expect(load).toMatchObject({ done_reason: 'load' });
    const info = sim.state.info();
    expect(model(info, 'slow')).toMatchObject({ status: 'unloaded', evictions: 1 });
    expect(model(info, 'fast').status).toBe('loaded');
    expect(info.memory.used_gb).toBe(8);
  });

  it('unloads a model when its keep_alive runs out (in simulated time)', async () => {
    const sim = await start({ speed: 1000 });
    // 1 h simulated is 3.6 s real: long enough that a busy machine still reads the state before
    // it expires (5 s simulated, 5 ms real, had often expired already).
    await fetch(`${sim.url}/api/generate`, { method: 'POST', body: '{"model":"fast","keep_alive":"1h"}' });
    expect(model(sim.state.info(), 'fast').expires_at).not.toBeNull();
    const info = await sim.state.waitFor((i) => model(i, 'fast').status === 'unloaded');
    expect(model(info, 'fast').evictions).toBe(0);
  });

  it('never evicts a busy model: the request for the other model waits', async () => {
    const sim = await start();
    const holder = await holdSlow(sim);
    const bigRequest = chat(sim, 'big', 'wait for memory', { stream: false });
    let info = await sim.state.waitFor((i) => model(i, 'big').waiting_for_load === 1);
    expect(model(info, 'big').status).toBe('waiting');
    expect(model(info, 'slow').status).toBe('loaded');
    holder.abort();
    const response = await bigRequest;
    expect(response.status).toBe(200);
    info = sim.state.info();
    expect(model(info, 'slow').status).toBe('unloaded');
    expect(model(info, 'big').status).toBe('loaded');
  });
});

describe('failure injection', () => {
  it('error: 500 before the first byte, in each protocol\'s shape', async () => {
    const sim = await start();
    const ollama = await chat(sim, 'fast', 'x', { headers: { 'x-sim-fail': 'error' } });
    expect(ollama.status).toBe(500);
    expect(typeof ((await ollama.json()) as { error: unknown }).error).toBe('string');
    const openai = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'x-sim-fail': 'error' }, body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(openai.status).toBe(500);
    expect(await openai.json()).toMatchObject({ error: { type: 'api_error' } });
    expect(sim.state.counters.faults.error).toBe(2);
  });

  it('error rate 1 fails every request', async () => {
    const sim = await start({ faults: { errorRate: 1 } });
    const statuses = await Promise.all([1, 2, 3].map(() => chat(sim, 'fast', 'x').then((r) => r.status)));
    expect(statuses).toEqual([500, 500, 500]);
  });

  it('hang: no answer until the client aborts, which counts a disconnect', async () => {
    const sim = await start();
    const controller = new AbortController();
    const pending = chat(sim, 'fast', 'x', { headers: { 'x-sim-fail': 'hang' }, signal: controller.signal });
    await sim.state.waitFor((i) => i.counters.faults.hang === 1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await sim.state.waitFor((i) => i.counters.disconnects === 1);
  });

  it('drop: the socket closes after a few tokens, without a final chunk', async () => {
    const sim = await start();
    const response = await chat(sim, 'fast', 'x', { headers: { 'x-sim-fail': 'drop' } });
    const lines: string[] = [];
    await expect((async () => {
      for await (const line of readLines(response.body!)) lines.push(line);
    })()).rejects.toThrow();
    expect(lines.length).toBe(3);
    expect(lines.every((line) => (JSON.parse(line) as { done: boolean }).done === false)).toBe(true);
    expect(sim.state.counters.disconnects).toBe(0);
  });

  it('garbage: lines that are not JSON', async () => {
    const sim = await start();
    const response = await chat(sim, 'fast', 'x', { headers: { 'x-sim-fail': 'garbage' } });
    const lines = (await response.text()).split('\n').filter(Boolean);
    expect(() => lines.forEach((line) => JSON.parse(line))).toThrow();
  });

  it('rejects an unknown x-sim-fail value with 400', async () => {
    const sim = await start();
    expect((await chat(sim, 'fast', 'x', { headers: { 'x-sim-fail': 'explode' } })).status).toBe(400);
  });
});

describe('client disconnect', () => {
  it('frees the slot at once', async () => {
    const sim = await start();
    const holder = await holdSlow(sim);
    expect(model(sim.state.info(), 'slow').in_flight).toBe(1);
    holder.abort();
    const info = await sim.state.waitFor((i) => model(i, 'slow').in_flight === 0);
    expect(info.counters.disconnects).toBe(1);
    expect(info.counters.completed).toBe(0);
  });
});
