import { loadPaperTable3 } from '../data/paper.js';

/**
 * What the paper's Table 3 does not say but the catalog needs: languages (from each model's
 * card) and the openness class. Openness follows the paper's §2.3.1 (after Liesenfeld and
 * Dingemanse 2024, and the OSI's definition): weights available is the minimum; weights under an
 * OSI-approved licence (Apache-2.0, MIT) is more open than a model-specific licence with use
 * restrictions.
 */
export type OpennessClass = 'osi_licence' | 'restricted_licence' | 'unknown';

export const OPENNESS_LABEL: Record<OpennessClass, string> = {
  osi_licence: 'open weights, OSI-approved licence',
  restricted_licence: 'open weights, model-specific licence (use restrictions)',
  unknown: 'licence unknown',
};

const OSI_LICENCES = /\b(apache[- ]?2(\.0)?|mit|bsd|mpl|gpl|lgpl|agpl)\b/i;
const RESTRICTED = /\b(model specific|llama ?\d|gemma|cc-by-nc|research|community|custom|other|dbrx|cohere|nvidia open model)\b/i;

export function opennessOf(licence: string | undefined): OpennessClass {
  if (!licence) return 'unknown';
  if (OSI_LICENCES.test(licence)) return 'osi_licence';
  if (RESTRICTED.test(licence)) return 'restricted_licence';
  return 'unknown';
}

/** Languages per the models' cards (ISO 639-1), for the paper's eight models. */
const LANGUAGES: Record<string, { languages: string[]; source: string }> = {
  'command-r-plus': { languages: ['en', 'fr', 'es', 'it', 'de', 'pt', 'ja', 'ko', 'zh', 'ar'], source: 'Cohere model card (10 optimised languages)' },
  dbrx: { languages: ['en'], source: 'Databricks model card (English)' },
  gemma: { languages: ['en'], source: 'Google model card (primarily English)' },
  llama3: { languages: ['en'], source: 'Meta model card (intended for English)' },
  llava: { languages: ['en'], source: 'LLaVA model card (English)' },
  mistral: { languages: ['en'], source: 'Mistral AI model card (English)' },
  mixtral: { languages: ['en', 'fr', 'it', 'de', 'es'], source: 'Mistral AI model card (English, French, Italian, German, Spanish)' },
  phi3: { languages: ['en'], source: 'Microsoft model card (primarily English)' },
};

export interface ModelFacts {
  sizeBillionParams?: number;
  contextTokens?: number;
  licence?: string;
  languages: string[];
  languagesSource?: string;
  source?: string;
}

/** `llama3:8b-instruct-q4_0`, `library/llama3:latest` → `llama3`. */
export function baseModelName(name: string): string {
  return name.toLowerCase().replace(/^.*\//, '').split(':')[0]!;
}

export function paperFacts(name: string): ModelFacts | undefined {
  const base = baseModelName(name);
  const row = loadPaperTable3().find((r) => r.model === base);
  const languages = LANGUAGES[base];
  if (!row && !languages) return undefined;
  return {
    sizeBillionParams: row?.sizeBillionParams, contextTokens: row?.contextTokens, licence: row?.licence,
    languages: languages?.languages ?? [], languagesSource: languages?.source, source: row ? "paper's Table 3" : undefined,
  };
}
