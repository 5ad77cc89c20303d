import { loadPaperTable4, type PaperQualityRow } from '../data/paper.js';
import type { Interval } from '../eval/eval-score.js';
import { PAPER_COLUMN } from '../eval/eval-results.js';
import { baseModelName, OPENNESS_LABEL, opennessOf, paperFacts, type OpennessClass } from './model-facts.js';
import type { StoredResults } from './stored-results.js';

/**
 * The model catalog: per model what the operator needs to choose (size, quantization, context,
 * licence and openness, languages, quality, throughput, latency, safety, memory), each value
 * with its source — measured on this deployment where stored, else published — and a ranked
 * recommendation per use case from weights the operator sets (config `catalog.use_cases`).
 */

export const QUALITY_COLUMNS = ['arc', 'hellaswag', 'mmlu', 'truthfulqa', 'winogrande', 'gsm8k'] as const;
export type QualityColumn = (typeof QUALITY_COLUMNS)[number];

/** A model a node of this deployment serves (from `flexi models list`). */
export interface DeployedModel {
  name: string;
  node: string;
  parameterSize?: string;
  quantization?: string;
  contextLength?: number;
  sizeBytes?: number;
  license?: string;
}

/** Weights of one use case; factors are normalised to 0–1 before weighting. */
export interface UseCaseWeights {
  quality: number;
  speed: number;
  safety: number;
  german: number;
  openness: number;
  /** Models slower than this (decode tokens/s) are not recommended for the use case. */
  minTokensPerS: number;
}

export interface Sourced<T> {
  value: T;
  source: string;
}

export interface CatalogEntry {
  model: string;
  base: string;
  deployed: boolean;
  nodes: string[];
  parameters?: Sourced<string>;
  quantization?: string;
  contextTokens?: Sourced<number>;
  memoryBytes?: number;
  licence?: Sourced<string>;
  openness: OpennessClass;
  opennessLabel: string;
  languages: Sourced<string[]> | null;
  quality: Partial<Record<QualityColumn, Sourced<number> & { ci95?: Interval; method?: string }>>;
  /** Mean of the quality columns present. */
  qualityScore: number | null;
  throughput: (Sourced<number> & { measured: boolean }) | null;
  /** Mean end-to-end seconds of one request alone (load test at concurrency 1) and its time to first token. */
  latency: { e2eS?: number; ttftS?: number; source: string } | null;
  safety: (Sourced<number> & { ci95: Interval | null; probes: number }) | null;
  paper?: PaperQualityRow;
}

export interface Recommendation {
  useCase: string;
  weights: UseCaseWeights;
  ranking: Array<{ model: string; score: number; factors: Record<string, number>; missing: string[]; excluded?: string }>;
}

export interface Catalog {
  schema: 'flexi.catalog/1';
  generatedAt: string;
  models: CatalogEntry[];
  recommendations: Recommendation[];
  unreadableFiles: string[];
}

export interface CatalogOptions {
  deployed: readonly DeployedModel[];
  results: StoredResults;
  useCases: Readonly<Record<string, UseCaseWeights>>;
  /** Also list the paper's models that this deployment does not serve. */
  includePaperModels: boolean;
}

function newest<T extends { mtimeMs: number }>(items: T[]): T | undefined {
  return items.reduce<T | undefined>((best, item) => (!best || item.mtimeMs > best.mtimeMs ? item : best), undefined);
}

function sameBase(a: string, b: string): boolean {
  return baseModelName(a) === baseModelName(b);
}

function measuredQuality(model: string, results: StoredResults): CatalogEntry['quality'] {
  const quality: CatalogEntry['quality'] = {};
  const evals = results.evals.filter((e) => sameBase(e.model, model)).sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
  for (const summary of evals) {
    const column = PAPER_COLUMN[summary.task];
    if (!column || summary.n === 0) continue;
    // Leaderboard-comparable (log-likelihood) results win over generated ones for the same column.
    const current = quality[column];
    if (current && current.method === 'loglik' && summary.method !== 'loglik') continue;
    quality[column] = {
      value: summary.score, source: `flexi eval ${summary.finishedAt.slice(0, 10)} (${summary.task}, n = ${summary.n})`, ci95: summary.ci95, method: summary.method,
    };
  }
  return quality;
}

function throughputOf(model: string, results: StoredResults, paper?: PaperQualityRow): CatalogEntry['throughput'] {
  const benches = results.benches.filter((b) => b.result.models.some((m) => sameBase(m.model, model) && m.decodeTokensPerS));
  const bench = newest(benches);
  const row = bench?.result.models.find((m) => sameBase(m.model, model) && m.decodeTokensPerS);
  if (bench && row?.decodeTokensPerS) {
    return { value: row.decodeTokensPerS.mean, source: `flexi bench ${bench.result.finishedAt.slice(0, 10)} (${bench.result.target})`, measured: true };
  }
  if (paper) return { value: paper.tokensPerSecond, source: "paper's Table 4 (ollama-benchmark, server B)", measured: false };
  return null;
}

function latencyOf(model: string, results: StoredResults): CatalogEntry['latency'] {
  const runs = results.loadtests.filter((l) => l.summary.models?.some((m) => sameBase(m.model, model)));
  const run = newest(runs);
  if (!run) return null;
  const groups = run.summary.models.filter((m) => sameBase(m.model, model)).sort((a, b) => a.level - b.level);
  const lowest = groups[0] as (typeof groups)[number] & { latencyS?: { mean: number } | null; ttftS?: { mean: number } | null };
  if (!lowest) return null;
  return { e2eS: lowest.latencyS?.mean, ttftS: lowest.ttftS?.mean, source: `flexi loadtest (${lowest.level} concurrent)` };
}

function safetyOf(model: string, results: StoredResults): CatalogEntry['safety'] {
  const probe = results.probes.filter((p) => sameBase(p.model, model)).sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))[0];
  if (!probe || probe.overall.passRate === null) return null;
  return { value: probe.overall.passRate, source: `flexi probe ${probe.finishedAt.slice(0, 10)}`, ci95: probe.overall.ci95, probes: probe.probes.length };
}

function entryFor(model: string, deployed: readonly DeployedModel[], results: StoredResults): CatalogEntry {
  const mine = deployed.filter((d) => d.name === model);
  const first = mine[0];
  const facts = paperFacts(model);
  const paper = loadPaperTable4().find((row) => row.model === baseModelName(model));
  const quality = measuredQuality(model, results);
  if (paper) {
    for (const column of QUALITY_COLUMNS) {
      quality[column] ??= { value: paper[column], source: "paper's Table 4 (Open LLM Leaderboard v1)" };
    }
  }
  const values = Object.values(quality).map((q) => q.value);
  const licence = first?.license ? { value: first.license, source: 'model file' } : facts?.licence ? { value: facts.licence, source: "paper's Table 3" } : undefined;
  const openness = opennessOf(licence?.value);
  return {
    model, base: baseModelName(model), deployed: mine.length > 0, nodes: mine.map((d) => d.node),
    parameters: first?.parameterSize ? { value: first.parameterSize, source: 'node' } : facts?.sizeBillionParams ? { value: `${facts.sizeBillionParams}B`, source: "paper's Table 3" } : undefined,
    quantization: first?.quantization,
    contextTokens: first?.contextLength ? { value: first.contextLength, source: 'node' } : facts?.contextTokens ? { value: facts.contextTokens, source: "paper's Table 3" } : undefined,
    memoryBytes: first?.sizeBytes,
    licence, openness, opennessLabel: OPENNESS_LABEL[openness],
    languages: facts?.languages.length ? { value: facts.languages, source: facts.languagesSource ?? 'model card' } : null,
    quality, qualityScore: values.length ? values.reduce((a, b) => a + b, 0) / values.length : null,
    throughput: throughputOf(model, results, paper), latency: latencyOf(model, results), safety: safetyOf(model, results),
    ...(paper ? { paper } : {}),
  };
}

const OPENNESS_SCORE: Record<OpennessClass, number> = { osi_licence: 1, restricted_licence: 0.5, unknown: 0 };

/**
 * Weighted sum of normalised factors. Speed is relative to the fastest model in the catalog;
 * a factor without evidence scores 0 and is listed as missing (no evidence, no credit).
 */
export function recommend(models: readonly CatalogEntry[], useCase: string, weights: UseCaseWeights): Recommendation {
  const fastest = Math.max(0, ...models.map((m) => m.throughput?.value ?? 0));
  const total = weights.quality + weights.speed + weights.safety + weights.german + weights.openness;
  const ranking = models.map((m) => {
    const missing: string[] = [];
    const factor = (name: string, value: number | null | undefined, weight: number): number => {
      if (weight > 0 && (value === null || value === undefined)) missing.push(name);
      return value ?? 0;
    };
    const factors = {
      quality: factor('quality', m.qualityScore, weights.quality),
      speed: factor('speed', m.throughput && fastest > 0 ? m.throughput.value / fastest : null, weights.speed),
      safety: factor('safety', m.safety?.value, weights.safety),
      german: factor('german', m.languages ? (m.languages.value.includes('de') ? 1 : 0) : null, weights.german),
      openness: OPENNESS_SCORE[m.openness],
    };
    const score = total > 0 ? (factors.quality * weights.quality + factors.speed * weights.speed + factors.safety * weights.safety
      + factors.german * weights.german + factors.openness * weights.openness) / total : 0;
    const tokensPerS = m.throughput?.value;
    const excluded = weights.minTokensPerS > 0 && tokensPerS !== undefined && tokensPerS < weights.minTokensPerS
      ? `${tokensPerS.toFixed(0)} tokens/s is below the use case's ${weights.minTokensPerS}` : undefined;
    return { model: m.model, score: Math.round(score * 1000) / 1000, factors, missing, ...(excluded ? { excluded } : {}) };
  }).sort((a, b) => Number(Boolean(a.excluded)) - Number(Boolean(b.excluded)) || b.score - a.score);
  return { useCase, weights, ranking };
}

export function buildCatalog(options: CatalogOptions): Catalog {
  const names: string[] = [];
  const add = (name: string) => {
    if (!names.some((n) => n === name || (sameBase(n, name) && !options.deployed.some((d) => d.name === name)))) names.push(name);
  };
  for (const d of options.deployed) add(d.name);
  for (const e of options.results.evals) add(e.model);
  for (const p of options.results.probes) add(p.model);
  for (const b of options.results.benches) for (const m of b.result.models) add(m.model);
  if (options.includePaperModels) for (const row of loadPaperTable4()) add(row.model);
  const models = names.map((name) => entryFor(name, options.deployed, options.results));
  return {
    schema: 'flexi.catalog/1', generatedAt: new Date().toISOString(), models,
    recommendations: Object.entries(options.useCases).map(([useCase, weights]) => recommend(models, useCase, weights)),
    unreadableFiles: options.results.unreadable,
  };
}
