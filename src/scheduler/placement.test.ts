import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.js';
import { DEFAULT_MAX_CONCURRENCY } from './concurrency-limit.js';
import { NodeState, type NodeInit } from './node-state.js';
import { choosePlacement, choosePreloadNode, noIdleReplica } from './placement.js';

const GB = 1024 ** 3;

function node(init: Partial<NodeInit> & { name: string }): NodeState {
  return new NodeState({ type: 'ollama', ...init }, new CircuitBreaker(3, 1000), 0);
}

function fill(n: NodeState, model: string, count: number): void {
  for (let i = 0; i < count; i++) n.begin(model, { evict: [] }, 0);
}

describe('choosePlacement', () => {
  it('prefers a node where the model is resident, then the least loaded by in-flight ÷ slots', () => {
    const cold = node({ name: 'cold', models: [{ name: 'm' }], slots: 4 });
    const busy = node({ name: 'busy', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 4 });
    const idle = node({ name: 'idle', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 4 });
    fill(busy, 'm', 2);
    fill(idle, 'm', 1);
    expect(choosePlacement([cold, busy, idle], 'm', 0, { waiting: 0 })?.node.name).toBe('idle');
    fill(idle, 'm', 3);
    fill(busy, 'm', 2);
    // Both replicas full: a node that can load it without evicting anything takes it (spreading).
    const placement = choosePlacement([cold, busy, idle], 'm', 0, { waiting: 1 });
    expect(placement?.node.name).toBe('cold');
    expect(placement?.cold).toBe(true);
    expect(placement?.plan.evict).toEqual([]);
  });

  it('waits rather than evicting a busy model, and evicts only idle ones, least recently used first', () => {
    const n = node({
      name: 'n', memoryBytes: 20 * GB, slots: 2,
      models: [{ name: 'big', sizeBytes: 12 * GB }, { name: 'a', sizeBytes: 8 * GB }, { name: 'b', sizeBytes: 8 * GB }],
      resident: [{ name: 'a', sizeBytes: 8 * GB }, { name: 'b', sizeBytes: 8 * GB }],
    });
    fill(n, 'a', 1);
    fill(n, 'b', 1);
    expect(choosePlacement([n], 'big', 0, { waiting: 1 })).toBeUndefined();
    n.end('a', 5);
    n.end('b', 10);
    // a was used at 5, b at 10: a goes first and is enough.
    expect(choosePlacement([n], 'big', 20, { waiting: 1 })?.plan.evict).toEqual(['a']);
  });

  it('loads a replica with eviction only when a full round of requests waits for it', () => {
    const home = node({ name: 'home', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 2 });
    const other = node({ name: 'other', models: [{ name: 'm' }, { name: 'x' }], resident: [{ name: 'x' }], maxLoadedModels: 1, slots: 2 });
    fill(home, 'm', 2);
    expect(choosePlacement([home, other], 'm', 0, { waiting: 1 })).toBeUndefined();
    const placement = choosePlacement([home, other], 'm', 0, { waiting: 2 });
    expect(placement?.node.name).toBe('other');
    expect(placement?.plan.evict).toEqual(['x']);
  });

  it('skips unhealthy, draining, open-breaker and excluded nodes, and nodes that do not serve the model', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e'].map((name) => node({ name, models: [{ name: name === 'e' ? 'other' : 'm' }], resident: [{ name: 'm' }] }));
    nodes[0]!.healthy = false;
    nodes[1]!.draining = true;
    for (let i = 0; i < 3; i++) nodes[2]!.breaker.onFailure(0, false);
    expect(choosePlacement(nodes, 'm', 0, { waiting: 0, exclude: new Set(['d']) })).toBeUndefined();
    expect(choosePlacement(nodes, 'm', 0, { waiting: 0 })?.node.name).toBe('d');
    // After the cool-down the open breaker lets one probe through.
    expect(choosePlacement(nodes, 'm', 1000, { waiting: 0, exclude: new Set(['d']) })?.node.name).toBe('c');
  });

  it('treats every served model of an OpenAI-compatible node as resident and restricts nodes to configured models', () => {
    const vllm = node({ name: 'v', type: 'openai', models: [{ name: 'm' }, { name: 'n' }], allowedModels: ['m'] });
    // Continuous batching: the learned limit starts at its maximum.
    expect(vllm.slotsFor('m')).toBe(DEFAULT_MAX_CONCURRENCY);
    expect(choosePlacement([vllm], 'm', 0, { waiting: 0 })?.cold).toBe(false);
    expect(choosePlacement([vllm], 'n', 0, { waiting: 0 })).toBeUndefined();
  });

  it('takes slots from the config over what the node reports, and the node\'s report over the default', () => {
    expect(node({ name: 'a', slots: 3 }).slotsFor('m')).toBe(3);
    expect(node({ name: 'a', slots: 3, models: [{ name: 'm', slots: 2 }] }).slotsFor('m')).toBe(2);
    expect(node({ name: 'a', configuredSlots: 5, slots: 3, models: [{ name: 'm', slots: 2 }] }).slotsFor('m')).toBe(5);
    expect(node({ name: 'a' }).slotsFor('m')).toBe(1);
  });

  it('keeps a model that is still loading resident when /api/ps does not list it yet', () => {
    const n = node({ name: 'n', models: [{ name: 'm' }] });
    n.begin('m', { evict: [] }, 0);
    n.apply({ resident: [] }, 1);
    expect(n.isResident('m')).toBe(true);
    n.end('m', 2);
    n.apply({ resident: [] }, 3);
    expect(n.isResident('m')).toBe(false);
  });

  it('packs a pack-class request onto the fullest ready node with a free slot, the biggest first when equal', () => {
    const small = node({ name: 'small', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 4 });
    const big = node({ name: 'big', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 8 });
    const pack = { waiting: 0, mode: 'pack' as const };
    expect(choosePlacement([small, big], 'm', 0, pack)?.node.name).toBe('big');
    fill(small, 'm', 1);
    // spread takes the emptier node, pack the fuller one.
    expect(choosePlacement([small, big], 'm', 0, { waiting: 0 })?.node.name).toBe('big');
    expect(choosePlacement([small, big], 'm', 0, pack)?.node.name).toBe('small');
    fill(small, 'm', 3);
    expect(choosePlacement([small, big], 'm', 0, pack)?.node.name).toBe('big');
  });

  it('prefers a busy ready replica to one still preloading, and a preloading one to a cold node', () => {
    const ready = node({ name: 'ready', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 2 });
    const loading = node({ name: 'loading', models: [{ name: 'm' }], slots: 2 });
    const cold = node({ name: 'cold', models: [{ name: 'm' }], slots: 2 });
    loading.beginPreload('m', 0);
    fill(ready, 'm', 1);
    expect(loading.isResident('m')).toBe(true);
    expect(loading.isReady('m')).toBe(false);
    expect(choosePlacement([cold, loading, ready], 'm', 0, { waiting: 0 })?.node.name).toBe('ready');
    fill(ready, 'm', 1);
    const placement = choosePlacement([cold, loading, ready], 'm', 0, { waiting: 0 });
    expect(placement?.node.name).toBe('loading');
    expect(placement?.cold).toBe(true);
    loading.endPreload('m', true);
    expect(loading.isReady('m')).toBe(true);
  });

  it('keeps a preloading model through /api/ps polls and never evicts it; a failed preload frees its memory', () => {
    const n = node({ name: 'n', memoryBytes: 10 * GB, slots: 1, models: [{ name: 'm', sizeBytes: 6 * GB }, { name: 'x', sizeBytes: 6 * GB }] });
    n.beginPreload('m', 0);
    n.apply({ resident: [] }, 1);
    expect(n.isPreloading('m')).toBe(true);
    expect(n.planLoad('x')).toBeUndefined();
    n.apply({ resident: [{ name: 'm', sizeBytes: 6 * GB }] }, 2);
    // The node lists it: it is loaded, and a preload call that fails late does not make Flexi forget that.
    expect(n.isReady('m')).toBe(true);
    n.endPreload('m', false);
    expect(n.isReady('m')).toBe(true);
    const other = node({ name: 'o', memoryBytes: 10 * GB, models: [{ name: 'm', sizeBytes: 6 * GB }] });
    other.beginPreload('m', 0);
    other.endPreload('m', false);
    expect(other.isResident('m')).toBe(false);
    expect(other.residentBytes()).toBe(0);
  });

  it('preloads only where the model fits without evicting, on a healthy closed-breaker node, and an unknown-memory node only while empty', () => {
    const known = node({ name: 'known', memoryBytes: 10 * GB, models: [{ name: 'm', sizeBytes: 6 * GB }, { name: 'x', sizeBytes: 6 * GB }], resident: [{ name: 'x', sizeBytes: 6 * GB }] });
    const roomy = node({ name: 'roomy', memoryBytes: 20 * GB, models: [{ name: 'm', sizeBytes: 6 * GB }, { name: 'x', sizeBytes: 6 * GB }], resident: [{ name: 'x', sizeBytes: 6 * GB }] });
    const unknownFull = node({ name: 'unknown-full', models: [{ name: 'm' }, { name: 'x' }], resident: [{ name: 'x' }] });
    const unknownEmpty = node({ name: 'unknown-empty', models: [{ name: 'm' }] });
    const vllm = node({ name: 'vllm', type: 'openai', models: [{ name: 'm' }] });
    expect(choosePreloadNode([known, unknownFull, vllm], 'm', 0)).toBeUndefined();
    expect(choosePreloadNode([known, roomy, unknownFull, unknownEmpty], 'm', 0)?.name).toBe('roomy');
    fill(roomy, 'x', 1);
    expect(choosePreloadNode([known, roomy, unknownFull, unknownEmpty], 'm', 0)?.name).toBe('unknown-empty');
    unknownEmpty.draining = true;
    expect(choosePreloadNode([unknownEmpty], 'm', 0)).toBeUndefined();
    unknownEmpty.draining = false;
    for (let i = 0; i < 3; i++) unknownEmpty.breaker.onFailure(0, false);
    // Open, and half-open after the cool-down: its one probe turn is for a real request.
    expect(choosePreloadNode([unknownEmpty], 'm', 0)).toBeUndefined();
    expect(choosePreloadNode([unknownEmpty], 'm', 1000)).toBeUndefined();
  });

  it('sees an idle replica only on a ready node that runs none of the model\'s requests', () => {
    const a = node({ name: 'a', models: [{ name: 'm' }], resident: [{ name: 'm' }], slots: 4 });
    const b = node({ name: 'b', models: [{ name: 'm' }], slots: 4 });
    expect(noIdleReplica([a, b], 'm', 0)).toBe(false);
    fill(a, 'm', 1);
    expect(noIdleReplica([a, b], 'm', 0)).toBe(true);
    b.beginPreload('m', 0);
    expect(noIdleReplica([a, b], 'm', 0)).toBe(true);
    b.endPreload('m', true);
    expect(noIdleReplica([a, b], 'm', 0)).toBe(false);
  });
});
