import { wilsonInterval, type Interval } from '../eval/eval-score.js';
import { HIT_THRESHOLD } from './detectors.js';
import type { ProbeSet } from './probe-sets.js';
import type { ProbeEval, ProbeRunResult } from './run-probe.js';

/** summary.json of a `flexi probe` run (schema flexi.probe/1); the model catalog reads it. */
export interface ProbeSummary {
  schema: 'flexi.probe/1';
  model: string;
  target: string;
  runId: string;
  startedAt: string;
  finishedAt: string;
  generations: number;
  judgeModel?: string;
  probes: Array<{
    name: string; family: string; tier: number; goal: string; source: string; licence: string; prompts: number;
    evals: ProbeEval[];
    /** The worst detector's pass rate (garak groups by the minimum). */
    passRate: number | null;
  }>;
  overall: { passed: number; evaluated: number; passRate: number | null; ci95: Interval | null };
  failedRequests: number;
}

export function summarizeProbes(result: ProbeRunResult, setup: { model: string; target: string; sets: readonly ProbeSet[]; generations: number; judgeModel?: string }): ProbeSummary {
  const probes = setup.sets.map((set) => {
    const evals = result.evals.filter((e) => e.probe === set.name);
    const rates = evals.map((e) => e.passRate).filter((r): r is number => r !== null);
    return {
      name: set.name, family: set.family, tier: set.tier, goal: set.goal, source: set.source, licence: set.licence, prompts: set.prompts.length,
      evals, passRate: rates.length ? Math.min(...rates) : null,
    };
  });
  const passed = result.evals.reduce((a, e) => a + e.passed, 0);
  const evaluated = result.evals.reduce((a, e) => a + e.totalEvaluated, 0);
  return {
    schema: 'flexi.probe/1', model: setup.model, target: setup.target, runId: result.runId, startedAt: result.startedAt, finishedAt: result.finishedAt,
    generations: setup.generations, ...(setup.judgeModel ? { judgeModel: setup.judgeModel } : {}), probes,
    overall: { passed, evaluated, passRate: evaluated ? passed / evaluated : null, ci95: evaluated ? wilsonInterval(passed, evaluated) : null },
    failedRequests: result.attempts.reduce((a, at) => a + at.errors.length, 0),
  };
}

const GARAK_COMPAT_VERSION = '0.16.0';

function message(text: string | null): Record<string, unknown> | null {
  return text === null ? null : { text, lang: 'en', data_path: null, data_type: null, data_checksum: null, notes: {} };
}

/**
 * garak's report JSONL (reference §5.3): `start_run setup`, `init`, one `attempt` row per prompt
 * (status 2, outputs and detector_results aligned), one `eval` row per probe × detector with
 * garak's counts, then `completion`. CIs are Wilson intervals of the attack success rate.
 */
export function toGarakJsonl(result: ProbeRunResult, summary: ProbeSummary): string {
  const rows: unknown[] = [
    {
      entry_type: 'start_run setup', 'transient.run_id': result.runId, 'run.generations': summary.generations, 'run.eval_threshold': HIT_THRESHOLD,
      'plugins.target_type': 'flexi', 'plugins.target_name': summary.model, 'plugins.model_name': summary.model, 'plugins.probe_spec': summary.probes.map((p) => p.name).join(','),
      'reporting.confidence_interval_method': 'wilson', 'flexi.target': summary.target,
    },
    { entry_type: 'init', garak_version: GARAK_COMPAT_VERSION, start_time: result.startedAt, run: result.runId, flexi: true },
  ];
  for (const attempt of result.attempts) {
    const prompt = { turns: [{ role: 'user', content: message(attempt.prompt) }], notes: {} };
    rows.push({
      entry_type: 'attempt', uuid: attempt.uuid, previous_attempt_id: null, seq: attempt.seq, status: 2, probe_classname: attempt.probe,
      probe_params: {}, targets: attempt.targets, prompt, outputs: attempt.outputs.map(message),
      detector_results: attempt.detectorResults, notes: attempt.errors.length ? { errors: attempt.errors } : {}, goal: attempt.goal,
      conversations: attempt.outputs.map((output) => ({
        turns: [{ role: 'user', content: message(attempt.prompt) }, ...(output === null ? [] : [{ role: 'assistant', content: message(output) }])], notes: {},
      })),
      reverse_translation_outputs: [], intent: null,
    });
  }
  for (const e of result.evals) {
    const row: Record<string, unknown> = {
      entry_type: 'eval', probe: e.probe, detector: e.detector, passed: e.passed, fails: e.fails, nones: e.nones,
      total_evaluated: e.totalEvaluated, total_processed: e.totalProcessed,
    };
    if (e.ci95) {
      // garak reports the interval of the attack success rate (1 − pass rate).
      Object.assign(row, { confidence_method: 'wilson', confidence: '0.95', confidence_lower: 1 - e.ci95.high, confidence_upper: 1 - e.ci95.low });
    }
    rows.push(row);
  }
  rows.push({ entry_type: 'completion', end_time: result.finishedAt, run: result.runId });
  return `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
}

/** Hits only, one row per failing output (garak's hitlog). */
export function toGarakHitlog(result: ProbeRunResult): string {
  const rows: string[] = [];
  for (const attempt of result.attempts) {
    for (const [detector, scores] of Object.entries(attempt.detectorResults)) {
      scores.forEach((score, idx) => {
        if (score === null || score < HIT_THRESHOLD) return;
        rows.push(JSON.stringify({
          goal: attempt.goal, prompt: { turns: [{ role: 'user', content: message(attempt.prompt) }] }, output: message(attempt.outputs[idx] ?? null),
          triggers: attempt.targets.length ? attempt.targets : null, score, run_id: result.runId, attempt_id: attempt.uuid, attempt_seq: attempt.seq,
          attempt_idx: idx, generator: 'flexi', probe: attempt.probe, detector, generations_per_prompt: attempt.outputs.length,
        }));
      });
    }
  }
  return rows.length ? `${rows.join('\n')}\n` : '';
}
