import { PAPER_APPENDIX_A, PAPER_TABLE4_TOKENS_PER_S } from '../data/paper-appendix-a.js';

/** A paper value to print beside a measured one: seconds per request, mean and sd. */
export interface PaperValue {
  meanS: number;
  sdS: number;
}

/** `llama3:latest`, `library/llama3:8b` and `Llama3` all name the paper's `llama3`. */
export function paperModelName(model: string): string {
  const base = model.toLowerCase().split('/').pop() ?? model.toLowerCase();
  return base.split(':')[0]!;
}

function normalizePrompt(prompt: string): string {
  return prompt.replace(/[’‘]/g, "'").replace(/\s+/g, ' ').trim().toLowerCase();
}

/** The paper's Appendix A cell for this model, prompt and concurrency, if it has one. */
export function findPaperCell(model: string, prompt: string, concurrency: number): PaperValue | undefined {
  const name = paperModelName(model);
  const wanted = normalizePrompt(prompt);
  const cell = PAPER_APPENDIX_A.find((c) => c.model === name && c.concurrentQueries === concurrency && normalizePrompt(c.prompt) === wanted);
  return cell ? { meanS: cell.meanS, sdS: cell.sdS } : undefined;
}

/**
 * The paper's five prompts pooled for one model and concurrency: the mean of the cell means,
 * and the sd of the pooled requests assuming equal counts per prompt (law of total variance:
 * mean of the within-cell variances plus the variance of the cell means).
 */
export function findPaperModelLevel(model: string, concurrency: number): PaperValue | undefined {
  const name = paperModelName(model);
  const cells = PAPER_APPENDIX_A.filter((c) => c.model === name && c.concurrentQueries === concurrency);
  if (cells.length === 0) return undefined;
  const meanS = cells.reduce((a, c) => a + c.meanS, 0) / cells.length;
  const within = cells.reduce((a, c) => a + c.sdS ** 2, 0) / cells.length;
  const between = cells.reduce((a, c) => a + (c.meanS - meanS) ** 2, 0) / cells.length;
  return { meanS, sdS: Math.sqrt(within + between) };
}

export function findPaperTokensPerS(model: string): number | undefined {
  return PAPER_TABLE4_TOKENS_PER_S[paperModelName(model)];
}
