import { afterEach, describe, expect, it, vi } from 'vitest';
import { RosterSyncJob, type LtiService } from './lti.service.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('RosterSyncJob', () => {
  it('syncs every interval, never two runs at once, and reports failures', async () => {
    vi.useFakeTimers();
    let release: (() => void) | undefined;
    const syncAll = vi.fn(() => new Promise<[]>((resolve) => (release = () => resolve([]))));
    const errors: string[] = [];
    const job = new RosterSyncJob({ syncAll } as unknown as LtiService, 1000, (error) => errors.push(error.message));
    job.start();
    expect(syncAll).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1000);
    expect(syncAll).toHaveBeenCalledTimes(1);
    // Still running: the next tick skips instead of starting a second sync.
    await vi.advanceTimersByTimeAsync(1000);
    expect(syncAll).toHaveBeenCalledTimes(1);
    release!();
    await vi.advanceTimersByTimeAsync(1000);
    expect(syncAll).toHaveBeenCalledTimes(2);
    syncAll.mockImplementationOnce(() => Promise.reject(new Error('platform down')));
    release!();
    await vi.advanceTimersByTimeAsync(1000);
    expect(errors).toEqual(['platform down']);
    await job.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(syncAll).toHaveBeenCalledTimes(3);
  });

  it('does nothing with interval 0', async () => {
    vi.useFakeTimers();
    const syncAll = vi.fn(async () => []);
    const job = new RosterSyncJob({ syncAll } as unknown as LtiService, 0, () => undefined);
    job.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(syncAll).not.toHaveBeenCalled();
    await job.stop();
  });

  it('syncs only on the replica that leads the roster-sync job, and takes over when it becomes the leader', async () => {
    vi.useFakeTimers();
    let leader = false;
    const syncAll = vi.fn(async () => []);
    const job = new RosterSyncJob({ syncAll } as unknown as LtiService, 1000, () => undefined, () => leader);
    job.start();
    await vi.advanceTimersByTimeAsync(5000);
    expect(syncAll).not.toHaveBeenCalled();
    leader = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(syncAll).toHaveBeenCalledTimes(1);
    await job.stop();
  });
});
