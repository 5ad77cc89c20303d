import type { QueryWord } from './analyze.js';

/**
 * The strict-mode signal: which share of a question's weight a passage covers. Each word weighs
 * its IDF in the collection (a word the collection never uses weighs most: a question about it
 * has no answer here); a word counts as covered when one of its terms is in the passage, a
 * compound by the share of its parts that are. A raw BM25 score would not transfer between
 * questions; this share does (docs: src/rag/README.md, calibrated on bench/rag).
 */
export function coverage(words: readonly QueryWord[], passageTerms: ReadonlySet<string>, idf: (term: string) => number): number {
  let total = 0;
  let covered = 0;
  for (const word of words) {
    const weight = Math.max(...word.terms.map(idf), ...word.parts.flat().map(idf));
    total += weight;
    if (word.terms.some((t) => passageTerms.has(t))) covered += weight;
    else if (word.parts.length > 0) {
      const found = word.parts.filter((alternatives) => alternatives.some((t) => passageTerms.has(t))).length;
      covered += weight * (found / word.parts.length);
    }
  }
  return total > 0 ? covered / total : 0;
}

/** IDF that stays positive for common terms and is largest for terms the collection lacks. */
export function smoothIdf(chunkCount: number, chunkFrequency: number): number {
  return Math.log(1 + (chunkCount - chunkFrequency + 0.5) / (chunkFrequency + 0.5));
}
