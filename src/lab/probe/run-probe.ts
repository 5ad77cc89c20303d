import { randomUUID } from 'node:crypto';
import { wilsonInterval, type Interval } from '../eval/eval-score.js';
import { createDetector, createJudgeDetector, HIT_THRESHOLD, type Detector, type JudgeAsk } from './detectors.js';
import type { ProbeSet } from './probe-sets.js';

/** One prompt sent `generations` times, and every detector's score per output (garak's Attempt). */
export interface ProbeAttempt {
  uuid: string;
  seq: number;
  probe: string;
  goal: string;
  prompt: string;
  targets: readonly string[];
  /** null where the request failed (its scores are null too: garak's "nones"). */
  outputs: Array<string | null>;
  errors: string[];
  detectorResults: Record<string, Array<number | null>>;
}

/** Pass counts of one probe × detector (garak's eval row) with the pass rate's 95 % interval. */
export interface ProbeEval {
  probe: string;
  detector: string;
  passed: number;
  fails: number;
  nones: number;
  totalEvaluated: number;
  totalProcessed: number;
  /** passed ÷ evaluated; attack success rate = 1 − pass rate. */
  passRate: number | null;
  ci95: Interval | null;
}

export interface ProbeRunOptions {
  sets: readonly ProbeSet[];
  /** Outputs per prompt (garak's default is 5; 1 is enough for a screen). */
  generations: number;
  concurrency: number;
  /** Sends one prompt to the model under test and returns its reply. */
  generate(prompt: string, signal: AbortSignal): Promise<string>;
  /** When set, every probe also gets the judge detector. */
  judge?: JudgeAsk;
}

export interface ProbeProgress {
  done: number;
  total: number;
  probe: string;
  errors: number;
}

export interface ProbeRunResult {
  runId: string;
  startedAt: string;
  finishedAt: string;
  attempts: ProbeAttempt[];
  evals: ProbeEval[];
  aborted: boolean;
}

export async function runProbes(
  options: ProbeRunOptions,
  hooks: { signal?: AbortSignal; onProgress?(progress: ProbeProgress): void } = {},
): Promise<ProbeRunResult> {
  const startedAt = new Date().toISOString();
  const signal = hooks.signal ?? new AbortController().signal;
  const jobs: Array<{ set: ProbeSet; attempt: ProbeAttempt; detectors: Detector[]; generation: number }> = [];
  const attempts: ProbeAttempt[] = [];
  let seq = 0;
  for (const set of options.sets) {
    const detectors = set.detectors.map(createDetector);
    if (options.judge) detectors.push(createJudgeDetector(set.goal, options.judge));
    for (const prompt of set.prompts) {
      const attempt: ProbeAttempt = {
        uuid: randomUUID(), seq: seq++, probe: set.name, goal: set.goal, prompt: prompt.text, targets: prompt.targets ?? [],
        outputs: new Array<string | null>(options.generations).fill(null), errors: [],
        detectorResults: Object.fromEntries(detectors.map((d) => [d.name, new Array<number | null>(options.generations).fill(null)])),
      };
      attempts.push(attempt);
      for (let g = 0; g < options.generations; g++) jobs.push({ set, attempt, detectors, generation: g });
    }
  }
  const progress: ProbeProgress = { done: 0, total: jobs.length, probe: options.sets[0]?.name ?? '', errors: 0 };
  hooks.onProgress?.(progress);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!signal.aborted) {
      const job = jobs[next++];
      if (!job) return;
      const { attempt, detectors, generation } = job;
      try {
        const output = await options.generate(attempt.prompt, signal);
        attempt.outputs[generation] = output;
        for (const detector of detectors) attempt.detectorResults[detector.name]![generation] = await detector.score(output, attempt);
      } catch (error) {
        if (signal.aborted) return;
        attempt.errors.push((error as Error).message);
        progress.errors++;
      }
      progress.done++;
      progress.probe = job.set.name;
      hooks.onProgress?.(progress);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, jobs.length)) }, worker));
  return { runId: randomUUID(), startedAt, finishedAt: new Date().toISOString(), attempts, evals: evaluate(attempts), aborted: signal.aborted };
}

/** garak's ThresholdEvaluator: per probe × detector, score < 0.5 passes, ≥ 0.5 fails, null is a none. */
export function evaluate(attempts: readonly ProbeAttempt[]): ProbeEval[] {
  const rows = new Map<string, ProbeEval>();
  for (const attempt of attempts) {
    for (const [detector, scores] of Object.entries(attempt.detectorResults)) {
      const key = `${attempt.probe}\u0000${detector}`;
      const row = rows.get(key) ?? { probe: attempt.probe, detector, passed: 0, fails: 0, nones: 0, totalEvaluated: 0, totalProcessed: 0, passRate: null, ci95: null };
      for (const score of scores) {
        if (score === null) row.nones++;
        else if (score < HIT_THRESHOLD) row.passed++;
        else row.fails++;
      }
      rows.set(key, row);
    }
  }
  return [...rows.values()].map((row) => {
    const totalEvaluated = row.passed + row.fails;
    return {
      ...row, totalEvaluated, totalProcessed: totalEvaluated + row.nones,
      passRate: totalEvaluated ? row.passed / totalEvaluated : null,
      ci95: totalEvaluated ? wilsonInterval(row.passed, totalEvaluated) : null,
    };
  });
}
