import { describe, expect, it } from 'vitest';
import { MemoryNodeModelRepository } from '../../store/node-model.repository.js';
import { NodeModelMemory } from './node-model-memory.js';

class CountingRepository extends MemoryNodeModelRepository {
  writes = 0;
  override replace(node: string, models: readonly string[], seenAt: string): Promise<void> {
    this.writes++;
    return super.replace(node, models, seenAt);
  }
}

const AT = new Date('2026-12-06T03:00:00.000Z');

describe('NodeModelMemory', () => {
  it('knows what the config declares before a node ever answered, in canonical names', async () => {
    const memory = new NodeModelMemory({ store: new MemoryNodeModelRepository(), nodes: ['gpu1'], declared: new Map([['gpu1', ['llama3']]]) });
    await memory.load();
    expect(memory.nodesServing('llama3:latest')).toEqual(['gpu1']);
  });

  it('writes a listing only when it changed, and forgets what a node no longer lists', async () => {
    const store = new CountingRepository();
    const memory = new NodeModelMemory({ store, nodes: ['gpu1'] });
    await memory.remember('gpu1', ['a:1', 'b:1'], AT);
    await memory.remember('gpu1', ['b:1', 'a:1'], AT);
    expect(store.writes).toBe(1);
    await memory.remember('gpu1', ['a:1'], AT);
    expect(store.writes).toBe(2);
    expect(memory.nodesServing('b:1')).toEqual([]);
    expect(await store.listAll()).toEqual([{ node: 'gpu1', model: 'a:1', lastSeenAt: AT.toISOString() }]);
  });

  it('reads the stored memory of configured nodes only', async () => {
    const store = new MemoryNodeModelRepository();
    await store.replace('gpu1', ['a:1'], AT.toISOString());
    await store.replace('removed', ['a:1'], AT.toISOString());
    const memory = new NodeModelMemory({ store, nodes: ['gpu1'] });
    await memory.load();
    expect(memory.nodesServing('a:1')).toEqual(['gpu1']);
  });

  it('reports a store that fails and keeps serving from memory', async () => {
    const errors: unknown[] = [];
    const broken = { listAll: () => Promise.reject(new Error('db down')), replace: () => Promise.reject(new Error('db down')) };
    const memory = new NodeModelMemory({ store: broken, nodes: ['gpu1'], onError: (error) => errors.push(error) });
    await memory.remember('gpu1', ['a:1'], AT);
    expect(memory.nodesServing('a:1')).toEqual(['gpu1']);
    expect(errors).toHaveLength(2);
  });
});

describe('NodeModelMemory with several replicas', () => {
  it('writes only while this replica is the writer, and writes its current listing once it becomes one', async () => {
    const store = new CountingRepository();
    // Written by an earlier leader: this replica reads it at start.
    await store.replace('gpu1', ['a:1'], AT.toISOString());
    store.writes = 0;
    let leads = false;
    const follower = new NodeModelMemory({ store, nodes: ['gpu1'], isWriter: () => leads });
    await follower.remember('gpu1', ['a:1'], AT);
    expect(store.writes).toBe(0);
    // A follower still answers from what it listed itself.
    expect(follower.nodesServing('a:1')).toEqual(['gpu1']);

    // The leader (another replica) writes a listing that this one never saw.
    const leader = new NodeModelMemory({ store, nodes: ['gpu1'] });
    await leader.remember('gpu1', ['b:1'], AT);
    expect(store.writes).toBe(1);

    // This replica takes over: its next listing is written even though it did not change here.
    leads = true;
    await follower.remember('gpu1', ['a:1'], AT);
    expect(store.writes).toBe(2);
    expect((await store.listAll()).map((r) => r.model)).toEqual(['a:1']);
    await follower.remember('gpu1', ['a:1'], AT);
    expect(store.writes).toBe(2);
  });
});
