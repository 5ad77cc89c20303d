import { describe, expect, it } from 'vitest';
import { FairQueue, QueueEntry } from './fair-queue.js';

class Entry extends QueueEntry {
  constructor(userId: string, classIndex = 0, weight = 1, readonly label = '') {
    super(userId, classIndex, weight);
  }
}

function drain(queue: FairQueue<Entry>, canStart: (e: Entry) => boolean = () => true, limit = Infinity): Entry[] {
  const out: Entry[] = [];
  for (let e = queue.peek(canStart); e && out.length < limit; e = queue.peek(canStart)) {
    queue.start(e);
    out.push(e);
  }
  return out;
}

describe('FairQueue', () => {
  it('interleaves a flooding user with a late one instead of serving first-come first-served', () => {
    const queue = new FairQueue<Entry>(1);
    for (let i = 0; i < 10; i++) queue.enqueue(new Entry('a'));
    for (let i = 0; i < 3; i++) queue.enqueue(new Entry('b'));
    expect(drain(queue).map((e) => e.userId).join('')).toBe('abababaaaaaaa');
    expect(queue.size).toBe(0);
  });

  it('gives a user of weight 2 two starts for every one of a user of weight 1', () => {
    const queue = new FairQueue<Entry>(1);
    for (let i = 0; i < 12; i++) queue.enqueue(new Entry('heavy', 0, 2));
    for (let i = 0; i < 12; i++) queue.enqueue(new Entry('light', 0, 1));
    const first = drain(queue, () => true, 12).map((e) => e.userId);
    expect(first.filter((u) => u === 'heavy')).toHaveLength(8);
    expect(first.filter((u) => u === 'light')).toHaveLength(4);
  });

  it('starts every request of a higher class before any of a lower class', () => {
    const queue = new FairQueue<Entry>(2);
    queue.enqueue(new Entry('a', 1));
    queue.enqueue(new Entry('b', 1));
    queue.enqueue(new Entry('c', 0));
    queue.enqueue(new Entry('a', 0));
    expect(drain(queue).map((e) => `${e.userId}${e.classIndex}`)).toEqual(['c0', 'a0', 'a1', 'b1']);
  });

  it('removes a request from the middle of a flow without disturbing the order of the rest', () => {
    const queue = new FairQueue<Entry>(1);
    const entries = ['1', '2', '3', '4'].map((label) => new Entry('a', 0, 1, label));
    for (const e of entries) queue.enqueue(e);
    expect(queue.remove(entries[1]!)).toBe(true);
    expect(queue.remove(entries[1]!)).toBe(false);
    expect(queue.remove(entries[0]!)).toBe(true);
    expect(drain(queue).map((e) => e.label)).toEqual(['3', '4']);
    expect(queue.userQueued('a')).toBe(0);
  });

  it('parks a user at their cap and lets them rejoin later without a burst of saved-up credit', () => {
    const queue = new FairQueue<Entry>(1);
    for (let i = 0; i < 4; i++) queue.enqueue(new Entry('a'));
    for (let i = 0; i < 8; i++) queue.enqueue(new Entry('b'));
    let aBlocked = true;
    const served = drain(queue, (e) => e.userId !== 'a' || !aBlocked, 6);
    expect(served.every((e) => e.userId === 'b')).toBe(true);
    aBlocked = false;
    expect(queue.unblockUser('a')).toBe(true);
    // It rejoins at the current virtual time: one start of head-room, not four.
    expect(drain(queue).map((e) => e.userId).join('')).toBe('aababa');
  });

  it('estimates how many start before a request from virtual time', () => {
    const queue = new FairQueue<Entry>(2);
    const a = Array.from({ length: 10 }, () => new Entry('a'));
    for (const e of a) queue.enqueue(e);
    expect(queue.aheadOf(a[0]!)).toBe(0);
    expect(queue.aheadOf(a[9]!)).toBe(9);
    // b's first request ties with a's head on tag 0 and goes second.
    expect(queue.aheadOfNew('b', 0)).toBe(1);
    expect(queue.aheadOfNew('a', 0)).toBe(10);
    expect(queue.aheadOfNew('b', 1)).toBe(10);
    for (let i = 0; i < 10; i++) queue.enqueue(new Entry('c'));
    // 'a' and 'c' each hold 10: a's last is preceded by roughly 9 of a's and 9 of c's.
    expect(queue.aheadOf(a[9]!)).toBe(18);
  });

  it('counts earlier arrivals among many users tied on one start tag', () => {
    const queue = new FairQueue<Entry>(1);
    const entries = Array.from({ length: 6 }, (_, i) => new Entry(`u${i}`));
    for (const e of entries) queue.enqueue(e);
    expect(entries.map((e) => queue.aheadOf(e))).toEqual([0, 1, 2, 3, 4, 5]);
    queue.start(queue.peek(() => true)!);
    queue.remove(entries[3]!);
    expect(queue.aheadOf(entries[5]!)).toBe(3);
    expect(queue.aheadOf(entries[1]!)).toBe(0);
    expect(queue.aheadOfNew('late', 0)).toBe(4);
  });

  it('tracks each user\'s share of the queue and who holds the most per weight', () => {
    const queue = new FairQueue<Entry>(1);
    for (let i = 0; i < 6; i++) queue.enqueue(new Entry('a'));
    for (let i = 0; i < 2; i++) queue.enqueue(new Entry('b', 0, 2));
    expect(queue.heaviestUser()?.userId).toBe('a');
    expect(queue.fairShare('a', 1, 9)).toBeCloseTo(3);
    expect(queue.fairShare('new', 1, 8)).toBeCloseTo(2);
    expect(queue.newestOf('a')).toBeDefined();
  });
});
