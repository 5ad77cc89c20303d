import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import type { NodeInit } from './node-state.js';
import { nodesFromConfig, settingsFromConfig } from './settings.js';
import { Harness, jainIndex, settle, type Tracked } from './testing.js';

const ollama = (name: string, slots = 1, extra: Partial<NodeInit> = {}): NodeInit => ({
  name, type: 'ollama', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots, ...extra,
});
const patient = { classes: [{ name: 'interactive', maxWaitMs: 1e9 }, { name: 'batch', maxWaitMs: 1e9 }] };

/** Completes the oldest running request every `stepMs` until nothing runs; returns users in start order. */
async function serveAll(h: Harness, all: Tracked[], stepMs = 1000): Promise<string[]> {
  const started: Tracked[] = [];
  for (;;) {
    await settle();
    for (const t of all) if (t.lease && !started.includes(t)) started.push(t);
    const running = started.find((t) => !t.lease!.released);
    if (!running) return started.map((t) => t.request.userId);
    h.advance(stepMs);
    running.lease!.release();
  }
}

describe('Scheduler admission and fairness', () => {
  it('serves a light user within the first ~2×5 completions while another floods 100 requests', async () => {
    const h = new Harness([ollama('n1')], patient);
    const all: Tracked[] = [];
    for (let i = 0; i < 100; i++) all.push(h.submit({ userId: 'a' }));
    for (let i = 0; i < 5; i++) all.push(h.submit({ userId: 'b' }));
    const order = await serveAll(h, all);
    expect(order).toHaveLength(105);
    const lastB = order.lastIndexOf('b');
    expect(lastB).toBeLessThanOrEqual(11);
    const window = order.slice(1, 11);
    expect(jainIndex([window.filter((u) => u === 'a').length, window.filter((u) => u === 'b').length])).toBeGreaterThan(0.95);
    expect(h.scheduler.snapshot().counters.completed).toBe(105);
  });

  it('shares slots in proportion to weight among flooding users', async () => {
    // Without the newcomer reserve: with it, each of two users on 2 slots first gets one (newcomer-reserve.ts).
    const h = new Harness([ollama('n1', 2)], { ...patient, newcomerReserve: 0 });
    const all: Tracked[] = [];
    for (let i = 0; i < 40; i++) all.push(h.submit({ userId: 'gold', weight: 3 }));
    for (let i = 0; i < 40; i++) all.push(h.submit({ userId: 'plain', weight: 1 }));
    const order = (await serveAll(h, all)).slice(2, 42);
    expect(order.filter((u) => u === 'gold').length).toBe(30);
  });

  it('starts every waiting interactive request before any batch request', async () => {
    const h = new Harness([ollama('n1')], patient);
    const all: Tracked[] = [];
    for (let i = 0; i < 10; i++) all.push(h.submit({ userId: 'research', priorityClass: 'batch' }));
    for (let i = 0; i < 3; i++) all.push(h.submit({ userId: `student${i}`, priorityClass: 'interactive' }));
    const order = await serveAll(h, all);
    expect(order.slice(0, 4)).toEqual(['research', 'student0', 'student1', 'student2']);
  });

  it('keeps a batch class to its share of slots so interactive requests find one free', async () => {
    const classes = [{ name: 'interactive', maxWaitMs: 1e9 }, { name: 'batch', maxWaitMs: 1e9, maxShare: 0.5 }];
    const h = new Harness([ollama('n1', 4)], { classes, maxInFlightPerUser: 100 });
    const batch = Array.from({ length: 6 }, () => h.submit({ userId: 'research', priorityClass: 'batch' }));
    await settle();
    expect(batch.filter((t) => t.lease).length).toBe(2);
    const student = h.submit({ userId: 'student', priorityClass: 'interactive' });
    await settle();
    expect(student.lease?.queueMs).toBe(0);
    // A batch lease ending lets the next batch request in, still within the share.
    batch.find((t) => t.lease)!.lease!.release();
    await settle();
    expect(batch.filter((t) => t.lease && !t.lease.released).length).toBe(2);
    expect(h.scheduler.snapshot().nodes[0]!.inFlight).toBe(3);
  });

  it('lends idle slots beyond the share while no higher class asked, and takes them back as batch requests end', async () => {
    const classes = [{ name: 'interactive', maxWaitMs: 1e9 }, { name: 'batch', maxWaitMs: 1e9, maxShare: 0.25 }];
    const h = new Harness([ollama('n1', 4)], { classes, maxInFlightPerUser: 100, lendIdleAfterMs: 60_000 });
    const running = () => h.scheduler.snapshot().models[0]!.inFlightByClass;
    // Nobody interactive ever asked: batch may fill the node.
    const batch = Array.from({ length: 6 }, () => h.submit({ userId: 'research', priorityClass: 'batch' }));
    await settle();
    expect(running()).toEqual({ interactive: 0, batch: 4 });
    // A student asks: the share binds again. The student waits for the first free slot…
    const student = h.submit({ userId: 'student', priorityClass: 'interactive' });
    batch.find((t) => t.lease)!.lease!.release();
    await settle();
    expect(student.lease).toBeDefined();
    // …and ending batch requests are not replaced until batch is back within its quarter.
    for (const t of batch.filter((b) => b.lease && !b.lease.released).slice(0, 2)) t.lease!.release();
    await settle();
    expect(running()).toEqual({ interactive: 1, batch: 1 });
    student.lease!.release();
    // A minute after the student asked, batch may borrow again — by the scheduler's own timer.
    h.advance(59_000);
    await settle();
    expect(running().batch).toBe(1);
    h.advance(1_000);
    await settle();
    expect(running().batch).toBe(3);
    expect(h.pendingTimers()).toBe(0);
  });

  it('never lends beyond the share when lend_idle_after_ms is 0', async () => {
    const classes = [{ name: 'interactive', maxWaitMs: 1e9 }, { name: 'batch', maxWaitMs: 1e9, maxShare: 0.25 }];
    const h = new Harness([ollama('n1', 4)], { classes, maxInFlightPerUser: 100 });
    Array.from({ length: 3 }, () => h.submit({ userId: 'research', priorityClass: 'batch' }));
    await settle();
    h.advance(3_600_000);
    h.scheduler.tick();
    await settle();
    expect(h.scheduler.snapshot().models[0]!.inFlightByClass.batch).toBe(1);
  });

  it('caps a user\'s concurrency and starts their next request when one ends', async () => {
    const h = new Harness([ollama('n1', 10)], { maxInFlightPerUser: 2 });
    const a = Array.from({ length: 4 }, () => h.submit({ userId: 'a' }));
    const b = h.submit({ userId: 'b' });
    await settle();
    expect(a.map((t) => Boolean(t.lease))).toEqual([true, true, false, false]);
    expect(b.lease).toBeDefined();
    a[0]!.lease!.release();
    await settle();
    expect(a[2]!.lease).toBeDefined();
    expect(a[3]!.lease).toBeUndefined();
  });

  it('refuses unknown models, unknown classes and bad weights at once', async () => {
    const h = new Harness([ollama('n1')]);
    await expect(h.scheduler.acquire({ model: 'nope', userId: 'a' })).rejects.toMatchObject({ code: 'model_not_found', param: 'model' });
    await expect(h.scheduler.acquire({ model: 'm', userId: 'a', priorityClass: 'vip' })).rejects.toMatchObject({ code: 'invalid_request', param: 'priorityClass' });
    await expect(h.scheduler.acquire({ model: 'm', userId: 'a', weight: 0 })).rejects.toMatchObject({ code: 'invalid_request', param: 'weight' });
    expect(h.scheduler.snapshot().counters.refused).toMatchObject({ unknown_model: 1, invalid: 2 });
  });
});

describe('Scheduler queue limits and deadlines', () => {
  it('gives 429 to the user holding their share of a full queue and pushes out the heaviest user for a newcomer', async () => {
    const h = new Harness([ollama('n1')], { ...patient, maxQueuePerModel: 10 });
    const a = Array.from({ length: 11 }, () => h.submit({ userId: 'a' }));
    const extraA = h.submit({ userId: 'a' });
    await settle();
    expect(extraA.error).toMatchObject({ code: 'rate_limit_exceeded' });
    expect(extraA.error!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    const b = h.submit({ userId: 'b' });
    await settle();
    expect(b.error).toBeUndefined();
    expect(a[10]!.error).toMatchObject({ code: 'rate_limit_exceeded' });
    expect(a[9]!.error).toBeUndefined();
    const snapshot = h.scheduler.snapshot();
    expect(snapshot.models[0]!.queuedByClass.interactive).toBe(10);
    expect(snapshot.counters.refused).toMatchObject({ over_fair_share: 1, pushed_out: 1 });
  });

  it('gives 503 when the queue is full and nobody is over their share', async () => {
    const h = new Harness([ollama('n1')], { ...patient, maxQueuePerModel: 3 });
    const all = ['u0', 'u1', 'u2', 'u3'].map((userId) => h.submit({ userId }));
    const late = h.submit({ userId: 'late' });
    await settle();
    expect(all.every((t) => !t.error)).toBe(true);
    expect(late.error).toMatchObject({ code: 'overloaded' });
    expect(late.error!.status).toBe(503);
  });

  it('names the deadline in whole ms when it expires a request, whatever the clock\'s fractions', async () => {
    const h = new Harness([ollama('n1')]);
    // At this clock reading, (t + 30000) − t is 29999.999999999996 in floating point.
    h.advance(11831.073036661754);
    h.submit({ userId: 'a' });
    const waiting = h.submit({ userId: 'b', maxWaitMs: 30_000 });
    await settle();
    h.advance(30_000);
    await settle();
    expect(waiting.error!.message).toContain('within 30000 ms');
  });

  it('expires a waiting request when its deadline passes, with Retry-After', async () => {
    const h = new Harness([ollama('n1')]);
    const first = h.submit({ userId: 'a' });
    const waiting = h.submit({ userId: 'b', maxWaitMs: 5000 });
    await settle();
    h.advance(4999);
    await settle();
    expect(waiting.error).toBeUndefined();
    h.advance(1);
    await settle();
    expect(waiting.error).toMatchObject({ code: 'overloaded' });
    expect(waiting.error!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    first.lease!.release();
    const snapshot = h.scheduler.snapshot();
    expect(snapshot.counters.expired).toBe(1);
    expect(snapshot.nodes[0]!.inFlight).toBe(0);
    expect(h.pendingTimers()).toBe(0);
  });

  it('refuses at once a request that the measured drain rate says cannot start before its deadline', async () => {
    const h = new Harness([ollama('n1')], { classes: [{ name: 'interactive', maxWaitMs: 20_000 }] });
    const all: Tracked[] = [];
    for (let i = 0; i < 15; i++) all.push(h.submit({ userId: `u${i}` }));
    // Drain ten at one per second so the rate is measured while the queue is backlogged.
    for (let i = 0; i < 10; i++) {
      await settle();
      h.advance(1000);
      all.find((t) => t.lease && !t.lease.released)!.lease!.release();
    }
    await settle();
    expect(h.scheduler.snapshot().models[0]!.drainRatePerSecond).toBeCloseTo(1, 0);
    for (let i = 0; i < 10; i++) all.push(h.submit({ userId: `v${i}` }));
    await settle();
    // 4 waiting + 10 new = 14 s: fits in 20 s. A request with a 5 s deadline behind 14 does not.
    expect(all.every((t) => !t.error)).toBe(true);
    const hurried = h.submit({ userId: 'w', maxWaitMs: 5000 });
    await settle();
    expect(hurried.error).toMatchObject({ code: 'overloaded' });
    expect(hurried.error!.retryAfterSeconds).toBeGreaterThanOrEqual(14);
    expect(hurried.error!.retryAfterSeconds).toBeLessThanOrEqual(17);
    expect(h.scheduler.snapshot().counters.refused.deadline).toBe(1);
  });

  it('reports queue position and estimated wait to a waiting request', async () => {
    const h = new Harness([ollama('n1')], patient);
    const all = Array.from({ length: 6 }, (_, i) => h.submit({ userId: `u${i}` }));
    await settle();
    expect(all[0]!.ticket.position()).toBeUndefined();
    expect(all[5]!.ticket.position()?.ahead).toBe(4);
    for (let i = 0; i < 4; i++) {
      h.advance(2000);
      all[i]!.lease!.release();
      await settle();
    }
    expect(all[5]!.ticket.position()).toEqual({ ahead: 0, estimatedWaitMs: expect.any(Number) });
    expect(all[5]!.ticket.position()!.estimatedWaitMs).toBeGreaterThan(0);
  });
});

describe('Scheduler visibility', () => {
  it('reports queues by class, in-flight, drain rate, node state, counters and wait histograms', async () => {
    const h = new Harness([ollama('n1', 1, { memoryBytes: 8e9, resident: [{ name: 'm', sizeBytes: 4e9 }] })], patient);
    const first = h.submit({ userId: 'a' });
    const second = h.submit({ userId: 'b', priorityClass: 'batch' });
    h.submit({ userId: 'c' });
    await settle();
    let snapshot = h.scheduler.snapshot();
    expect(snapshot.models).toEqual([expect.objectContaining({ model: 'm', queuedByClass: { interactive: 1, batch: 1 }, inFlight: 1, retrying: 0 })]);
    expect(snapshot.nodes[0]).toMatchObject({
      name: 'n1', healthy: true, draining: false, breaker: 'closed', inFlight: 1,
      models: { m: { slots: 1, inFlight: 1, resident: true } }, resident: ['m'], memoryBytes: 8e9, residentBytes: 4e9,
    });
    expect(snapshot.activeUsers).toBe(1);
    h.advance(700);
    first.lease!.release();
    await settle();
    snapshot = h.scheduler.snapshot();
    expect(snapshot.counters).toMatchObject({ admitted: 3, started: 2, completed: 1 });
    expect(snapshot.models[0]!.meanServiceMs).toBe(700);
    const interactive = snapshot.waitHistograms.find((x) => x.priorityClass === 'interactive')!;
    expect(interactive.count).toBe(2);
    expect(interactive.sumMs).toBe(700);
    // 0 ms falls in the first bucket (≤ 10 ms), 700 ms in the ≤ 1000 ms bucket.
    expect(interactive.counts[0]).toBe(1);
    expect(interactive.counts[interactive.bucketsMs.indexOf(1000)]).toBe(1);
    expect(second.lease).toBeUndefined();
  });
});

describe('Scheduler configuration', () => {
  it('builds settings and nodes from the loaded config', () => {
    const config = loadConfig({ fileText: 'scheduler:\n  max_queue_per_model: 7\nnodes:\n  - {name: g1, type: ollama, url: "http://g1:11434", slots: 2, models: [m]}\n' });
    const settings = settingsFromConfig(config);
    expect(settings.maxQueuePerModel).toBe(7);
    expect(settings.classes[0]).toEqual({ name: 'interactive', maxWaitMs: 60_000, maxShare: 1, placement: 'spread' });
    expect(settings.classes.at(-1)).toEqual({ name: 'batch', maxWaitMs: 300_000, maxShare: 0.25, placement: 'pack' });
    expect(settings.preloadReplicas).toBe(true);
    expect(settings.lendIdleAfterMs).toBe(0);
    expect(settingsFromConfig(loadConfig({ fileText: 'scheduler:\n  lend_idle_after_ms: 600000\n  preload_replicas: false\n' }))).toMatchObject({ lendIdleAfterMs: 600_000, preloadReplicas: false });
    const nodes = nodesFromConfig(config);
    expect(nodes[0]).toMatchObject({ name: 'g1', configuredSlots: 2, allowedModels: ['m:latest'] });
    const h = new Harness(nodes, settings);
    expect(h.scheduler.snapshot().nodes[0]!.models['m:latest']).toEqual({
      slots: 2, inFlight: 0, resident: false, preloading: false, concurrency: { limit: 2, max: 2, phase: 'learning', samples: 0, queuedSamples: 0 },
    });
  });

  it('converts node config the one way the gateway does: canonical model names, embedded default slots, served nodes the config lacks', () => {
    const config = loadConfig({ fileText: 'embedded:\n  default_slots: 3\nnodes:\n  - {name: g1, type: ollama, url: "http://g1:11434", models: [llama3, "qwen:7b"]}\n  - {name: local, type: embedded, models_dir: ./models}\n' });
    const nodes = nodesFromConfig(config, [{ name: 'g1', type: 'ollama' }, { name: 'local', type: 'embedded' }, { name: 'ollama-local', type: 'ollama' }]);
    expect(nodes).toEqual([
      { name: 'g1', type: 'ollama', configuredSlots: undefined, allowedModels: ['llama3:latest', 'qwen:7b'] },
      { name: 'local', type: 'embedded', configuredSlots: 3, allowedModels: undefined },
      { name: 'ollama-local', type: 'ollama', configuredSlots: undefined, allowedModels: undefined },
    ]);
  });
});
