import { describe, expect, it } from 'vitest';
import { scrubString, scrubValue } from './audit-scrub.js';

describe('scrubValue', () => {
  const needles = ['AbCdEf123456', 'ann@uni.example', 'Li'];

  it('replaces ids and e-mails inside strings, nested objects and arrays', () => {
    expect(scrubValue({ user_id: 'AbCdEf123456', email: 'Ann@Uni.Example', note: 'for ann@uni.example today', list: ['x', 'AbCdEf123456'], n: 3 }, needles, 'erased:R'))
      .toEqual({ user_id: 'erased:R', email: 'erased:R', note: 'for erased:R today', list: ['x', 'erased:R'], n: 3 });
  });

  it('replaces short values only where the whole value matches', () => {
    expect(scrubString('Li', needles, 'erased:R')).toBe('erased:R');
    expect(scrubString('Linear algebra', needles, 'erased:R')).toBe('Linear algebra');
  });

  it('keeps positions right when lower-casing changes a string\'s length', () => {
    expect(scrubString('İstanbul AbCdEf123456', needles, 'R')).toBe('İstanbul R');
  });
});
