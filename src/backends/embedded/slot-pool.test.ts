import { describe, expect, it } from 'vitest';
import { FlexiError } from '../../core/errors.js';
import { resolveThreads } from './llama-runtime.js';
import { SlotPool } from './slot-pool.js';

describe('SlotPool', () => {
  it('hands out free items at once and serves waiters first come, first served', async () => {
    const pool = new SlotPool(['a']);
    const first = await pool.acquire(new AbortController().signal);
    const order: string[] = [];
    const second = pool.acquire(new AbortController().signal).then((item) => { order.push(`second:${item}`); return item; });
    const third = pool.acquire(new AbortController().signal).then((item) => { order.push(`third:${item}`); return item; });
    expect(pool.waiting).toBe(2);
    pool.release(first);
    pool.release(await second);
    await third;
    expect(order).toEqual(['second:a', 'third:a']);
  });

  it('removes an aborted waiter from the queue with client_closed_request', async () => {
    const pool = new SlotPool([1]);
    const held = await pool.acquire(new AbortController().signal);
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'client_closed_request' });
    expect(pool.waiting).toBe(0);
    pool.release(held);
    expect(pool.available).toBe(1);
  });

  it('rejects with overloaded when the queue is full', async () => {
    const pool = new SlotPool([1], 1);
    await pool.acquire(new AbortController().signal);
    void pool.acquire(new AbortController().signal).catch(() => undefined);
    const error = await pool.acquire(new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlexiError);
    expect((error as FlexiError).code).toBe('overloaded');
  });
});

describe('resolveThreads', () => {
  it('uses one thread on two cores, half the cores above, at most 8, and a configured value as is', () => {
    expect(resolveThreads(0, 2)).toBe(1);
    expect(resolveThreads(0, 1)).toBe(1);
    expect(resolveThreads(0, 8)).toBe(4);
    expect(resolveThreads(0, 64)).toBe(8);
    expect(resolveThreads(3, 2)).toBe(3);
  });
});
