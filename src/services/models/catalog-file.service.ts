import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdminCatalogModel, AdminCatalogRecommendation, AdminCatalogReply } from '../../api/admin-catalog.js';

/**
 * Serves the catalog `flexi models catalog` wrote (`<results_dir>/catalog.json`, schema
 * flexi.catalog/1) to the admin UI. The gateway does not build the catalog itself: the evidence
 * tools run where the operator is and store files; this only reads the newest one, defensively
 * (a file from another version or a half-written one is "not available", never a 500).
 */
export class CatalogFileService {
  constructor(private readonly resultsDir: string) {}

  async read(): Promise<AdminCatalogReply> {
    const empty: AdminCatalogReply = { available: false, generated_at: null, results_dir: this.resultsDir, models: [], recommendations: [] };
    let data: unknown;
    try {
      data = JSON.parse(await readFile(join(this.resultsDir, 'catalog.json'), 'utf8'));
    } catch {
      return empty;
    }
    const file = data as StoredCatalog;
    if (file?.schema !== 'flexi.catalog/1' || !Array.isArray(file.models) || !Array.isArray(file.recommendations)) return empty;
    return {
      available: true, generated_at: str(file.generatedAt), results_dir: this.resultsDir,
      models: file.models.map(toModel), recommendations: file.recommendations.map(toRecommendation),
    };
  }
}

interface Sourced<T> { value?: T; source?: string }
interface StoredCatalog {
  schema?: string;
  generatedAt?: string;
  models: Array<{
    model?: string; deployed?: boolean; nodes?: string[]; parameters?: Sourced<string>; quantization?: string; contextTokens?: Sourced<number>;
    licence?: Sourced<string>; openness?: string; languages?: Sourced<string[]> | null; qualityScore?: number | null;
    quality?: Record<string, Sourced<number>>; throughput?: (Sourced<number> & { measured?: boolean }) | null; safety?: Sourced<number> | null;
  }>;
  recommendations: Array<{ useCase?: string; ranking?: Array<{ model?: string; score?: number; missing?: string[]; excluded?: string }> }>;
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function toModel(m: StoredCatalog['models'][number]): AdminCatalogModel {
  return {
    model: str(m.model) ?? '?', deployed: m.deployed === true, nodes: Array.isArray(m.nodes) ? m.nodes.filter((n) => typeof n === 'string') : [],
    parameters: str(m.parameters?.value), quantization: str(m.quantization), context_tokens: num(m.contextTokens?.value), licence: str(m.licence?.value),
    openness: str(m.openness) ?? 'unknown', languages: Array.isArray(m.languages?.value) ? m.languages.value.filter((l) => typeof l === 'string') : [],
    quality_score: num(m.qualityScore), quality_measured: Object.values(m.quality ?? {}).some((q) => q?.source?.startsWith('flexi') === true),
    tokens_per_s: num(m.throughput?.value), tokens_per_s_measured: m.throughput?.measured === true, safety_pass_rate: num(m.safety?.value),
  };
}

function toRecommendation(r: StoredCatalog['recommendations'][number]): AdminCatalogRecommendation {
  return {
    use_case: str(r.useCase) ?? '?',
    ranking: (Array.isArray(r.ranking) ? r.ranking : []).map((x) => ({
      model: str(x.model) ?? '?', score: num(x.score) ?? 0, missing: Array.isArray(x.missing) ? x.missing.filter((s) => typeof s === 'string') : [], excluded: str(x.excluded),
    })),
  };
}
