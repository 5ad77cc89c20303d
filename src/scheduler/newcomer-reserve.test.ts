import { describe, expect, it } from 'vitest';
import { NewcomerReserve, reserveSlots } from './newcomer-reserve.js';

describe('reserveSlots', () => {
  it('keeps nothing on one slot, one slot up to 15, an eighth above, never the whole model', () => {
    expect([1, 2, 4, 8, 15, 16, 32, 64].map((c) => reserveSlots(c, 0.125))).toEqual([0, 1, 1, 1, 1, 2, 4, 8]);
    expect(reserveSlots(4, 0)).toBe(0);
    expect(reserveSlots(2, 0.5)).toBe(1);
    expect(reserveSlots(3, 0.5)).toBe(1);
  });
});

describe('NewcomerReserve', () => {
  const queued = new Map<string, number>();
  const make = () => new NewcomerReserve({ share: 0.125, windowMs: 1000 }, { userQueued: (u) => queued.get(u) ?? 0 });

  it('holds a running, waiting user back from the last free slot while a light user was active within the window', () => {
    const reserve = make();
    queued.set('heavy', 5);
    reserve.noteActivity('light', 0);
    reserve.onStart('heavy', 0);
    expect(reserve.admits('light', 1, 4, 10)).toBe(true);
    expect(reserve.admits('heavy', 2, 4, 10)).toBe(true);
    expect(reserve.admits('heavy', 1, 4, 10)).toBe(false);
    expect(reserve.lendsAtMs(10)).toBe(1000);
    expect(reserve.beginDispatch()).toEqual(['heavy']);
    expect(reserve.admits('heavy', 1, 4, 1000)).toBe(true);
  });

  it('lends the reserve once all of many light users have been idle for the window, and holds it for the next one', () => {
    const reserve = make();
    queued.set('heavy', 5);
    for (let i = 0; i < 500; i++) reserve.noteActivity(`light${i}`, i);
    reserve.onStart('heavy', 2000);
    expect(reserve.admits('heavy', 1, 4, 2000)).toBe(true);
    reserve.noteActivity('late', 2500);
    expect(reserve.admits('heavy', 1, 4, 2600)).toBe(false);
  });
});
