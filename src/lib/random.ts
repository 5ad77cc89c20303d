/**
 * mulberry32: a tiny, fast, seedable PRNG returning floats in [0, 1). Used wherever output
 * must be reproducible from a seed (open-loop arrivals, test fixtures, random model weights);
 * statistical quality is irrelevant for these uses.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
