import { describe, expect, it } from 'vitest';
import { checkFromMetrics, formatLocalCheck, formatLocalChecks, stateOf, worst } from './checkmk.js';

describe('Checkmk local checks', () => {
  it('writes status, quoted service, metrics with thresholds and detail on one line', () => {
    const check = checkFromMetrics('Flexi GPU gpu1/0', [
      { name: 'flexi_gpu_power_watts', value: 680.5, thresholds: { warn: 665, crit: 700 }, min: 0, max: 700 },
      { name: 'flexi_gpu_utilization_ratio', value: 1 },
    ], 'H100, 680 W\nof 700 W');
    expect(formatLocalCheck(check)).toBe('1 "Flexi GPU gpu1/0" flexi_gpu_power_watts=680.5;665;700;0;700|flexi_gpu_utilization_ratio=1 WARN - H100, 680 W of 700 W');
  });

  it('writes - when there are no metrics, and keeps an explicit state when the metrics are fine', () => {
    expect(formatLocalCheck(checkFromMetrics('Flexi gateway', [], 'down', 2))).toBe('2 "Flexi gateway" - CRIT - down');
  });

  it('is OK below warn, WARN from warn, CRIT from crit', () => {
    const t = { warn: 10, crit: 20 };
    expect([9.99, 10, 19.99, 20, 50].map((v) => stateOf(v, t))).toEqual([0, 1, 1, 2, 2]);
    expect(worst([0, 3, 1])).toBe(1);
    expect(worst([0, 3])).toBe(3);
  });

  it('prints the section header only when asked', () => {
    const text = formatLocalChecks([checkFromMetrics('a', [], 'x')], { header: true });
    expect(text).toBe('<<<local:sep(0)>>>\n0 "a" - OK - x\n');
  });
});
