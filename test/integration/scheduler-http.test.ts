import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { readSseEvents } from '../../src/lib/lines.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

const headers = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
let gateway: TestGateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

/** Holds every stream until `release()`; a real engine's slot stays busy meanwhile. */
function makeLatch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait: () => opened, release: () => open() };
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not met in time');
}

const chat = (extra: object = {}) => JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('the scheduler in the request path', () => {
  it('queues beyond the slots, tells a waiting stream its position, and reports the queue time', async () => {
    const latch = makeLatch();
    const backend = new ScriptedBackend({ name: 'one', gate: latch.wait });
    gateway = await startGateway([backend], { config: { fileText: 'nodes:\n  - { name: one, type: sim, url: "http://127.0.0.1:9", slots: 1 }\n' } });
    const first = fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat() });
    await until(() => backend.active === 1);
    const waiting = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat({ stream: true }) });
    expect(waiting.status).toBe(200);
    const reader = waiting.body!.getReader();
    const comment = new TextDecoder().decode((await reader.read()).value);
    expect(comment).toMatch(/^: queued position=1/);
    latch.release();
    const done = await first;
    expect(done.status).toBe(200);
    let rest = comment;
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain('data: [DONE]');
    const snapshot = gateway.app.scheduler!.snapshot();
    expect(snapshot.counters.admitted).toBe(2);
    expect(snapshot.nodes[0]!.inFlight).toBe(0);
  });

  it('refuses a user over their fair share with 429 and Retry-After when the queue is full', async () => {
    const latch = makeLatch();
    const backend = new ScriptedBackend({ name: 'one', gate: latch.wait });
    gateway = await startGateway([backend], {
      config: { fileText: 'nodes:\n  - { name: one, type: sim, url: "http://127.0.0.1:9", slots: 1 }\nscheduler:\n  max_queue_per_model: 1\n' },
    });
    const running = fetch(`${gateway.url}/api/generate`, { method: 'POST', headers, body: JSON.stringify({ model: 'tiny', prompt: 'x', stream: false }) });
    await until(() => backend.active === 1);
    const queued = fetch(`${gateway.url}/api/generate`, { method: 'POST', headers, body: JSON.stringify({ model: 'tiny', prompt: 'y', stream: false }) });
    await until(() => gateway!.app.scheduler!.snapshot().counters.admitted === 2);
    const refused = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat() });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    latch.release();
    expect((await running).status).toBe(200);
    const second = await queued;
    expect(second.status).toBe(200);
    expect(Number(second.headers.get('x-flexi-queue-ms'))).toBeGreaterThan(0);
  });

  it('drains a node through the admin API and CLI: new requests go elsewhere, in-flight ones finish', async () => {
    const latch = makeLatch();
    const a = new ScriptedBackend({ name: 'a', gate: latch.wait });
    const b = new ScriptedBackend({ name: 'b' });
    gateway = await startGateway([a, b]);
    const inFlight = fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat() });
    await until(() => a.active === 1);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let printed: string[];
    try {
      await (await buildProgram()).parseAsync(['node', 'flexi', 'nodes', 'drain', 'a', '--url', gateway.url, '--key', TEST_KEY, '--json']);
      await (await buildProgram()).parseAsync(['node', 'flexi', 'nodes', 'status', '--url', gateway.url, '--key', TEST_KEY, '--json']);
    } finally {
      printed = out.mock.calls.map((c) => String(c[0]));
      out.mockRestore();
    }
    expect(JSON.parse(printed[0]!)).toMatchObject({ name: 'a', draining: true, in_flight: 1 });
    const status = JSON.parse(printed[1]!) as { name: string; draining: boolean }[];
    expect(status.find((n) => n.name === 'a')?.draining).toBe(true);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat() });
      expect(response.status).toBe(200);
    }
    expect(b.seen.length).toBe(3);
    latch.release();
    expect((await inFlight).status).toBe(200);
    const undrain = await fetch(`${gateway.url}/admin/v1/nodes/a/undrain`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}` } });
    expect(await undrain.json()).toMatchObject({ name: 'a', draining: false });
  });

  it('shows running and waiting requests per model and class with `flexi nodes queues`', async () => {
    const latch = makeLatch();
    const backend = new ScriptedBackend({ name: 'one', gate: latch.wait });
    gateway = await startGateway([backend], { config: { fileText: 'nodes:\n  - { name: one, type: sim, url: "http://127.0.0.1:9", slots: 1 }\n' } });
    const requests = [fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat() })];
    await until(() => backend.active === 1);
    requests.push(fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat() }));
    await until(() => gateway!.app.scheduler!.snapshot().counters.admitted === 2);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let printed: string[];
    try {
      await (await buildProgram()).parseAsync(['node', 'flexi', 'nodes', 'queues', '--url', gateway.url, '--key', TEST_KEY]);
      await (await buildProgram()).parseAsync(['node', 'flexi', 'nodes', 'queues', '--url', gateway.url, '--key', TEST_KEY, '--json']);
    } finally {
      printed = out.mock.calls.map((c) => String(c[0]));
      out.mockRestore();
    }
    // The test key's role (admin) is interactive: one running, one waiting.
    const [head, row] = printed[0]!.trim().split('\n');
    expect(head).toMatch(/^model\s+interactive run\/wait\s+standard run\/wait\s+batch run\/wait\s+retrying\s+done\/s$/);
    expect(row).toMatch(/^tiny:latest\s+1 \/ 1\s+0 \/ 0\s+0 \/ 0\s+0\s+/);
    const json = JSON.parse(printed[1]!) as { model: string; inFlightByClass: Record<string, number>; queuedByClass: Record<string, number> }[];
    expect(json[0]).toMatchObject({ model: 'tiny:latest', inFlightByClass: { interactive: 1 }, queuedByClass: { interactive: 1 } });
    latch.release();
    expect((await Promise.all(requests)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('exports queue, node and refusal series on /metrics and the live state on /admin/v1/scheduler', async () => {
    gateway = await startGateway([new ScriptedBackend({ name: 'one' })]);
    await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat() });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    for (const series of ['flexi_queue_length', 'flexi_node_up{node="one"', 'flexi_scheduler_refusals_total', 'flexi_queue_wait_seconds_bucket', 'flexi_node_in_flight', 'flexi_requests_total', 'flexi_time_to_first_token_seconds_bucket']) {
      expect(metrics).toContain(series);
    }
    const denied = await fetch(`${gateway.url}/admin/v1/scheduler`);
    expect(denied.status).toBe(401);
    const state = await (await fetch(`${gateway.url}/admin/v1/scheduler`, { headers })).json() as { nodes: { name: string }[]; counters: { started: number } };
    expect(state.nodes[0]!.name).toBe('one');
    expect(state.counters.started).toBe(1);
  });

  it('keeps a streamed request refused after it queued as one in-band error frame', async () => {
    const latch = makeLatch();
    const backend = new ScriptedBackend({ name: 'one', gate: latch.wait });
    gateway = await startGateway([backend], {
      config: { fileText: 'nodes:\n  - { name: one, type: sim, url: "http://127.0.0.1:9", slots: 1 }\nscheduler:\n  classes: [{ name: interactive, max_wait_ms: 300 }, { name: standard, max_wait_ms: 300 }, { name: batch, max_wait_ms: 300 }]\n' },
    });
    const running = fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat() });
    await until(() => backend.active === 1);
    const waiting = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: chat({ stream: true }) });
    const events = [];
    for await (const event of readSseEvents(waiting.body!)) events.push(event.data);
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!)).toMatchObject({ error: { code: 'overloaded' } });
    latch.release();
    expect((await running).status).toBe(200);
  });
});
