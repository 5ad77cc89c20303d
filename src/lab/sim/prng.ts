/**
 * Seeded randomness for the simulator. Everything the sim invents (answer text, output length,
 * embeddings, injected faults) comes from here, so the same seed and the same request give the
 * same bytes on every machine. Not cryptographic.
 */

/** 53-bit string hash (cyrb53): cheap, well mixed, stable across platforms. */
export function hashString(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/** sfc32 generator seeded from any number of strings/numbers. */
export function createRng(...parts: Array<string | number>): Rng {
  const key = parts.map(String).join('\u0001');
  const h = hashString(key);
  let a = h >>> 0;
  let b = Math.floor(h / 4294967296) >>> 0;
  let c = hashString(key, 0x9e3779b9) >>> 0;
  let d = 1;
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // The first outputs of sfc32 are weakly mixed; discard a few.
  for (let i = 0; i < 12; i++) next();
  return { next, int: (n) => Math.floor(next() * n) };
}

const VOCABULARY = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore ' +
  'magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo ' +
  'consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint ' +
  'occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum model token ' +
  'server answer question data system network student course lecture note example result value step first ' +
  'then next finally because therefore however simple small large fast slow good clear open local'
).split(' ');

/**
 * `count` words of lorem-like text, one word per token. Sentences start with a capital and end
 * with a full stop; every token after the first carries its leading space, as real tokenizers do.
 */
export function generateTokens(rng: Rng, count: number): string[] {
  const tokens: string[] = [];
  let sentenceLeft = 0;
  for (let i = 0; i < count; i++) {
    let word = VOCABULARY[rng.int(VOCABULARY.length)]!;
    if (sentenceLeft === 0) {
      word = word[0]!.toUpperCase() + word.slice(1);
      sentenceLeft = 6 + rng.int(12);
    }
    sentenceLeft--;
    if (sentenceLeft === 0 || i === count - 1) word += '.';
    tokens.push(i === 0 ? word : ` ${word}`);
  }
  return tokens;
}

/** A deterministic unit-length vector of `dimensions` floats for `text`. */
export function embedText(seed: number, model: string, text: string, dimensions: number): number[] {
  const rng = createRng(seed, 'embed', model, text);
  const vector = new Array<number>(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    // Sum of uniforms ≈ Gaussian, so directions are spread evenly over the sphere.
    const v = rng.next() + rng.next() + rng.next() - 1.5;
    vector[i] = v;
    norm += v * v;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dimensions; i++) vector[i] = Math.round(vector[i]! * scale * 1e7) / 1e7;
  return vector;
}
