import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Backend } from '../../backends/backend.js';
import { ManualClock } from '../../lib/clock.js';
import { Scheduler } from '../../scheduler/scheduler.js';
import type { ModelEntry } from './model-registry.service.js';
import { SchedulerDispatcher } from './scheduler-dispatcher.js';

const backend = { name: 'gpu1' } as Backend;
const entry = { name: 'm', nodes: [backend], aliases: [] } as unknown as ModelEntry;

function dispatcher(queueNoticeDelayMs: number): SchedulerDispatcher {
  const scheduler = new Scheduler({
    clock: new ManualClock(0), setTimer: () => () => undefined,
    settings: { classes: [{ name: 'standard', maxWaitMs: 1e9 }], defaultClass: 'standard' },
    nodes: [{ name: 'gpu1', type: 'sim', configuredSlots: 1, models: [{ name: 'm' }], resident: [{ name: 'm' }] }],
  });
  return new SchedulerDispatcher(scheduler, [backend], undefined, queueNoticeDelayMs);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('SchedulerDispatcher queue notices', () => {
  it('reports a waiting request\'s position at once by default', async () => {
    vi.useFakeTimers();
    const d = dispatcher(0);
    const first = await d.acquire({ model: entry, requester: { subject: 'a' }, signal: new AbortController().signal });
    const notices: number[] = [];
    const second = d.acquire({ model: entry, requester: { subject: 'b' }, signal: new AbortController().signal, onWaiting: (info) => notices.push(info.position) });
    await vi.advanceTimersByTimeAsync(0);
    expect(notices).toEqual([1]);
    first.release({ ok: true });
    (await second).release({ ok: true });
  });

  it('sends nothing before cluster.queue_notice_delay_ms, so an ingress could still retry the request elsewhere', async () => {
    vi.useFakeTimers();
    const d = dispatcher(5000);
    const first = await d.acquire({ model: entry, requester: { subject: 'a' }, signal: new AbortController().signal });
    const notices: number[] = [];
    const second = d.acquire({ model: entry, requester: { subject: 'b' }, signal: new AbortController().signal, onWaiting: (info) => notices.push(info.position) });
    await vi.advanceTimersByTimeAsync(4999);
    expect(notices).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(notices).toEqual([1]);
    first.release({ ok: true });
    (await second).release({ ok: true });
    // Granted: no more notices.
    await vi.advanceTimersByTimeAsync(5000);
    expect(notices).toEqual([1]);
  });
});
