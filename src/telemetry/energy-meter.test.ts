import { describe, expect, it } from 'vitest';
import type { UsageEntry } from '../core/usage.js';
import { ManualClock } from '../lib/clock.js';
import { EnergyMeter, energyBetween, type NodeEnergyInterval } from './energy-meter.js';
import type { GpuSample } from './gpu-sample.js';

const T0 = Date.UTC(2026, 0, 5, 10);

function setup(options: { nodes?: string[]; maxHoldMs?: number; weight?: number | 'auto' } = {}) {
  const clock = new ManualClock(T0);
  const recorded: UsageEntry[] = [];
  const intervals: NodeEnergyInterval[] = [];
  const meter = new EnergyMeter({
    usage: { record: (entry) => recorded.push(entry) }, intervals: { record: (i) => intervals.push(i) },
    nodes: options.nodes ?? ['gpu1'], maxHoldMs: options.maxHoldMs ?? 60_000, prefillTokenWeight: options.weight ?? 1, clock,
  });
  return { clock, meter, recorded, intervals };
}

function sample(atMs: number, watts: number[], energy?: number[]): GpuSample {
  return { atMs, gpus: watts.map((w, i) => ({ index: i, uuid: `GPU-${i}`, name: 'H100', powerWatts: w, ...(energy ? { energyJoules: energy[i] } : {}) })) };
}

function entry(requestId: string, tokens: { prompt: number; completion: number }, timing: { durationMs: number; ttftMs?: number }, model = 'llama'): UsageEntry {
  return {
    requestId, createdAt: new Date(), endpoint: '/v1/chat/completions', protocol: 'openai', model, node: 'gpu1', status: 200,
    promptTokens: tokens.prompt, completionTokens: tokens.completion, durationMs: timing.durationMs, ttftMs: timing.ttftMs,
  };
}

const sumWh = (entries: UsageEntry[]) => entries.reduce((s, e) => s + (e.energyWh ?? 0), 0);

describe('EnergyMeter', () => {
  it('gives a request covering 60 s of 2 GPUs at 200 W the whole 6.67 Wh, and nothing to idle', () => {
    const { clock, meter, recorded, intervals } = setup();
    meter.ingest('gpu1', sample(T0, [200, 200]));
    meter.started('r1', 'gpu1');
    for (let s = 1; s <= 60; s++) {
      clock.advance(1000);
      if (s === 60) meter.record(entry('r1', { prompt: 10, completion: 100 }, { durationMs: 60_000, ttftMs: 500 }));
      meter.ingest('gpu1', sample(T0 + s * 1000, [200, 200]));
    }
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.energyWh).toBeCloseTo((400 * 60) / 3600, 9);
    expect(intervals.reduce((s, i) => s + i.idleJoules, 0)).toBe(0);
    expect(intervals.reduce((s, i) => s + i.joules, 0)).toBeCloseTo(24_000, 9);
  });

  it('holds a finished request until a sample covers its end, then hands it on with its energy', () => {
    const { clock, meter, recorded } = setup();
    meter.ingest('gpu1', sample(T0, [100]));
    meter.started('r1', 'gpu1');
    clock.advance(1500);
    meter.record(entry('r1', { prompt: 0, completion: 10 }, { durationMs: 1500, ttftMs: 0 }));
    meter.ingest('gpu1', sample(T0 + 1000, [100]));
    expect(recorded).toHaveLength(0);
    expect(meter.heldCount()).toBe(1);
    meter.ingest('gpu1', sample(T0 + 2000, [100]));
    expect(recorded).toHaveLength(1);
    // 1.5 s of the 2 s measured, the rest idle.
    expect(recorded[0]!.energyWh! * 3600).toBeCloseTo(150, 6);
  });

  it('splits an interval between two requests by weighted tokens', () => {
    const { clock, meter, recorded } = setup({ weight: 0.5 });
    meter.ingest('gpu1', sample(T0, [300]));
    meter.started('a', 'gpu1');
    meter.started('b', 'gpu1');
    clock.advance(1000);
    // a: 100 prompt × 0.5 + 50 generated = 100 work; b: 0 + 300 = 300 work → a gets a quarter.
    meter.record(entry('a', { prompt: 100, completion: 50 }, { durationMs: 1000, ttftMs: 200 }));
    meter.record(entry('b', { prompt: 0, completion: 300 }, { durationMs: 1000, ttftMs: 0 }));
    meter.ingest('gpu1', sample(T0 + 1000, [300]));
    const byId = Object.fromEntries(recorded.map((e) => [e.requestId, e.energyWh! * 3600]));
    expect(byId.a).toBeCloseTo(75, 6);
    expect(byId.b).toBeCloseTo(225, 6);
  });

  it('waits for a request still running before splitting, and splits by time once the wait is overdue', () => {
    const { clock, meter, recorded } = setup({ maxHoldMs: 5000 });
    meter.ingest('gpu1', sample(T0, [100]));
    meter.started('long', 'gpu1');
    meter.started('short', 'gpu1');
    clock.advance(1000);
    meter.record(entry('short', { prompt: 0, completion: 10 }, { durationMs: 1000, ttftMs: 0 }));
    meter.ingest('gpu1', sample(T0 + 1000, [100]));
    expect(recorded).toHaveLength(0);
    clock.advance(6000);
    meter.tick();
    // Both ran the whole second: half each by time.
    expect(recorded.map((e) => [e.requestId, e.energyWh! * 3600])).toEqual([['short', 50]]);
    meter.ingest('gpu1', sample(T0 + 7000, [100]));
    clock.advance(1);
    meter.record(entry('long', { prompt: 0, completion: 10 }, { durationMs: 7001, ttftMs: 0 }));
    meter.close();
    expect(recorded.find((e) => e.requestId === 'long')!.energyWh! * 3600).toBeCloseTo(50 + 600, 6);
  });

  it('passes requests on nodes without telemetry straight through, without energy', () => {
    const { meter, recorded } = setup();
    meter.started('x', 'cpu-node');
    meter.record({ ...entry('x', { prompt: 1, completion: 1 }, { durationMs: 5 }), node: 'cpu-node' });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.energyWh).toBeUndefined();
  });

  it('counts a request moved to another node on the node that served it', () => {
    const { clock, meter, recorded } = setup({ nodes: ['gpu1', 'gpu2'] });
    meter.ingest('gpu1', sample(T0, [100]));
    meter.ingest('gpu2', sample(T0, [100]));
    meter.started('r', 'gpu1');
    meter.started('r', 'gpu2');
    clock.advance(1000);
    meter.record(entry('r', { prompt: 0, completion: 5 }, { durationMs: 1000, ttftMs: 0 }));
    meter.ingest('gpu1', sample(T0 + 1000, [100]));
    expect(recorded).toHaveLength(0);
    meter.ingest('gpu2', sample(T0 + 1000, [100]));
    expect(recorded[0]!.energyWh! * 3600).toBeCloseTo(100, 6);
  });

  it('sums to the measured total exactly on random scenarios (requests + idle = measured)', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 20; round++) {
      const { clock, meter, recorded, intervals } = setup({ weight: 'auto' });
      meter.ingest('gpu1', sample(T0, [100, 100]));
      const running = new Map<string, number>();
      let next = 0;
      for (let ms = 100; ms <= 120_000; ms += 100) {
        clock.set(T0 + ms);
        if (random() < 0.02) {
          meter.started(`r${next}`, 'gpu1');
          running.set(`r${next++}`, ms);
        }
        for (const [id, start] of running) {
          if (random() < 0.01) {
            running.delete(id);
            const duration = ms - start;
            meter.record(entry(id, { prompt: Math.floor(random() * 500), completion: Math.floor(random() * 300) }, { durationMs: duration, ttftMs: duration * random() }));
          }
        }
        if (ms % 1000 === 0) meter.ingest('gpu1', sample(T0 + ms, [100 + random() * 300, 50 + random() * 600]));
      }
      meter.close();
      const measuredJ = intervals.reduce((s, i) => s + i.joules, 0);
      const idleJ = intervals.reduce((s, i) => s + i.idleJoules, 0);
      expect(recorded.length).toBe(next - running.size);
      // Requests still running at the end took their share; they are the only other place energy can be.
      const unreported = measuredJ - idleJ - sumWh(recorded) * 3600;
      if (running.size === 0) expect(Math.abs(unreported)).toBeLessThan(1e-6 * measuredJ);
      else expect(unreported).toBeGreaterThanOrEqual(-1e-6);
    }
  });
});

describe('energyBetween', () => {
  it('takes the counter difference when both samples have one, and power × time after a counter reset', () => {
    expect(energyBetween(sample(0, [100], [1000]), sample(2000, [300], [1250]))).toBe(250);
    expect(energyBetween(sample(0, [100], [1000]), sample(2000, [300], [10]))).toBe(400);
    expect(energyBetween(sample(0, [100]), sample(2000, [300]))).toBe(400);
  });
});

describe('EnergyMeter.releaseHeld', () => {
  it('hands held entries on at once with the energy known so far (before an erasure)', () => {
    const { clock, meter, recorded } = setup();
    meter.ingest('gpu1', sample(T0, [100]));
    meter.started('r', 'gpu1');
    clock.advance(2500);
    meter.ingest('gpu1', sample(T0 + 1000, [100]));
    meter.record(entry('r', { prompt: 0, completion: 5 }, { durationMs: 2500, ttftMs: 0 }));
    expect(recorded).toHaveLength(0);
    meter.releaseHeld();
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.energyWh! * 3600).toBeCloseTo(100, 6);
  });
});
