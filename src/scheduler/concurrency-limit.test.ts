import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit, type LimitSample } from './concurrency-limit.js';

/**
 * A node like Ollama: `parallel` streams run at once, the rest wait in its own FIFO queue; k
 * running streams slow prefill and decode alike by g(k) = (1 + 0.5·(k − 1))^0.5. `clients`
 * closed-loop users send through a Flexi that admits `limiter.limit` at a time. Virtual time:
 * events are processed in time order, so nothing here depends on the machine's speed.
 */
function simulateNode(options: { parallel: number; clients: number; requests: number; limiter: ConcurrencyLimit; tokens?: number }) {
  const { parallel, limiter } = options;
  const tokens = options.tokens ?? 200;
  const g = (k: number) => (1 + 0.5 * (k - 1)) ** 0.5;
  interface Job { sentAtMs: number; concurrency: number }
  const events: { atMs: number; run: () => void }[] = [];
  const at = (atMs: number, run: () => void) => {
    events.push({ atMs, run });
    events.sort((a, b) => a.atMs - b.atMs);
  };
  let now = 0;
  let flexiInFlight = 0;
  let flexiWaiting = options.clients;
  let nodeRunning = 0;
  const nodeQueue: Job[] = [];
  let sent = 0;
  let done = 0;
  const limits: number[] = [];
  let maxInFlight = 0;

  const startOnNode = (job: Job) => {
    nodeRunning++;
    const k = nodeRunning;
    const firstTokenAtMs = now + 100 * g(k);
    const endAtMs = firstTokenAtMs + tokens * 10 * g(k);
    at(firstTokenAtMs, () => {
      if (limiter.observeFirstToken({ concurrency: job.concurrency, ttftMs: firstTokenAtMs - job.sentAtMs, cold: false })) dispatch();
    });
    at(endAtMs, () => {
      nodeRunning--;
      const next = nodeQueue.shift();
      if (next) startOnNode(next);
      flexiInFlight--;
      done++;
      limiter.observe({
        concurrency: job.concurrency, ttftMs: firstTokenAtMs - job.sentAtMs, decodeMs: endAtMs - firstTokenAtMs, completionTokens: tokens, cold: false,
      });
      limits.push(limiter.limit);
      flexiWaiting++;
      dispatch();
    });
  };
  const dispatch = () => {
    while (flexiWaiting > 0 && flexiInFlight < limiter.limit && sent < options.requests) {
      flexiWaiting--;
      flexiInFlight++;
      sent++;
      maxInFlight = Math.max(maxInFlight, flexiInFlight);
      const job = { sentAtMs: now, concurrency: flexiInFlight };
      if (nodeRunning < parallel) startOnNode(job);
      else nodeQueue.push(job);
    }
  };
  dispatch();
  while (events.length > 0) {
    const event = events.shift()!;
    now = event.atMs;
    event.run();
  }
  return { limits, done, maxInFlight };
}

const quiet = (concurrency: number, extra: Partial<LimitSample> = {}): LimitSample => ({
  concurrency, ttftMs: 100, decodeMs: 199 * 10, completionTokens: 200, cold: false, ...extra,
});

describe('ConcurrencyLimit', () => {
  it.each([
    { parallel: 4, initial: 1, label: 'probing up from 1 (Ollama)' },
    { parallel: 12, initial: 1, label: 'probing up from 1 (Ollama)' },
    { parallel: 6, initial: 64, label: 'starting optimistic (vLLM)' },
  ])('converges to the node\'s parallel limit $parallel $label and stays within one of it', ({ parallel, initial }) => {
    const limiter = new ConcurrencyLimit({ initial, max: 64 });
    const run = simulateNode({ parallel, clients: 30, requests: 600, limiter });
    expect(run.done).toBe(600);
    const settled = run.limits.slice(-300);
    expect(Math.min(...settled)).toBeGreaterThanOrEqual(parallel);
    expect(Math.max(...settled)).toBeLessThanOrEqual(parallel + 1);
    expect(limiter.state().phase).toBe('steady');
  });

  it('grows only while the limit binds: past the clients\' concurrency when the node runs more, then no further', () => {
    const limiter = new ConcurrencyLimit({ initial: 1, max: 64 });
    simulateNode({ parallel: 32, clients: 10, requests: 200, limiter });
    const grown = limiter.limit;
    expect(grown).toBeGreaterThanOrEqual(10);
    expect(grown).toBeLessThanOrEqual(20);
    simulateNode({ parallel: 32, clients: 10, requests: 200, limiter });
    expect(limiter.limit).toBe(grown);
    expect(limiter.state().queuedSamples).toBe(0);
  });

  it('never exceeds the operator\'s slots, and reaches them when the node runs more', () => {
    const limiter = new ConcurrencyLimit({ initial: 1, max: 3 });
    const run = simulateNode({ parallel: 8, clients: 30, requests: 200, limiter });
    expect(run.maxInFlight).toBe(3);
    expect(Math.max(...run.limits)).toBe(3);
    expect(limiter.limit).toBe(3);
  });

  it('backs off to just below the concurrency at which TTFT jumped while the token rate stayed flat', () => {
    const limiter = new ConcurrencyLimit({ initial: 8, max: 64 });
    for (let k = 1; k <= 4; k++) expect(limiter.observe(quiet(k))).toBe('quiet');
    // Same 10 ms per token, but the first token waited for another stream to finish.
    expect(limiter.observe(quiet(5, { ttftMs: 2100 }))).toBe('queued');
    expect(limiter.limit).toBe(4);
  });

  it('does not back off for a first token a few ms late at hundreds of tokens per second (a busy event loop, not a queue)', () => {
    const limiter = new ConcurrencyLimit({ initial: 8, max: 64 });
    limiter.observe(quiet(1, { ttftMs: 20, decodeMs: 199 * 2 })); // 500 tokens/s: baseline 10 token intervals
    expect(limiter.observe(quiet(8, { ttftMs: 200, decodeMs: 199 * 2 }))).toBe('quiet'); // 100 intervals, but 180 ms
    expect(limiter.limit).toBe(9);
  });

  it('does not back off when TTFT rises with a slower token rate (batching, not queueing)', () => {
    const limiter = new ConcurrencyLimit({ initial: 8, max: 64 });
    limiter.observe(quiet(1));
    // Both 3× slower: a busier GPU, no internal queue.
    expect(limiter.observe(quiet(8, { ttftMs: 300, decodeMs: 199 * 30 }))).toBe('quiet');
    expect(limiter.limit).toBe(9);
  });

  it('halves at most on one queued sample, and ignores queued samples sent under an older, higher limit', () => {
    const limiter = new ConcurrencyLimit({ initial: 40, max: 64 });
    limiter.observe(quiet(1));
    limiter.observe(quiet(2, { ttftMs: 5000 }));
    expect(limiter.limit).toBe(20);
    limiter.observe(quiet(30, { ttftMs: 5000 }));
    expect(limiter.limit).toBe(20);
  });

  it('doubles on a quick first token while learning with the limit full, and not on a slow one or once steady', () => {
    const limiter = new ConcurrencyLimit({ initial: 1, max: 64 });
    expect(limiter.observeFirstToken({ concurrency: 1, ttftMs: 100, cold: false })).toBe(false); // nothing quiet seen yet
    limiter.observe(quiet(1));
    expect(limiter.limit).toBe(2);
    expect(limiter.observeFirstToken({ concurrency: 1, ttftMs: 100, cold: false })).toBe(false); // limit not full
    expect(limiter.observeFirstToken({ concurrency: 2, ttftMs: 100, cold: false })).toBe(true);
    expect(limiter.limit).toBe(4);
    expect(limiter.observeFirstToken({ concurrency: 4, ttftMs: 1000, cold: false })).toBe(false); // waited: maybe queued
    expect(limiter.observeFirstToken({ concurrency: 4, ttftMs: 100, cold: true })).toBe(false);
    limiter.observe(quiet(4, { ttftMs: 5000 }));
    expect(limiter.state().phase).toBe('steady');
    expect(limiter.observeFirstToken({ concurrency: 3, ttftMs: 100, cold: false })).toBe(false);
  });

  it('ignores cold loads, and samples without a token rate', () => {
    const limiter = new ConcurrencyLimit({ initial: 4, max: 64 });
    limiter.observe(quiet(1));
    expect(limiter.observe(quiet(3, { ttftMs: 30_000, cold: true }))).toBe('ignored');
    expect(limiter.observe(quiet(3, { completionTokens: 1 }))).toBe('ignored');
    expect(limiter.limit).toBe(4);
    expect(limiter.state().samples).toBe(1);
  });

  it('compares a long prompt with long prompts: its prefill is not a queue', () => {
    const limiter = new ConcurrencyLimit({ initial: 4, max: 64 });
    limiter.observe(quiet(1, { promptTokens: 20 }));
    expect(limiter.observe(quiet(2, { promptTokens: 4000, ttftMs: 1500 }))).toBe('quiet');
    expect(limiter.limit).toBe(4);
  });

  it('keeps the embedded engine\'s slots fixed', () => {
    const limiter = new ConcurrencyLimit({ initial: 1, max: 2, fixed: true });
    expect(limiter.observe(quiet(2, { ttftMs: 9000 }))).toBe('ignored');
    expect(limiter.state()).toMatchObject({ limit: 2, phase: 'fixed' });
  });
});
