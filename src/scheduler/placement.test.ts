import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.js';
import { NodeState, type NodeInit } from './node-state.js';
import { choosePlacement } from './placement.js';

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
    expect(vllm.slotsFor('m')).toBe(8);
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
});
