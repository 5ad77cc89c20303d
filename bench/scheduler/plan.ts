import type { SystemKind } from './cluster.js';

export type ScenarioName = 'grid' | 'rush' | 'kill';

/**
 * The scale of a run. Speeds are chosen so the sims' and Flexi's event loops keep up on a
 * shared two-core machine: through Flexi, about 1,500–3,000 streamed tokens per real second
 * stay on time (measured), so a cluster that decodes more tokens per simulated second runs
 * slower; a system answered by one bare sim node can run faster. Results are in simulated time
 * whatever the speed.
 */
export interface Plan {
  speeds: Record<ScenarioName, Record<SystemKind, number>>;
  /** The grid's big models (B only, few tokens, long simulated times). */
  gridBigSpeed: number;
  grid: { smallModels: string[]; bigModels: string[]; promptIndexes: number[]; levels: number[] };
  rush: {
    model: string;
    students: number;
    researchers: number;
    options: {
      loneRequests: number; windowS: number; rampS: number; thinkS: number; studentMaxTokens: number;
      researcherConcurrency: number; researcherMaxTokens?: number;
    };
  };
  kill: { model: string; users: number; options: { windowS: number; killAtS: number; thinkS: number; maxTokens: number } };
}

const FULL: Plan = {
  speeds: {
    grid: { flexi: 3, 'round-robin': 3, fifo: 8 },
    rush: { flexi: 2, 'round-robin': 1.5, fifo: 4 },
    kill: { flexi: 4, 'round-robin': 4, fifo: 4 },
  },
  gridBigSpeed: 40,
  grid: {
    smallModels: ['phi3', 'llama3', 'mistral', 'gemma', 'llava'],
    bigModels: ['mixtral', 'dbrx', 'command-r-plus'],
    // The paper's fifth prompt (the flight booking): the shortest answers, so the most cells per CPU second.
    promptIndexes: [4],
    levels: [1, 10, 30],
  },
  rush: {
    model: 'llama3',
    students: 300,
    researchers: 2,
    options: { loneRequests: 5, windowS: 90, rampS: 45, thinkS: 60, studentMaxTokens: 64, researcherConcurrency: 32 },
  },
  kill: { model: 'llama3', users: 16, options: { windowS: 60, killAtS: 25, thinkS: 5, maxTokens: 128 } },
};

const QUICK: Plan = {
  speeds: {
    grid: { flexi: 4, 'round-robin': 4, fifo: 8 },
    rush: { flexi: 3, 'round-robin': 3, fifo: 6 },
    kill: { flexi: 6, 'round-robin': 6, fifo: 6 },
  },
  gridBigSpeed: 40,
  grid: { smallModels: ['llama3'], bigModels: [], promptIndexes: [4], levels: [1, 10, 30] },
  rush: { ...FULL.rush, students: 100, options: { ...FULL.rush.options, windowS: 40, rampS: 20, thinkS: 40, researcherConcurrency: 16 } },
  kill: { ...FULL.kill, users: 8, options: { ...FULL.kill.options, windowS: 40, killAtS: 15 } },
};

export const PLANS: Readonly<Record<'full' | 'quick', Plan>> = { full: FULL, quick: QUICK };
