import { describe, expect, it } from 'vitest';
import type { PurgeResult } from './privacy.service.js';
import { RetentionJob } from './retention-job.js';

const RESULT: PurgeResult = { at: '2026-01-01T00:00:00.000Z', dryRun: false, classes: [], unlinkedUsageSubjects: 0 };

describe('RetentionJob', () => {
  it('runs at start, never twice at once, and reports errors', async () => {
    let calls = 0;
    let release: () => void = () => {};
    const errors: unknown[] = [];
    const results: PurgeResult[] = [];
    const job = new RetentionJob({
      intervalMs: 3_600_000,
      purge: () => {
        calls += 1;
        if (calls === 2) return Promise.reject(new Error('database down'));
        return new Promise((resolve) => (release = () => resolve(RESULT)));
      },
      onResult: (r) => results.push(r),
      onError: (e) => errors.push(e),
    });
    job.start();
    expect(calls).toBe(1);
    const again = job.runOnce();
    expect(calls).toBe(1);
    release();
    await again;
    expect(results).toEqual([RESULT]);
    await job.runOnce();
    expect((errors[0] as Error).message).toBe('database down');
    await job.stop();
  });

  it('purges only while this replica leads the job', async () => {
    let calls = 0;
    let leader = false;
    const job = new RetentionJob({ intervalMs: 3_600_000, purge: async () => (calls++, RESULT), isLeader: () => leader });
    job.start();
    await job.runOnce();
    expect(calls).toBe(0);
    leader = true;
    await job.runOnce();
    expect(calls).toBe(1);
    await job.stop();
  });

  it('does nothing with an interval of 0', async () => {
    let calls = 0;
    const job = new RetentionJob({ intervalMs: 0, purge: async () => (calls++, RESULT) });
    job.start();
    await job.stop();
    expect(calls).toBe(0);
  });
});
