import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IndexedHeap } from './indexed-heap.js';

interface Item { key: number; id: number; index: number }

describe('IndexedHeap', () => {
  it('pops in key order after any mix of pushes, removals and re-keys', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.constantFrom('push', 'remove', 'rekey', 'pop'), fc.integer({ min: 0, max: 50 }), fc.nat()), { maxLength: 200 }),
      (ops) => {
        const heap = new IndexedHeap<Item>((a, b) => a.key < b.key || (a.key === b.key && a.id < b.id), (i) => i.index, (i, n) => { i.index = n; });
        const live = new Map<number, Item>();
        let nextId = 0;
        for (const [op, key, pick] of ops) {
          const items = [...live.values()];
          const target = items.length ? items[pick % items.length]! : undefined;
          if (op === 'push') {
            const item = { key, id: nextId++, index: -1 };
            live.set(item.id, item);
            heap.push(item);
          } else if (op === 'remove' && target) {
            expect(heap.remove(target)).toBe(true);
            expect(heap.remove(target)).toBe(false);
            live.delete(target.id);
          } else if (op === 'rekey' && target) {
            target.key = key;
            heap.update(target);
          } else if (op === 'pop') {
            const expected = [...live.values()].sort((a, b) => a.key - b.key || a.id - b.id)[0];
            expect(heap.pop()).toBe(expected);
            if (expected) live.delete(expected.id);
          }
          expect(heap.size).toBe(live.size);
        }
        const drained: number[] = [];
        for (let item = heap.pop(); item; item = heap.pop()) drained.push(item.key);
        expect(drained).toEqual([...drained].sort((a, b) => a - b));
        expect(drained.length).toBe(live.size);
      },
    ));
  });
});
