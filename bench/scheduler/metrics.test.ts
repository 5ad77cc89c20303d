import { describe, expect, it } from 'vitest';
import type { BenchRecord } from './driver.js';
import { failuresByStart, isGood, jainIndex, loneReference, normalizedService, summarizeClass } from './metrics.js';

const rec = (over: Partial<BenchRecord>): BenchRecord => ({
  user: 'u', role: 'student', class: 'interactive', model: 'llama3', sentAtMs: 0, ok: true, ttftMs: 100, e2eMs: 1000, outputTokens: 10, ...over,
});

describe('jainIndex', () => {
  it('is 1 for equal shares and 1/n when one user gets everything', () => {
    expect(jainIndex([2, 2, 2, 2])).toBe(1);
    expect(jainIndex([1, 0, 0, 0])).toBe(0.25);
    expect(jainIndex([1, 0.5])).toBeCloseTo(2.25 / 2.5, 10);
    expect(jainIndex([])).toBeNull();
  });
});

describe('summarizeClass', () => {
  it('counts refusals, time-outs and failures apart, leaves cut requests out and measures goodput over the span', () => {
    const records = [
      rec({ sentAtMs: 0, e2eMs: 1000, ttftMs: 100 }),
      rec({ sentAtMs: 1000, e2eMs: 3000, ttftMs: 6000 }),
      rec({ sentAtMs: 2000, ok: false, errorKind: 'refused', status: 429, e2eMs: 500, ttftMs: undefined }),
      rec({ sentAtMs: 2000, ok: false, errorKind: 'timeout', e2eMs: 300_000, ttftMs: undefined }),
      rec({ sentAtMs: 2000, ok: false, errorKind: 'mid_stream', e2eMs: 100, ttftMs: 50 }),
      rec({ sentAtMs: 2000, ok: false, errorKind: 'aborted', e2eMs: 900_000 }),
      rec({ class: 'batch', sentAtMs: 0, e2eMs: 10_000, ttftMs: 9000 }),
    ];
    const s = summarizeClass(records, 'interactive');
    expect(s).toMatchObject({ requests: 5, ok: 2, refused: 1, refused429: 1, timedOut: 1, failed: 1, cut: 1, good: 1, maxRefusalWaitS: 0.5 });
    expect(s.goodputPerS).toBeCloseTo(1 / 302, 10);
    expect(summarizeClass(records, 'batch')).toMatchObject({ requests: 1, good: 1 });
    expect(isGood(rec({ class: 'batch', ttftMs: 60_000, e2eMs: 200_000 }), { interactiveTtftMs: 5000, timeoutMs: 300_000 })).toBe(true);
  });
});

describe('normalizedService', () => {
  it('scores each request ideal ÷ measured, refusals 0, and averages per user', () => {
    const lone = [rec({ class: 'lone', ttftMs: 100, e2eMs: 1000, outputTokens: 10 })];
    const reference = loneReference(lone)!;
    expect(reference).toEqual({ ttftMs: 100, tpotMs: 100 });
    const service = normalizedService([
      rec({ user: 'a', e2eMs: 1000 }),
      rec({ user: 'a', e2eMs: 2000 }),
      rec({ user: 'b', e2eMs: 500 }),
      rec({ user: 'b', ok: false, errorKind: 'refused', e2eMs: 10 }),
      rec({ user: 'c', class: 'batch', e2eMs: 100_000 }),
    ], reference);
    expect(service.get('a')).toBeCloseTo(0.75, 10);
    expect(service.get('b')).toBeCloseTo(0.5, 10);
    expect(service.has('c')).toBe(false);
  });
});

describe('failuresByStart', () => {
  it('splits failures by whether a token had arrived; refusals and cut requests are not failures', () => {
    expect(failuresByStart([
      rec({ ok: false, errorKind: 'connection', ttftMs: undefined }),
      rec({ ok: false, errorKind: 'timeout', ttftMs: undefined }),
      rec({ ok: false, errorKind: 'mid_stream', ttftMs: 40 }),
      rec({ ok: false, errorKind: 'refused', ttftMs: undefined }),
      rec({ ok: false, errorKind: 'aborted', ttftMs: undefined }),
    ])).toEqual({ notStarted: 2, started: 1 });
  });
});

describe('parseGatewayQueue', () => {
  it('reads Flexi\'s queue-wait histogram per class, summed over models, in simulated seconds', async () => {
    const { parseGatewayQueue } = await import('./report.js');
    const metrics = [
      '# HELP flexi_queue_wait_seconds Time requests waited for a node, by model and priority class.',
      'flexi_queue_wait_seconds_bucket{le="0.005",model="llama3:latest",class="interactive"} 8',
      'flexi_queue_wait_seconds_bucket{le="0.01",model="llama3:latest",class="interactive"} 9',
      'flexi_queue_wait_seconds_sum{model="llama3:latest",class="interactive"} 0.5',
      'flexi_queue_wait_seconds_count{model="llama3:latest",class="interactive"} 10',
      'flexi_queue_wait_seconds_bucket{le="0.005",model="phi3:latest",class="batch"} 0',
      'flexi_queue_wait_seconds_sum{model="phi3:latest",class="batch"} 4',
      'flexi_queue_wait_seconds_count{model="phi3:latest",class="batch"} 2',
      'flexi_requests_total 7',
    ].join('\n');
    const queue = parseGatewayQueue(metrics, 2)!;
    expect(queue.interactive).toEqual({ requests: 10, meanWaitS: 0.1, queuedShare: expect.closeTo(0.2, 9) });
    expect(queue.batch).toEqual({ requests: 2, meanWaitS: 4, queuedShare: 1 });
    expect(parseGatewayQueue('flexi_requests_total 7', 1)).toBeUndefined();
  });
});
