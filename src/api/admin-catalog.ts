/**
 * `GET /admin/v1/catalog`: the newest model catalog `flexi models catalog` wrote into the results
 * folder (`catalog.results_dir`), reduced to what the admin page shows. snake_case on this wire.
 */

export interface AdminCatalogModel {
  model: string;
  deployed: boolean;
  nodes: string[];
  parameters: string | null;
  quantization: string | null;
  context_tokens: number | null;
  licence: string | null;
  /** `osi_licence`, `restricted_licence` or `unknown`. */
  openness: string;
  languages: string[];
  /** Mean benchmark score 0–1; `quality_measured` when at least one score comes from `flexi eval`. */
  quality_score: number | null;
  quality_measured: boolean;
  tokens_per_s: number | null;
  tokens_per_s_measured: boolean;
  /** `flexi probe` overall pass rate 0–1. */
  safety_pass_rate: number | null;
}

export interface AdminCatalogRecommendation {
  use_case: string;
  ranking: { model: string; score: number; missing: string[]; excluded: string | null }[];
}

export interface AdminCatalogReply {
  /** false until `flexi models catalog` has run against this results folder. */
  available: boolean;
  generated_at: string | null;
  results_dir: string;
  models: AdminCatalogModel[];
  recommendations: AdminCatalogRecommendation[];
}
