import { describe, expect, it } from 'vitest';
import type { NodeInit } from './node-state.js';
import type { Lease } from './lease.js';
import { Harness, settle } from './testing.js';

const GB = 1024 ** 3;
const ollama = (name: string, slots = 1, extra: Partial<NodeInit> = {}): NodeInit => ({
  name, type: 'ollama', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots, ...extra,
});

describe('Scheduler cancellation', () => {
  it('removes a waiting request whose client went away; it never takes a slot', async () => {
    const h = new Harness([ollama('n1')]);
    const first = h.submit({ userId: 'a' });
    const controller = new AbortController();
    const gone = h.submit({ userId: 'b', signal: controller.signal });
    const next = h.submit({ userId: 'c' });
    await settle();
    controller.abort();
    await settle();
    expect(gone.error).toMatchObject({ code: 'client_closed_request' });
    first.lease!.release();
    await settle();
    expect(next.lease?.node).toBe('n1');
    expect(gone.lease).toBeUndefined();
    expect(h.scheduler.snapshot().counters.cancelledWaiting).toBe(1);
  });

  it('refuses an already aborted request and releases a running lease when its signal aborts', async () => {
    const h = new Harness([ollama('n1')]);
    const aborted = new AbortController();
    aborted.abort();
    await expect(h.scheduler.acquire({ model: 'm', userId: 'a', signal: aborted.signal })).rejects.toMatchObject({ code: 'client_closed_request' });
    const controller = new AbortController();
    const lease = await h.scheduler.acquire({ model: 'm', userId: 'a', signal: controller.signal });
    controller.abort();
    expect(lease.released).toBe(true);
    lease.release();
    const snapshot = h.scheduler.snapshot();
    expect(snapshot.nodes[0]!.inFlight).toBe(0);
    expect(snapshot.counters.cancelledRunning).toBe(1);
    expect(snapshot.counters.completed).toBe(0);
  });
});

describe('Scheduler placement', () => {
  it('loads a cold model where it fits instead of evicting a busy one, and counts implied evictions', async () => {
    const h = new Harness([
      { name: 'busy', type: 'ollama', memoryBytes: 16 * GB, models: [{ name: 'hot', sizeBytes: 10 * GB }, { name: 'cold', sizeBytes: 10 * GB }], resident: [{ name: 'hot', sizeBytes: 10 * GB }] },
      { name: 'idle', type: 'ollama', memoryBytes: 16 * GB, models: [{ name: 'hot', sizeBytes: 10 * GB }, { name: 'cold', sizeBytes: 10 * GB }, { name: 'old', sizeBytes: 10 * GB }], resident: [{ name: 'old', sizeBytes: 10 * GB }] },
    ]);
    const hot = await h.scheduler.acquire({ model: 'hot', userId: 'a' });
    expect(hot.node).toBe('busy');
    const cold = await h.scheduler.acquire({ model: 'cold', userId: 'b' });
    expect(cold.node).toBe('idle');
    const snapshot = h.scheduler.snapshot();
    expect(snapshot.counters.evictionsImplied).toBe(1);
    expect(snapshot.nodes.find((n) => n.name === 'idle')!.resident).toEqual(['cold']);
    expect(snapshot.nodes.find((n) => n.name === 'busy')!.resident).toEqual(['hot']);
  });

  it('makes a cold model wait for a busy one to finish rather than evict it', async () => {
    const h = new Harness([{ name: 'n', type: 'ollama', memoryBytes: 16 * GB, models: [{ name: 'a', sizeBytes: 10 * GB }, { name: 'b', sizeBytes: 10 * GB }], resident: [{ name: 'a', sizeBytes: 10 * GB }] }]);
    const a = h.submit({ userId: 'u', model: 'a' });
    const b = h.submit({ userId: 'v', model: 'b' });
    await settle();
    expect(b.lease).toBeUndefined();
    a.lease!.release();
    await settle();
    expect(b.lease?.node).toBe('n');
    expect(h.scheduler.snapshot().nodes[0]!.resident).toEqual(['b']);
  });

  it('spreads a hot model over nodes, least loaded first', async () => {
    const h = new Harness([ollama('n1', 2), ollama('n2', 2)]);
    const nodes = [];
    for (let i = 0; i < 4; i++) nodes.push((await h.scheduler.acquire({ model: 'm', userId: `u${i}` })).node);
    expect(nodes.sort()).toEqual(['n1', 'n1', 'n2', 'n2']);
  });
});

/** A preload function whose loads the test finishes by hand. */
function manualPreloads() {
  const calls: { node: string; model: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  const preload = (node: string, model: string) => new Promise<void>((resolve, reject) => { calls.push({ node, model, resolve, reject }); });
  return { calls, preload };
}

describe('Scheduler replicas and placement modes', () => {
  const empty = (name: string, slots = 4): NodeInit => ({ name, type: 'ollama', models: [{ name: 'm' }], slots });

  it('preloads a replica when the last idle one gets busy, keeps requests off it while it loads, then uses it', async () => {
    const { calls, preload } = manualPreloads();
    const h = new Harness([ollama('n1', 4), empty('n2')], {}, preload);
    expect((await h.scheduler.acquire({ model: 'm', userId: 'a' })).node).toBe('n1');
    await settle();
    expect(calls.map((c) => c.node)).toEqual(['n2']);
    expect(h.scheduler.snapshot().nodes[1]!.models.m).toMatchObject({ resident: true, preloading: true });
    // n2 is still loading: a second stream shares n1 rather than waiting for the load.
    expect((await h.scheduler.acquire({ model: 'm', userId: 'b' })).node).toBe('n1');
    await settle();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve();
    await settle();
    expect(h.scheduler.snapshot().nodes[1]!.models.m).toMatchObject({ resident: true, preloading: false });
    expect((await h.scheduler.acquire({ model: 'm', userId: 'c' })).node).toBe('n2');
    expect(h.scheduler.snapshot().counters).toMatchObject({ preloads: 1, preloadsFailed: 0 });
  });

  it('forgets a preload that failed, counts it, and tries again at the next busy start', async () => {
    const { calls, preload } = manualPreloads();
    const h = new Harness([ollama('n1', 4), empty('n2')], {}, preload);
    await h.scheduler.acquire({ model: 'm', userId: 'a' });
    await settle();
    calls[0]!.reject(new Error('out of memory'));
    await settle();
    expect(h.scheduler.snapshot().nodes[1]!.models.m).toMatchObject({ resident: false, preloading: false });
    expect(h.scheduler.snapshot().counters).toMatchObject({ preloads: 1, preloadsFailed: 1 });
    expect((await h.scheduler.acquire({ model: 'm', userId: 'b' })).node).toBe('n1');
    await settle();
    expect(calls.map((c) => c.node)).toEqual(['n2', 'n2']);
  });

  it('preloads nothing for pack classes, when switched off, or while an idle replica is left', async () => {
    const { calls, preload } = manualPreloads();
    const classes = [{ name: 'interactive', maxWaitMs: 1000 }, { name: 'batch', maxWaitMs: 1000, placement: 'pack' as const }];
    const h = new Harness([ollama('n1', 4), ollama('n2', 4), ollama('n4', 4), empty('n3')], { classes, maxInFlightPerUser: 10 }, preload);
    expect((await h.scheduler.acquire({ model: 'm', userId: 'r', priorityClass: 'batch' })).node).toBe('n1');
    expect((await h.scheduler.acquire({ model: 'm', userId: 'r', priorityClass: 'batch' })).node).toBe('n1');
    expect((await h.scheduler.acquire({ model: 'm', userId: 's', priorityClass: 'interactive' })).node).toBe('n2');
    await settle();
    expect(calls).toHaveLength(0);
    // The last idle replica (n4) gets busy: now the empty node loads a copy.
    expect((await h.scheduler.acquire({ model: 'm', userId: 't', priorityClass: 'interactive' })).node).toBe('n4');
    await settle();
    expect(calls.map((c) => c.node)).toEqual(['n3']);
    calls.length = 0;
    const off = new Harness([ollama('n1', 4), empty('n2')], { preloadReplicas: false }, preload);
    await off.scheduler.acquire({ model: 'm', userId: 'a' });
    await settle();
    expect(calls).toHaveLength(0);
  });

  it('packs batch onto few nodes and spreads interactive requests onto the nodes batch left idle', async () => {
    const classes = [{ name: 'interactive', maxWaitMs: 1000 }, { name: 'batch', maxWaitMs: 1000, placement: 'pack' as const }];
    const h = new Harness([ollama('a1', 4), ollama('a2', 4), ollama('a3', 4), ollama('b', 8)], { classes, maxInFlightPerUser: 100 });
    const batch: string[] = [];
    for (let i = 0; i < 12; i++) batch.push((await h.scheduler.acquire({ model: 'm', userId: `r${i % 2}`, priorityClass: 'batch' })).node);
    // The biggest node fills first, then one small node; two small nodes stay idle.
    expect(batch.filter((n) => n === 'b')).toHaveLength(8);
    expect(new Set(batch).size).toBe(2);
    const students: string[] = [];
    for (let i = 0; i < 2; i++) students.push((await h.scheduler.acquire({ model: 'm', userId: `s${i}`, priorityClass: 'interactive' })).node);
    const idle = ['a1', 'a2', 'a3'].filter((n) => !batch.includes(n));
    expect(students.sort()).toEqual(idle.sort());
  });
});

describe('Scheduler faults', () => {
  it('re-places a request that failed before its first byte on another node, once', async () => {
    const h = new Harness([ollama('n1'), ollama('n2'), ollama('n3')]);
    const lease = await h.scheduler.acquire({ model: 'm', userId: 'a' });
    const retry = await lease.fail(true);
    expect(retry).toBeDefined();
    expect(retry!.node).not.toBe(lease.node);
    expect(retry!.attempt).toBe(2);
    expect(await retry!.fail(true)).toBeUndefined();
    expect(await lease.fail(true)).toBeUndefined();
    const late = await h.scheduler.acquire({ model: 'm', userId: 'b' });
    expect(await late.fail(false)).toBeUndefined();
    const snapshot = h.scheduler.snapshot();
    expect(snapshot.counters).toMatchObject({ retries: 1, failed: 3 });
    expect(snapshot.nodes.every((n) => n.inFlight === 0)).toBe(true);
  });

  it('puts a retry ahead of the queue when the other node frees a slot', async () => {
    const h = new Harness([ollama('n1'), ollama('n2')]);
    const onN1 = await h.scheduler.acquire({ model: 'm', userId: 'a' });
    const onN2 = await h.scheduler.acquire({ model: 'm', userId: 'b' });
    const queued = h.submit({ userId: 'c' });
    const retry = onN1.fail(true);
    await settle();
    // n1's freed slot goes to the queued request; the retry excludes n1 and waits for n2.
    expect(queued.lease?.node).toBe(onN1.node);
    onN2.release();
    expect((await retry)?.node).toBe(onN2.node);
  });

  it('opens a node\'s breaker after repeated failures, answers 503 with Retry-After, then lets one probe through', async () => {
    const h = new Harness([ollama('n1', 4)], { breakerFailures: 3, breakerCooldownMs: 10_000 });
    for (let i = 0; i < 3; i++) (await h.scheduler.acquire({ model: 'm', userId: 'a' })).release({ ok: false });
    expect(h.scheduler.snapshot().nodes[0]!.breaker).toBe('open');
    const refused = h.scheduler.acquire({ model: 'm', userId: 'a' });
    await expect(refused).rejects.toMatchObject({ code: 'backend_unavailable', retryAfterSeconds: 10 });
    h.advance(10_000);
    const probe = await h.scheduler.acquire({ model: 'm', userId: 'a' });
    const second = h.submit({ userId: 'b' });
    await settle();
    expect(second.lease).toBeUndefined();
    probe.release();
    await settle();
    expect(second.lease?.node).toBe('n1');
    expect(h.scheduler.snapshot().nodes[0]!.breaker).toBe('closed');
  });

  it('starts waiting requests when an open breaker cools down, by its own timer', async () => {
    const h = new Harness([ollama('n1'), ollama('n2')], { breakerFailures: 1, breakerCooldownMs: 5000 });
    const one = await h.scheduler.acquire({ model: 'm', userId: 'a' });
    const two = await h.scheduler.acquire({ model: 'm', userId: 'b' });
    const waiting = h.submit({ userId: 'c' });
    two.release({ ok: false });
    await settle();
    expect(waiting.lease).toBeUndefined();
    h.advance(5000);
    await settle();
    expect(waiting.lease?.node).toBe(two.node);
    one.release();
  });

  it('drains a node: running requests finish, new ones go elsewhere, and none at all when every node drains', async () => {
    const h = new Harness([ollama('n1', 2), ollama('n2', 2)]);
    const running = await h.scheduler.acquire({ model: 'm', userId: 'a' });
    h.scheduler.drain(running.node);
    const other = await h.scheduler.acquire({ model: 'm', userId: 'b' });
    expect(other.node).not.toBe(running.node);
    running.release();
    h.scheduler.drain(other.node);
    await expect(h.scheduler.acquire({ model: 'm', userId: 'c' })).rejects.toMatchObject({ code: 'backend_unavailable' });
    h.scheduler.undrain(running.node);
    expect((await h.scheduler.acquire({ model: 'm', userId: 'c' })).node).toBe(running.node);
    expect(h.scheduler.snapshot().nodes.find((n) => n.name === other.node)!.draining).toBe(true);
  });

  it('keeps working when a node disappears: its leases release, its waiters are refused, its model is unknown', async () => {
    const h = new Harness([ollama('n1')]);
    const running = await h.scheduler.acquire({ model: 'm', userId: 'a' });
    const waiting = h.submit({ userId: 'b' });
    h.scheduler.removeNode('n1');
    await settle();
    expect(waiting.error).toMatchObject({ code: 'backend_unavailable' });
    running.release();
    await expect(h.scheduler.acquire({ model: 'm', userId: 'c' })).rejects.toMatchObject({ code: 'model_not_found' });
    h.scheduler.addNode(ollama('n1'));
    expect((await h.scheduler.acquire({ model: 'm', userId: 'c' })).node).toBe('n1');
    expect(h.scheduler.snapshot().nodes[0]!.inFlight).toBe(1);
  });

  it('marks a node down from a failed probe and back up from a good one', async () => {
    const h = new Harness([ollama('n1')]);
    h.scheduler.updateNode('n1', { healthy: false });
    await expect(h.scheduler.acquire({ model: 'm', userId: 'a' })).rejects.toMatchObject({ code: 'backend_unavailable' });
    h.scheduler.updateNode('n1', { healthy: true, slots: 2 });
    await h.scheduler.acquire({ model: 'm', userId: 'a' });
    await h.scheduler.acquire({ model: 'm', userId: 'b' });
    expect(h.scheduler.snapshot().nodes[0]!.inFlight).toBe(2);
  });
});

describe('Scheduler time and scale', () => {
  it('neither expires early nor waits forever when the clock jumps back and forth', async () => {
    const h = new Harness([ollama('n1')], { classes: [{ name: 'interactive', maxWaitMs: 10_000 }] });
    const running = h.submit({ userId: 'a' });
    const waiting = h.submit({ userId: 'b' });
    await settle();
    h.jump(-3_600_000);
    h.advance(9_000);
    await settle();
    expect(waiting.error).toBeUndefined();
    h.advance(1_000);
    await settle();
    expect(waiting.error).toMatchObject({ code: 'overloaded' });
    const late = h.submit({ userId: 'c' });
    h.jump(86_400_000);
    const snapshot = h.scheduler.snapshot();
    await settle();
    expect(late.error).toMatchObject({ code: 'overloaded' });
    expect(snapshot.counters.expired).toBe(2);
    running.lease!.release();
    const next = await h.scheduler.acquire({ model: 'm', userId: 'd' });
    expect(next.queueMs).toBe(0);
    next.release();
    expect(h.pendingTimers()).toBe(0);
  });

  it('holds 10,000 waiting requests, refuses the next, and drains them all in fair order', async () => {
    const h = new Harness([ollama('n1', 8)], { maxQueuePerModel: 10_000, maxInFlightPerUser: 1000, classes: [{ name: 'interactive', maxWaitMs: 1e9 }] });
    const leases: Lease[] = [];
    const order: string[] = [];
    for (let i = 0; i < 10_008; i++) {
      const userId = `u${i % 100}`;
      h.scheduler.acquire({ model: 'm', userId }).then((l) => { leases.push(l); order.push(userId); }, () => undefined);
    }
    const overflow = h.submit({ userId: 'u0' });
    await settle();
    expect(overflow.error).toMatchObject({ code: 'rate_limit_exceeded' });
    expect(h.scheduler.snapshot().models[0]!.queuedByClass.interactive).toBe(10_000);
    while (leases.length > 0) {
      h.advance(10);
      for (const lease of leases.splice(0)) lease.release();
      await settle();
    }
    expect(order).toHaveLength(10_008);
    // Fair order: every window of 100 consecutive starts has each of the 100 users about once.
    const window = new Set(order.slice(5000, 5100));
    expect(window.size).toBeGreaterThanOrEqual(95);
    const snapshot = h.scheduler.snapshot();
    expect(snapshot.nodes[0]!.inFlight).toBe(0);
    expect(snapshot.models[0]!.queuedByClass.interactive).toBe(0);
  });
});
