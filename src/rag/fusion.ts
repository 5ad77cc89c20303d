/** The constant of reciprocal rank fusion (Cormack, Clarke, Büttcher 2009). */
export const RRF_K = 60;

/**
 * Reciprocal rank fusion: score(d) = Σ 1 / (k + rank_i(d)) over the ranked lists (ranks from 1).
 * Needs no score calibration between full text and vectors. Ties keep the order of first appearance.
 */
export function reciprocalRankFusion(lists: readonly (readonly string[])[], k = RRF_K): { id: string; score: number }[] {
  const scores = new Map<string, number>();
  for (const list of lists) {
    list.forEach((id, index) => scores.set(id, (scores.get(id) ?? 0) + 1 / (k + index + 1)));
  }
  return [...scores].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
}
