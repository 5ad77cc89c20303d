import { loadPaperAppendixA, PAPER_TIMEOUT_SECONDS } from '../data/paper.js';
import { countTokens, outputLength, prefillMs, slowdown, tokenDelayMs } from './performance.js';
import type { SimModelProfile, SimProfile } from './profile.js';

/**
 * The performance model evaluated without a server: `concurrency` identical requests arrive
 * together (as in the paper's Appendix A), wait FIFO for `slots`, and the running ones share
 * the GPU with per-stream slowdown g(k). A fluid approximation of what the server does token
 * by token; a quick run at high --speed agrees within a few per cent (docs/sim.md).
 */
export function simulateBurst(model: SimModelProfile, workMs: number[], concurrency: number): number[] {
  const queue = Array.from({ length: concurrency }, (_, i) => workMs[i % workMs.length]!);
  const running: Array<{ left: number; index: number }> = [];
  const finished = new Array<number>(concurrency);
  let next = 0;
  let t = 0;
  while (next < queue.length || running.length > 0) {
    while (running.length < model.slots && next < queue.length) running.push({ left: queue[next]!, index: next++ });
    const g = slowdown(model, running.length);
    const step = Math.min(...running.map((r) => r.left));
    t += step * g;
    for (let i = running.length - 1; i >= 0; i--) {
      running[i]!.left -= step;
      if (running[i]!.left <= 1e-9) {
        finished[running[i]!.index] = t;
        running.splice(i, 1);
      }
    }
  }
  return finished;
}

/** Single-stream work of one request for `prompt` (simulated ms), as the server would plan it. */
export function requestWorkMs(model: SimModelProfile, prompt: string, seed = 0): number {
  // Chat template overhead as in /api/chat: "user: " prefix plus 4 tokens per message.
  const promptTokens = countTokens(`user: ${prompt}`) + 4;
  return prefillMs(model, promptTokens, 1) + outputLength(model, seed, prompt) * tokenDelayMs(model, 1);
}

/** Mean seconds a client sees for a burst, with requests beyond the time-out counted as the time-out. */
export function meanBurstSeconds(model: SimModelProfile, prompt: string, concurrency: number, timeoutSeconds = PAPER_TIMEOUT_SECONDS): number {
  const times = simulateBurst(model, [requestWorkMs(model, prompt)], concurrency);
  return times.reduce((sum, ms) => sum + Math.min(ms / 1000, timeoutSeconds), 0) / times.length;
}

export interface CalibrationRow {
  model: string;
  prompt: string;
  concurrency: number;
  paperSeconds: number;
  simSeconds: number;
}

/** Paper vs sim for every Appendix A cell whose model the profile has. */
export function calibrationRows(profile: SimProfile): CalibrationRow[] {
  const rows: CalibrationRow[] = [];
  for (const cell of loadPaperAppendixA()) {
    const model = profile.models.find((m) => m.name === `${cell.model}:latest`);
    if (!model) continue;
    rows.push({
      model: cell.model, prompt: cell.prompt, concurrency: cell.concurrentQueries, paperSeconds: cell.meanSeconds,
      simSeconds: meanBurstSeconds(model, cell.prompt, cell.concurrentQueries),
    });
  }
  return rows;
}

export interface CalibrationSummary {
  model: string;
  /** Keyed by concurrency (1, 10, 30): mean over the five prompts. */
  paper: Record<number, number>;
  sim: Record<number, number>;
}

export function summarizeCalibration(rows: CalibrationRow[]): CalibrationSummary[] {
  const byModel = new Map<string, CalibrationSummary>();
  const counts = new Map<string, number>();
  for (const row of rows) {
    const summary = byModel.get(row.model) ?? { model: row.model, paper: {}, sim: {} };
    byModel.set(row.model, summary);
    summary.paper[row.concurrency] = (summary.paper[row.concurrency] ?? 0) + row.paperSeconds;
    summary.sim[row.concurrency] = (summary.sim[row.concurrency] ?? 0) + row.simSeconds;
    const key = `${row.model}|${row.concurrency}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const summary of byModel.values()) {
    for (const cq of Object.keys(summary.paper).map(Number)) {
      const n = counts.get(`${summary.model}|${cq}`)!;
      summary.paper[cq] = summary.paper[cq]! / n;
      summary.sim[cq] = summary.sim[cq]! / n;
    }
  }
  return [...byModel.values()];
}
