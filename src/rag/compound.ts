import { foldWord, stemWord } from './fold.js';
import { GERMAN_MORPHEMES } from './german-morphemes.js';

/** Linking morphemes (Fugenelemente) allowed between the parts of a German compound. */
const LINKERS = ['', 's', 'es', 'n', 'en', 'er', 'e'] as const;
const MIN_PART_CHARS = 4;
const MIN_COMPOUND_CHARS = 8;
const MAX_PARTS = 3;

/** Whether a folded German stem is a word the splitter may use as a part. */
export type KnownStem = (stem: string) => boolean;

const BUILT_IN: ReadonlySet<string> = new Set(GERMAN_MORPHEMES.map((word) => stemWord(foldWord(word), 'de')));

export function isBuiltInMorpheme(stem: string): boolean {
  return BUILT_IN.has(stem);
}

/**
 * Splits a folded German word into known parts, dictionary-free: a part is known when its stem is
 * in `known` (the document's or collection's own words, plus a short list of common nouns).
 * Prefers the split with the fewest parts, then the one whose shortest part is longest.
 * Returns the parts (folded, unstemmed) or undefined when the word is no compound of known parts.
 */
export function splitCompound(folded: string, known: KnownStem): string[] | undefined {
  if (folded.length < MIN_COMPOUND_CHARS || !/^\p{L}+$/u.test(folded)) return undefined;
  let splits = splitsByVocabulary.get(known);
  if (!splits) splitsByVocabulary.set(known, (splits = new Map()));
  if (splits.has(folded)) return splits.get(folded);
  const split = findSplit(folded, known);
  splits.set(folded, split);
  return split;
}

/** Splits already made, per vocabulary (one vocabulary lives as long as one document's indexing or one query). */
const splitsByVocabulary = new WeakMap<KnownStem, Map<string, string[] | undefined>>();

function findSplit(folded: string, known: KnownStem): string[] | undefined {
  const memo = new Map<string, string[] | null>();
  const isKnown = (part: string) => part.length >= MIN_PART_CHARS && (known(stemWord(part, 'de')) || BUILT_IN.has(stemWord(part, 'de')));

  const best = (rest: string, partsLeft: number): string[] | null => {
    const key = `${rest}/${partsLeft}`;
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    let result: string[] | null = isKnown(rest) ? [rest] : null;
    if (result === null && partsLeft > 1) {
      for (let cut = MIN_PART_CHARS; cut <= rest.length - MIN_PART_CHARS; cut++) {
        const head = rest.slice(0, cut);
        if (!isKnown(head)) continue;
        for (const linker of LINKERS) {
          if (!rest.startsWith(linker, cut)) continue;
          const tail = best(rest.slice(cut + linker.length), partsLeft - 1);
          if (tail && isBetter([head, ...tail], result)) result = [head, ...tail];
        }
      }
    }
    memo.set(key, result);
    return result;
  };

  let split: string[] | null = null;
  for (let cut = MIN_PART_CHARS; cut <= folded.length - MIN_PART_CHARS; cut++) {
    const head = folded.slice(0, cut);
    if (!isKnown(head)) continue;
    for (const linker of LINKERS) {
      if (!folded.startsWith(linker, cut)) continue;
      const tail = best(folded.slice(cut + linker.length), MAX_PARTS - 1);
      if (tail && isBetter([head, ...tail], split)) split = [head, ...tail];
    }
  }
  return split ?? undefined;
}

function isBetter(candidate: string[], current: string[] | null): boolean {
  if (!current) return true;
  if (candidate.length !== current.length) return candidate.length < current.length;
  // "prufung" + "s" + "anmeldung" rather than "prufungs" + "anmeldung": same words, the linker is no part of one.
  const chars = (parts: string[]) => parts.reduce((sum, p) => sum + p.length, 0);
  if (candidate.every((p, i) => stemWord(p, 'de') === stemWord(current[i]!, 'de'))) return chars(candidate) < chars(current);
  const shortest = (parts: string[]) => Math.min(...parts.map((p) => p.length));
  return shortest(candidate) > shortest(current);
}

/** Every substring of a word that could be a part, stemmed: what a query asks the collection's vocabulary about. */
export function candidatePartStems(folded: string): string[] {
  if (folded.length < MIN_COMPOUND_CHARS || !/^\p{L}+$/u.test(folded)) return [];
  const out = new Set<string>();
  for (let start = 0; start <= folded.length - MIN_PART_CHARS; start++) {
    for (let end = start + MIN_PART_CHARS; end <= folded.length; end++) {
      if (start === 0 && end === folded.length) continue;
      out.add(stemWord(folded.slice(start, end), 'de'));
    }
  }
  return [...out];
}
